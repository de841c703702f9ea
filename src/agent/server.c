/*
 * The snapshot server.  One thread, poll(2) over the listening socket and
 * its clients, non-blocking sockets throughout: a client that stops reading
 * costs only its own buffer and is dropped after a while; it never blocks
 * the target.  The thread is marked busy for its whole life, so its own
 * allocations (if any) pass through untraced.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/server.h"
#include "agent/snapshot.h"

#define MAX_CLIENTS 32
#define STALL_MS 10000 /* a client that takes no bytes for this long is dropped */
#define IDLE_MS 10000  /* a client that asks nothing for this long gives its buffer back */

/* Which file a descriptor of ours (or the socket's path) is: a program may
 * close every descriptor it did not open (as daemons do) and open its own
 * files under the same numbers, which the agent must then never read,
 * write or close; and a file at the socket's path may no longer be ours. */
struct fd_id {
	dev_t dev;
	ino_t ino;
};

struct client {
	int fd;
	struct fd_id id;
	uint8_t in[64]; /* requests are 24 bytes; anything longer is bad */
	size_t in_len;
	struct snap_stream answer; /* the answer being sent, while out_len */
	struct snap_buf out;       /* its piece being sent */
	size_t out_len, out_off;
	uint64_t last_progress_ms;
};

static int listen_fd = -1;
static struct fd_id listen_id;
static const char *listen_path; /* server_start's PATH, to make it again */
static pid_t owner_pid;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct fd_id sock_file; /* as bound: unlinked only if still that file */
static struct client clients[MAX_CLIENTS];
static int nclients;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Make DIR (mode 0700) unless it exists; refuse one that others can enter
 * or that another user owns. */
static int secure_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)
		return -1;
	return 0;
}

static int default_path(char *dst, size_t size)
{
	char dir[sizeof sock_path];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct path_buf b = { dir, sizeof dir, 0 };
	if (xdg && xdg[0] == '/') {
		path_add(&b, xdg);
		path_add(&b, "/heaptop");
	} else {
		path_add(&b, "/tmp/heaptop-");
		path_add_uint(&b, geteuid());
	}
	if (b.len >= b.size || secure_dir(dir) < 0)
		return -1;
	b = (struct path_buf){ dst, size, 0 };
	path_add(&b, dir);
	path_add(&b, "/");
	path_add_uint(&b, (uint64_t)getpid());
	path_add(&b, ".sock");
	return b.len < b.size ? 0 : -1;
}

/* FD moved above the numbers a program takes first (its first open() gets
 * 3 as without the agent), when the limit on descriptors leaves room. */
static int fd_high(int fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 64)
		return fd;
	int min = (int)(rl.rlim_cur > 1024 ? 1024 : rl.rlim_cur) - 32;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, min);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

/* A socket that still accepts belongs to a live agent: leave it alone. */
static int socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int used = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
	close(fd);
	return used;
}

static int make_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (path ? path_expand(sa.sun_path, sizeof sa.sun_path, path) < 0
		 : default_path(sa.sun_path, sizeof sa.sun_path) < 0)
		return -1;
	if (socket_in_use(&sa)) {
		/* A fixed HEAPTOP_SOCKET inherited by a child: the parent keeps
		 * the name, the child takes NAME.PID. */
		struct path_buf b = { sa.sun_path, sizeof sa.sun_path, strlen(sa.sun_path) };
		path_add(&b, ".");
		path_add_uint(&b, (uint64_t)getpid());
		if (b.len >= b.size || socket_in_use(&sa))
			return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	fd = fd_high(fd);
	/* A stale socket (its process is gone, or exec'd) is replaced; any
	 * other file is not ours to remove. */
	struct stat st;
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(sa.sun_path, 0600) < 0 || listen(fd, 16) < 0 ||
	    lstat(sa.sun_path, &st) < 0) {
		close(fd);
		return -1;
	}
	memcpy(sock_path, sa.sun_path, sizeof sock_path);
	sock_file = (struct fd_id){ st.st_dev, st.st_ino };
	return fd;
}

static int fd_id_of(int fd, struct fd_id *id)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

/* Whether FD is still the file ID says (the program has not closed it). */
static int still_ours(int fd, const struct fd_id *id)
{
	struct fd_id now;
	return fd >= 0 && fd_id_of(fd, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
}

/* Forget client I; CLOSE its descriptor only while it is still ours. */
static void client_forget(int i, int close_fd)
{
	if (close_fd)
		close(clients[i].fd);
	snapshot_buf_free(&clients[i].out);
	clients[i] = clients[--nclients];
	memset(&clients[nclients], 0, sizeof clients[nclients]);
}

static void client_drop(int i)
{
	client_forget(i, 1);
}

static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		fd = fd_high(fd);
		if (nclients == MAX_CLIENTS || !peer_allowed(fd)) {
			close(fd);
			continue;
		}
		struct fd_id id;
		if (fd_id_of(fd, &id) < 0) {
			close(fd);
			continue;
		}
		struct client *c = &clients[nclients++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->id = id;
		c->last_progress_ms = now_ms();
	}
}

static int client_request(int i);

/* Encode the next piece of client I's answer into its buffer; after the
 * last one, cut the buffer back and take the next request, if one came.
 * -1 drops the client. */
static int client_fill(int i)
{
	struct client *c = &clients[i];
	long n = snapshot_next(&c->answer, &c->out);
	if (n < 0)
		return -1;
	c->out_len = (size_t)n;
	c->out_off = 0;
	if (n > 0)
		return 0;
	/* A full answer's last piece is larger than a refresh's. */
	snapshot_buf_trim(&c->out);
	return client_request(i);
}

