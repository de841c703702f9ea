/*
 * Snapshot latency and size, seen from a client of the agent's socket.
 *
 * Sends one full REQUEST (no stacks held: every stack and the modules come
 * back), then REPEAT incremental ones (all stacks held: only counters and
 * globals come back), each timed from the request sent to its END frame
 * received, and counts the bytes of each answer.  Frames are parsed with
 * the protocol's own decoder but not applied to a snapshot: what is timed
 * is the agent's encoding and the transfer, not the viewer's work (that
 * is bench_refresh's).  Not part of `make check`.
 *
 * Usage: bench_snap (--pid PID | --socket PATH) [--repeat N] [--wait SECONDS]
 *        bench_snap --file PATH    (an agent's live-at-exit file, HEAPTOP_FINAL)
 * Prints key=value lines (with --file, only the "final" line):
 *   agent flags=0x.. frame_pointers=0|1 sampled=0|1 depth=D
 *   full ms=.. bytes=.. stacks=.. counters=.. live_blocks=.. live_bytes=.. agent_bytes=..
 *   incremental ms_median=.. ms_min=.. ms_max=.. bytes=.. agent_bytes=..
 *   final bytes=.. stacks=.. peak_bytes=.. allocs=.. agent_bytes=..
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/client.h"

/* What one answer held. */
struct answer {
	double ms;
	size_t bytes;
	uint32_t hello_flags, depth;
	uint32_t modules_gen;
	int have_modules;
	uint64_t counters;
	struct ht_globals g;
};

static _Noreturn void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_snap: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int connect_to(const char *path, double wait_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		die("socket path too long", path);
	strcpy(sa.sun_path, path);
	double deadline = now_ms() + wait_s * 1e3;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		int err = errno;
		close(fd);
		if (now_ms() >= deadline)
			die(path, strerror(err));
		usleep(20000);
	}
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("send", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Take in one decoded frame; returns 1 at END. */
static int take_frame(const struct ht_frame *f, struct answer *a)
{
	const char *err = NULL;
	switch (f->type) {
	case HT_MSG_HELLO: {
		struct ht_hello h;
		err = ht_decode_hello(f, &h);
		a->hello_flags = h.flags;
		a->depth = h.depth;
		break;
	}
	case HT_MSG_MODULES: {
		struct ht_module_iter it;
		err = ht_modules_begin(&it, f);
		a->modules_gen = it.generation;
		a->have_modules = 1;
		break;
	}
	case HT_MSG_COUNTERS: {
		struct ht_counter_iter it;
		err = ht_counters_begin(&it, f);
		a->counters += it.count;
		break;
	}
	case HT_MSG_GLOBALS:
		err = ht_decode_globals(f, &a->g);
		break;
	case HT_MSG_END:
		return 1;
	default:
		break;
	}
	if (err)
		die("bad frame from the agent", err);
	return 0;
}

/* One request and its whole answer. */
static void exchange(int fd, uint32_t have_stacks, uint32_t have_gen, struct answer *a,
		     uint8_t **buf, size_t *cap)
{
	uint8_t req[HT_HEADER_SIZE + HT_REQUEST_SIZE];
	struct ht_writer w;
	ht_writer_init(&w, req, sizeof req);
	ht_encode_request(&w, have_stacks, have_gen, 0);
	memset(a, 0, sizeof *a);
	double t0 = now_ms();
	send_all(fd, req, w.len);
	size_t len = 0, off = 0;
	for (;;) {
		struct ht_frame f;
		const char *err = NULL;
		long n = len > off ? ht_frame_parse(*buf + off, len - off, &f, &err) : 0;
		if (n < 0)
			die("bad data from the agent", err);
		if (n > 0) {
			off += (size_t)n;
			if (take_frame(&f, a))
				break;
			continue;
		}
		if (off > 0) {
			memmove(*buf, *buf + off, len - off);
			len -= off;
			off = 0;
		}
		if (*cap - len < 65536) {
			*cap = *cap * 2 + 65536;
			*buf = xrealloc(*buf, *cap);
		}
		ssize_t r = read(fd, *buf + len, *cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("the agent closed the connection", r < 0 ? strerror(errno) : NULL);
		len += (size_t)r;
		a->bytes += (size_t)r;
	}
	a->ms = now_ms() - t0;
}

/* The globals of the snapshot in the file PATH. */
static int read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		die(path, strerror(errno ? errno : EINVAL));
	size_t len = (size_t)st.st_size;
	const uint8_t *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die(path, strerror(errno));
	struct answer a = { .bytes = len };
	size_t off = 0;
	int done = 0;
	while (!done && off < len) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(p + off, len - off, &f, &err);
		if (n <= 0)
			die(path, n < 0 ? err : "truncated");
		off += (size_t)n;
		done = take_frame(&f, &a);
	}
	if (!done)
		die(path, "no END frame");
	printf("final bytes=%zu stacks=%" PRIu64 " peak_bytes=%" PRIu64 " allocs=%" PRIu64
	       " agent_bytes=%" PRIu64 "\n",
	       a.bytes, a.g.stacks, a.g.peak_bytes, a.g.allocs, a.g.agent_bytes);
	munmap((void *)p, len);
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "wait", required_argument, NULL, 'w' },
		{ "file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	char *path = NULL;
	long repeat = 20;
	double wait_s = 10;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': path = client_default_socket_path((pid_t)atol(optarg)); break;
		case 's': path = xstrdup(optarg); break;
		case 'r': repeat = atol(optarg); break;
		case 'w': wait_s = atof(optarg); break;
		case 'f': return read_file(optarg);
		default: path = NULL; optind = argc + 1; break;
		}
	}
	if (!path || optind != argc || repeat < 1) {
		fputs("usage: bench_snap (--pid PID | --socket PATH) [--repeat N] "
		      "[--wait SECONDS]\n"
		      "       bench_snap --file PATH\n", stderr);
		return 2;
	}
	int fd = connect_to(path, wait_s);
	size_t cap = 1 << 20;
	uint8_t *buf = xmalloc(cap);

	struct answer full, inc;
	exchange(fd, 0, 0, &full, &buf, &cap);
	printf("agent flags=0x%" PRIx32 " frame_pointers=%d sampled=%d depth=%" PRIu32 "\n",
	       full.hello_flags, !!(full.hello_flags & HT_AGENT_FRAME_POINTERS),
	       !!(full.hello_flags & HT_AGENT_SAMPLED), full.depth);
	printf("full ms=%.3f bytes=%zu stacks=%" PRIu64 " counters=%" PRIu64
	       " live_blocks=%" PRIu64 " live_bytes=%" PRIu64 " agent_bytes=%" PRIu64 "\n",
	       full.ms, full.bytes, full.g.stacks, full.counters, full.g.live_blocks,
	       full.g.live_bytes, full.g.agent_bytes);

	double *ms = xreallocarray(NULL, (size_t)repeat, sizeof *ms);
	for (long i = 0; i < repeat; i++) {
		exchange(fd, (uint32_t)full.g.stacks, full.modules_gen, &inc, &buf, &cap);
		ms[i] = inc.ms;
	}
	qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
	printf("incremental ms_median=%.3f ms_min=%.3f ms_max=%.3f bytes=%zu agent_bytes=%" PRIu64
	       "\n",
	       ms[repeat / 2], ms[0], ms[repeat - 1], inc.bytes, inc.g.agent_bytes);
	free(ms);
	free(buf);
	free(path);
	close(fd);
	return 0;
}
