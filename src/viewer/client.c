/* Client side of the agent's socket (see client.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/client.h"
#include "viewer/snapshot.h"

/* Bytes asked of read() at least once the buffer is full. */
#define CLIENT_READ_CHUNK 65536

struct client {
	int fd;
	char *path;
	/* Bytes received and not yet applied; they start at buf[0].  cap stays
	 * below one frame plus a chunk: complete frames are consumed at once. */
	uint8_t *buf;
	size_t len, cap;
	/* Set after any error: the stream position is lost, only close works. */
	int broken;
	int peer_closed; /* the error was the agent's end going away */
	/* While waiting for the agent: signals unblocked as in MASK, and a
	 * wait ends when one set *STOP (client_set_interrupt). */
	const sigset_t *mask;
	volatile sig_atomic_t *stop;
};

/* S with every "%p" replaced by PID. */
static char *expand_pid(const char *s, pid_t pid)
{
	char num[32];
	int numlen = snprintf(num, sizeof num, "%ld", (long)pid);
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += (p[0] == '%' && p[1] == 'p') ? (size_t)numlen : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *p = s; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			memcpy(o, num, (size_t)numlen);
			o += numlen;
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* The directory agents put their sockets in without HEAPTOP_SOCKET,
 * xasprintf'd.  The agent's rule (server.c): only an absolute
 * XDG_RUNTIME_DIR counts, and the fallback is named by the effective uid. */
static char *default_socket_dir(void)
{
	const char *env = getenv("XDG_RUNTIME_DIR");
	if (env != NULL && env[0] == '/')
		return xasprintf("%s/heaptop", env);
	return xasprintf("/tmp/heaptop-%lu", (unsigned long)geteuid());
}

char *client_default_socket_path(pid_t pid)
{
	const char *env = getenv("HEAPTOP_SOCKET");
	if (env != NULL && *env != '\0')
		return expand_pid(env, pid);
	char *dir = default_socket_dir();
	char *path = xasprintf("%s/%ld.sock", dir, (long)pid);
	free(dir);
	return path;
}

int client_prepare_socket_dir(char **cause)
{
	const char *env = getenv("HEAPTOP_SOCKET");
	if (env != NULL && *env != '\0')
		return 0; /* the user's choice, checked by the agent */
	/* Made and checked as the agent's secure_dir does. */
	char *dir = default_socket_dir();
	struct stat st;
	int ok = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		*cause = xasprintf("cannot make the socket directory %s: %s", dir, strerror(errno));
	else if (lstat(dir, &st) < 0)
		*cause = xasprintf("socket directory %s: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		*cause = xasprintf("the socket directory %s must be a directory of "
				   "yours that nobody else can enter", dir);
	else
		ok = 1;
	free(dir);
	return ok ? 0 : -1;
}

struct client *client_connect(const char *path, char **cause)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		*cause = xasprintf("socket path too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	/* Non-blocking while connecting: the listen queue of a process that is
	 * stopped (SIGSTOP, a debugger) fills up, and a blocking connect would
	 * then wait for as long as it stays stopped. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EAGAIN)
			*cause = xasprintf("the agent at %s takes no connections (is the process "
					   "stopped?)", path);
		else
			*cause = xasprintf("no heaptop agent at %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		*cause = xasprintf("socket: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	struct client *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->path = xstrdup(path);
	return c;
}

void client_set_interrupt(struct client *c, const sigset_t *mask, volatile sig_atomic_t *stop)
{
	c->mask = mask;
	c->stop = stop;
}

int client_peer_closed(const struct client *c)
{
	return c->peer_closed;
}

int client_fd(const struct client *c)
{
	return c->fd;
}

void client_close(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->path);
	free(c->buf);
	free(c);
}

/* Whether a signal has asked the wait to stop (client_set_interrupt). */
static int stop_asked(const struct client *c)
{
	return c->stop && *c->stop;
}

/* Whether a wait ended because a signal asked to stop (*CAUSE then set). */
static int interrupted(const struct client *c, char **cause)
{
	if (!stop_asked(c))
		return 0;
	*cause = xasprintf("interrupted while waiting for %s", c->path);
	return 1;
}

/* Wait until C's socket is ready for EVENTS or DEADLINE (ms, -1: none)
 * passes.  Returns 1 when ready, 0 on timeout, -1 with errno on error (EINTR
 * when a signal asked to stop). */