/* Parse what client I sent; answer a complete request.  -1 drops it. */
static int client_request(int i)
{
	struct client *c = &clients[i];
	struct ht_frame f;
	const char *err;
	if (c->out_len)
		return 0; /* one answer at a time: this one after it */
	long n = ht_frame_parse(c->in, c->in_len, &f, &err);
	if (n == 0)
		return c->in_len == sizeof c->in ? -1 : 0;
	struct ht_request req;
	if (n < 0 || ht_decode_request(&f, &req))
		return -1;
	memmove(c->in, c->in + n, c->in_len - (size_t)n);
	c->in_len -= (size_t)n;
	snapshot_start(&c->answer, &req);
	return client_fill(i);
}

static int client_read(int i)
{
	struct client *c = &clients[i];
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0) {
		c->in_len += (size_t)n;
		c->last_progress_ms = now_ms();
	}
	return client_request(i);
}

/* Send what the socket takes; encode the next piece as each one goes. */
static int client_write(int i)
{
	struct client *c = &clients[i];
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)n;
		c->last_progress_ms = now_ms();
		if (c->out_off < c->out_len)
			return 0; /* the socket is full: wait for POLLOUT */
		if (client_fill(i) < 0)
			return -1;
	}
	return 0;
}

/* An answer nobody takes, or half a request, for STALL_MS.  Progress may
 * have been stamped after NOW was read: that is no stall. */
static int stalled(const struct client *c, uint64_t now)
{
	return (c->out_len || c->in_len) && now > c->last_progress_ms &&
	       now - c->last_progress_ms > STALL_MS;
}

/* Connected, nothing asked or owed for IDLE_MS, and holding a buffer: an
 * idle viewer must not pin memory in the target (a refresh maps it again). */
static int idle(const struct client *c, uint64_t now)
{
	return !c->out_len && !c->in_len && c->out.cap && now > c->last_progress_ms &&
	       now - c->last_progress_ms > IDLE_MS;
}

/* Descriptors of ours the program closed (and may have opened again as
 * its own files) are forgotten, never closed; a listening socket lost that
 * way is made again, so that viewers can reach the agent again. */
static void check_fds(void)
{
	for (int i = nclients - 1; i >= 0; i--)
		if (!still_ours(clients[i].fd, &clients[i].id))
			client_forget(i, 0);
	if (listen_fd >= 0 && !still_ours(listen_fd, &listen_id))
		listen_fd = -1;
	if (listen_fd < 0) {
		int fd = make_socket(listen_path);
		if (fd >= 0 && fd_id_of(fd, &listen_id) == 0)
			listen_fd = fd;
		else if (fd >= 0)
			close(fd);
	}
}

static void serve_once(void)
{
	struct pollfd pfd[MAX_CLIENTS + 1];
	check_fds();
	pfd[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	for (int i = 0; i < nclients; i++) {
		pfd[i + 1].fd = clients[i].fd;
		pfd[i + 1].events = clients[i].out_len ? POLLOUT : POLLIN;
	}
	int n = nclients;
	if (poll(pfd, (nfds_t)n + 1, 1000) < 0)
		return;
	uint64_t now = now_ms();
	/* Walk backwards: dropping swaps the last client into the hole. */
	for (int i = n - 1; i >= 0; i--) {
		short ev = pfd[i + 1].revents;
		int r = 0;
		/* Closed by the program since (and maybe its own file now). */
		if ((ev & POLLNVAL) || (ev && !still_ours(clients[i].fd, &clients[i].id))) {
			client_forget(i, 0);
			continue;
		}
		if (ev & POLLOUT)
			r = client_write(i);
		else if (ev & (POLLIN | POLLHUP | POLLERR))
			r = client_read(i);
		if (r == 0 && stalled(&clients[i], now))
			r = -1;
		if (r == 0 && idle(&clients[i], now))
			snapshot_buf_free(&clients[i].out);
		if (r < 0)
			client_drop(i);
	}
	if (pfd[0].revents & POLLNVAL)
		listen_fd = -1; /* closed by the program: made again next time */
	else if (listen_fd >= 0 && (pfd[0].revents & POLLIN) && still_ours(listen_fd, &listen_id))
		accept_clients();
}

static void *server_main(void *arg)
{
	agent_thread_untraced();
	prctl(PR_SET_NAME, "heaptop-agent");
	for (;;)
		serve_once();
	return NULL;
}

int server_start(const char *path)
{
	int fd = make_socket(path);
	if (fd < 0)
		return -1;
	if (fd_id_of(fd, &listen_id) < 0) {
		close(fd);
		return -1;
	}
	listen_fd = fd;
	listen_path = path;
	owner_pid = getpid();
	/* The thread must never take the target's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t tid;
	int err = pthread_create(&tid, &attr, server_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		server_unlink();
		close(fd);
		listen_fd = -1;
		return -1;
	}
	return 0;
}

void server_unlink(void)
{
	struct stat st;
	if (listen_fd >= 0 && owner_pid == getpid() && sock_path[0] &&
	    lstat(sock_path, &st) == 0 && st.st_dev == sock_file.dev && st.st_ino == sock_file.ino)
		unlink(sock_path);
}

void server_forget(void)
{
	/* Closing our copies leaves the parent's sockets and file alone. */
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	while (nclients > 0)
		client_drop(nclients - 1); /* the buffers are this child's copies */
	sock_path[0] = '\0';
}
