/*
 * ht-snapshot: take snapshots from a running agent (or read a saved one) and
 * print them in a fixed line format that the shell tests parse with awk:
 *
 *   snapshot seq=S pid=P stacks=N modules=M final=0|1 exit_status=E
 *   globals live_bytes=.. live_blocks=.. peak_bytes=.. allocs=.. frees=..
 *           total_bytes=.. agent_bytes=.. untracked_blocks=.. untracked_bytes=..
 *   stack ID live_bytes=.. live_blocks=.. total_bytes=.. total_blocks=.. born_bytes=..
 *     born_blocks=.. site=FUNC frames=F1;F2;..
 *     (or with --by-site)  site FUNC live_bytes=.. live_blocks=.. total_bytes=..
 *     total_blocks=.. born_bytes=.. born_blocks=..
 *     (and with --frames)    frame FUNC FILE:LINE MODULE
 *
 * The globals line is one line.  FUNC is the function of the attributed
 * frame: the innermost frame outside the C library, the C++ runtime, the
 * loader and the agent.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/client.h"
#include "viewer/snapshot.h"
#include "viewer/model.h"
#include "viewer/symbolizer.h"

#define FETCH_TIMEOUT_MS 10000
#define MAX_INLINE 32 /* frames asked of the symbolizer for one pc */

struct options {
	const char *socket_path;
	const char *file;
	long pid;
	double wait_s;
	int reset_peak;
	int mark; /* set the agent's mark with the first request */
	long count;
	long interval_ms;
	long timeout_ms;
	int by_site;
	int frames;
};

/* Modules whose frames are never the attributed one (basename prefixes). */
/* One stack, symbolized. */
struct stack_desc {
	struct sym_frame *frames; /* every frame, inline ones included, innermost first */
	size_t nframes, cap;
	const char *site;         /* function of the attributed frame */
};

/* One line of --by-site output before merging: a stack and its site. */
struct site_row {
	const char *site;
	uint32_t id;
	struct snapshot_counter c;
};

static _Noreturn void die(char *cause)
{
	fprintf(stderr, "ht-snapshot: %s\n", cause);
	free(cause);
	exit(1);
}

static _Noreturn void usage(void)
{
	fputs("usage: ht-snapshot (--pid PID | --socket PATH | --file PATH) [--wait SECONDS]\n"
	      "                   [--reset-peak] [--mark] [--count N] [--interval-ms MS]\n"
	      "                   [--timeout-ms MS] [--by-site] [--frames]\n",
	      stderr);
	exit(1);
}

static long parse_long(const char *opt, const char *arg, long min)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > INT_MAX)
		die(xasprintf("%s: bad number: %s", opt, arg));
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{ "reset-peak", no_argument, NULL, 'r' },
		{ "mark", no_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'n' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "by-site", no_argument, NULL, 'b' },
		{ "frames", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){ .pid = -1, .count = 1, .timeout_ms = FETCH_TIMEOUT_MS };
	int ch, sources = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': o->pid = parse_long("--pid", optarg, 1); sources++; break;
		case 's': o->socket_path = optarg; sources++; break;
		case 'f': o->file = optarg; sources++; break;
		case 'w': {
			char *end;
			o->wait_s = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(o->wait_s >= 0))
				die(xasprintf("--wait: bad number: %s", optarg));
			break;
		}
		case 'r': o->reset_peak = 1; break;
		case 'm': o->mark = 1; break;
		case 'n': o->count = parse_long("--count", optarg, 1); break;
		case 'i': o->interval_ms = parse_long("--interval-ms", optarg, 0); break;
		case 't': o->timeout_ms = parse_long("--timeout-ms", optarg, 0); break;
		case 'b': o->by_site = 1; break;
		case 'F': o->frames = 1; break;
		default: usage();
		}
	}
	if (optind != argc || sources != 1)
		usage();
	if (o->file != NULL && o->count != 1)
		die(xstrdup("--count needs --pid or --socket"));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connect, retrying for up to WAIT_S seconds while the agent is not there yet. */