static int wait_fd(const struct client *c, short events, int64_t deadline)
{
	for (;;) {
		if (stop_asked(c)) {
			errno = EINTR;
			return -1;
		}
		int64_t ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - (int64_t)clock_ms();
			ms = left <= 0 ? 0 : left > 60000 ? 60000 : left;
		}
		struct pollfd pfd = { .fd = c->fd, .events = events };
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
		int r = ppoll(&pfd, 1, ms < 0 ? NULL : &ts, c->mask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != 0)
			return r < 0 ? -1 : 1;
		if (deadline >= 0 && (int64_t)clock_ms() >= deadline)
			return 0;
	}
}

static int send_request(struct client *c, const struct snapshot *s, uint32_t flags,
			int64_t deadline, char **cause)
{
	uint8_t req[HT_HEADER_SIZE + HT_REQUEST_SIZE];
	struct ht_writer w;
	ht_writer_init(&w, req, sizeof req);
	ht_encode_request(&w, snapshot_stack_count(s), snapshot_module_generation(s), flags);
	size_t off = 0;
	while (off < w.len) {
		int r = wait_fd(c, POLLOUT, deadline);
		if (r == 0) {
			*cause = xasprintf("timed out sending a request to %s", c->path);
			return -1;
		}
		if (r < 0 && interrupted(c, cause))
			return -1;
		/* MSG_NOSIGNAL: an agent gone away is an error, not a SIGPIPE. */
		ssize_t n = r < 0 ? -1 : send(c->fd, req + off, w.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			*cause = xasprintf("agent at %s closed the connection", c->path);
			c->peer_closed = 1;
			return -1;
		}
		if (n < 0) {
			*cause = xasprintf("sending a request to %s: %s", c->path, strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

static uint32_t header_length(const uint8_t *h)
{
	return (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 |
	       (uint32_t)h[11] << 24;
}

/* Apply the complete frames in the buffer to S.  Returns 1 after an END, 0
 * when more bytes are needed (*NEED: buffer bytes the next frame takes), -1
 * with *CAUSE set on error. */
static int apply_buffered(struct client *c, struct snapshot *s, size_t *need, char **cause)
{
	size_t off = 0;
	int done = 0;
	while (!done) {
		if (off == c->len) {
			*need = HT_HEADER_SIZE;
			break;
		}
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(c->buf + off, c->len - off, &f, &err);
		if (n < 0) {
			*cause = xasprintf("bad data from agent at %s: %s", c->path, err);
			return -1;
		}
		if (n == 0) {
			/* ht_frame_parse has checked a complete header's length. */
			size_t avail = c->len - off;
			*need = avail < HT_HEADER_SIZE ? HT_HEADER_SIZE
				: HT_HEADER_SIZE + (size_t)header_length(c->buf + off);
			break;
		}
		char *why = NULL;
		int r = snapshot_apply_frame(s, &f, &why);
		if (r < 0) {
			*cause = xasprintf("agent at %s: %s", c->path, why);
			free(why);
			return -1;
		}
		off += (size_t)n;
		done = r == 1;
	}
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	return done;
}

/* Read what the socket has, into room for at least NEED buffered bytes. */
static int read_more(struct client *c, size_t need, int64_t deadline, int timeout_ms,
		     char **cause)
{
	size_t want = need > c->len + CLIENT_READ_CHUNK ? need : c->len + CLIENT_READ_CHUNK;
	if (c->cap < want) {
		c->buf = xrealloc(c->buf, want);
		c->cap = want;
	}
	for (;;) {
		int r = wait_fd(c, POLLIN, deadline);
		if (r == 0) {
			*cause = xasprintf("no complete snapshot from %s within %d ms",
					   c->path, timeout_ms);
			return -1;
		}
		if (r < 0 && interrupted(c, cause))
			return -1;
		ssize_t n = r < 0 ? -1 : read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != ECONNRESET) {
			*cause = xasprintf("reading from %s: %s", c->path, strerror(errno));
			return -1;
		}
		if (n <= 0) {
			*cause = xasprintf("agent at %s closed the connection", c->path);
			c->peer_closed = 1;
			return -1;
		}
		c->len += (size_t)n;
		return 0;
	}
}

int client_fetch(struct client *c, struct snapshot *s, uint32_t flags, int timeout_ms,
		 char **cause)
{
	if (c->broken) {
		*cause = xasprintf("connection to %s is unusable after an earlier error",
				   c->path);
		return -1;
	}
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)clock_ms() + timeout_ms;
	/* A snapshot left half-applied by another connection cannot go on here. */
	snapshot_abort(s);
	int r = send_request(c, s, flags, deadline, cause);
	while (r == 0) {
		size_t need = 0;
		r = apply_buffered(c, s, &need, cause);
		if (r == 0)
			r = read_more(c, need, deadline, timeout_ms, cause);
	}
	if (r < 0) {
		c->broken = 1;
		snapshot_abort(s);
		return -1;
	}
	return 0;
}