static struct client *connect_waiting(const char *path, double wait_s)
{
	double deadline = now_s() + wait_s;
	for (;;) {
		char *cause = NULL;
		struct client *c = client_connect(path, &cause);
		if (c != NULL)
			return c;
		if (now_s() >= deadline)
			die(cause);
		free(cause);
		sleep_ms(50);
	}
}

static void symbolizer_sync(struct symbolizer *sym, const struct snapshot *s)
{
	for (size_t i = 0; i < snapshot_module_count(s); i++) {
		const struct snapshot_module *m = snapshot_module(s, i);
		if (m != NULL)
			symbolizer_add_module(sym, m->path, m->build_id, m->build_id_len,
					      m->bias, m->lo, m->hi);
	}
}

/* Symbolize stack ID into D (whose frames array is reused). */
static void describe_stack(struct symbolizer *sym, const struct snapshot *s, uint32_t id,
			   struct stack_desc *d)
{
	uint64_t pcs[HT_MAX_DEPTH];
	unsigned depth = snapshot_stack(s, id, pcs);
	d->nframes = 0;
	d->site = id == 0 ? "[overflow]" : NULL;
	const char *innermost = NULL;
	int innermost_set = 0;
	for (unsigned i = 0; i < depth; i++) {
		if (d->cap < d->nframes + MAX_INLINE) {
			d->cap = d->nframes + MAX_INLINE * 2;
			d->frames = xreallocarray(d->frames, d->cap, sizeof *d->frames);
		}
		struct sym_frame *f = d->frames + d->nframes;
		/* Every pc is a return address, pc[0] included (see proto.h). */
		int n = symbolizer_lookup(sym, pcs[i], 1, f, MAX_INLINE);
		if (n < 1)
			continue;
		d->nframes += (size_t)n;
		const char *func = f[0].function ? f[0].function : "??";
		if (!innermost_set) {
			innermost = func;
			innermost_set = 1;
		}
		const char *module = f[0].module;
		if (module == NULL) {
			const struct snapshot_module *m = snapshot_module_at(s, pcs[i]);
			module = m ? m->path : NULL;
		}
		if (d->site == NULL && !model_system_module(module))
			d->site = func;
	}
	if (d->site == NULL)
		d->site = innermost ? innermost : "??";
}

static void print_counter(const struct snapshot_counter *c)
{
	printf(" live_bytes=%" PRId64 " live_blocks=%" PRId64 " total_bytes=%" PRIu64
	       " total_blocks=%" PRIu64 " born_bytes=%" PRId64 " born_blocks=%" PRId64,
	       c->live_bytes, c->live_blocks, c->total_bytes, c->total_blocks,
	       c->born_bytes, c->born_blocks);
}

static void print_frames(const struct stack_desc *d)
{
	for (size_t i = 0; i < d->nframes; i++) {
		const struct sym_frame *f = &d->frames[i];
		printf("  frame %s %s:%u %s\n", f->function ? f->function : "??",
		       f->file ? f->file : "??", f->line,
		       f->module ? path_base(f->module) : "??");
	}
}

static void print_stack(const struct stack_desc *d, uint32_t id,
			const struct snapshot_counter *c, int frames)
{
	printf("stack %" PRIu32, id);
	print_counter(c);
	printf(" site=%s frames=", d->site);
	for (size_t i = 0; i < d->nframes; i++)
		printf("%s%s", i ? ";" : "", d->frames[i].function ? d->frames[i].function : "??");
	putchar('\n');
	if (frames)
		print_frames(d);
}

/* By site name, then by stack id so that a site's first row is its lowest stack. */
static int site_row_cmp(const void *a, const void *b)
{
	const struct site_row *x = a, *y = b;
	int r = strcmp(x->site, y->site);
	if (r != 0)
		return r;
	return (x->id > y->id) - (x->id < y->id);
}

static void print_sites(struct symbolizer *sym, const struct snapshot *s,
			struct stack_desc *d, int frames)
{
	uint32_t n = snapshot_stack_count(s), nrows = 0;
	struct site_row *rows = xcalloc(n, sizeof *rows);
	for (uint32_t id = 0; id < n; id++) {
		struct snapshot_counter c = snapshot_counter(s, id);
		if (c.total_blocks == 0)
			continue;
		describe_stack(sym, s, id, d);
		rows[nrows++] = (struct site_row){ .site = d->site, .id = id, .c = c };
	}
	qsort(rows, nrows, sizeof *rows, site_row_cmp);
	for (uint32_t i = 0; i < nrows;) {
		struct snapshot_counter sum = rows[i].c;
		uint32_t j = i + 1;
		for (; j < nrows && strcmp(rows[j].site, rows[i].site) == 0; j++) {
			sum.live_bytes += rows[j].c.live_bytes;
			sum.live_blocks += rows[j].c.live_blocks;
			sum.total_bytes += rows[j].c.total_bytes;
			sum.total_blocks += rows[j].c.total_blocks;
			sum.born_bytes += rows[j].c.born_bytes;
			sum.born_blocks += rows[j].c.born_blocks;
		}
		printf("site %s", rows[i].site);
		print_counter(&sum);
		putchar('\n');
		if (frames) {
			/* A site spans stacks: show the one with the lowest id. */
			describe_stack(sym, s, rows[i].id, d);
			print_frames(d);
		}
		i = j;
	}
	free(rows);
}

static void print_snapshot(struct symbolizer *sym, const struct snapshot *s,
			   const struct options *o)
{
	const struct ht_globals *g = snapshot_globals(s);
	printf("snapshot seq=%" PRIu64 " pid=%" PRIu32 " stacks=%" PRIu32 " modules=%zu"
	       " final=%d exit_status=%" PRIu64 "\n",
	       g->seq, snapshot_hello(s)->pid, snapshot_stack_count(s),
	       snapshot_module_count(s), (g->flags & HT_GLOBAL_FINAL) ? 1 : 0,
	       g->exit_status);
	printf("globals live_bytes=%" PRIu64 " live_blocks=%" PRIu64 " peak_bytes=%" PRIu64
	       " allocs=%" PRIu64 " frees=%" PRIu64 " total_bytes=%" PRIu64
	       " agent_bytes=%" PRIu64 " untracked_blocks=%" PRIu64
	       " untracked_bytes=%" PRIu64 "\n",
	       g->live_bytes, g->live_blocks, g->peak_bytes, g->allocs, g->frees,
	       g->total_bytes, g->agent_bytes, g->untracked_blocks, g->untracked_bytes);

	symbolizer_sync(sym, s);
	struct stack_desc d = { 0 };
	if (o->by_site) {
		print_sites(sym, s, &d, o->frames);
	} else {
		for (uint32_t id = 0; id < snapshot_stack_count(s); id++) {
			struct snapshot_counter c = snapshot_counter(s, id);
			if (c.total_blocks == 0)
				continue;
			describe_stack(sym, s, id, &d);
			print_stack(&d, id, &c, o->frames);
		}
	}
	free(d.frames);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct options o;
	parse_options(argc, argv, &o);
	struct symbolizer *sym = symbolizer_new();
	char *cause = NULL;

	if (o.file != NULL) {
		struct snapshot *s = snapshot_load_file(o.file, &cause);
		if (s == NULL)
			die(cause);
		print_snapshot(sym, s, &o);
		snapshot_free(s);
		symbolizer_free(sym);
		return 0;
	}

	char *path = o.socket_path ? xstrdup(o.socket_path)
				   : client_default_socket_path((pid_t)o.pid);
	struct client *c = connect_waiting(path, o.wait_s);
	struct snapshot *s = snapshot_new();
	uint32_t flags = o.reset_peak ? HT_REQ_RESET_PEAK : 0;
	for (long i = 0; i < o.count; i++) {
		if (i > 0 && o.interval_ms > 0)
			sleep_ms(o.interval_ms);
		uint32_t mark = o.mark && i == 0 ? HT_REQ_MARK : 0;
		if (client_fetch(c, s, flags | mark, (int)o.timeout_ms, &cause) < 0)
			die(cause);
		print_snapshot(sym, s, &o);
	}
	client_close(c);
	snapshot_free(s);
	symbolizer_free(sym);
	free(path);
	return 0;
}
