/*
 * The agent's life in the target: settings from the environment, start-up
 * (server thread, fork handlers), fork, and exit (the live-at-exit snapshot,
 * the socket file).  The allocation hooks are in hooks.c.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h> /* rename(2) only: the agent never uses stdio streams */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/hooks.h"
#include "agent/lock.h"
#include "agent/unwind.h"
#include "agent/modules.h"
#include "agent/ptrmap.h"
#include "agent/server.h"
#include "agent/snapshot.h"
#include "agent/stacktab.h"
#include "agent/unwind.h"

struct agent_settings agent_settings = {
	.depth = AGENT_DEFAULT_DEPTH,
	.max_stacks = AGENT_DEFAULT_MAX_STACKS,
};

unsigned agent_mark_epoch;
static uint64_t mark_ns;
static uint64_t peak;
static uint64_t start_ns;
static pid_t init_pid;       /* the process these tables belong to */
static int final_written;
static int final_allowed;    /* this process may write HEAPTOP_FINAL */
static char cmdline[HT_MAX_STR];
static size_t cmdline_len;

/* A setting that cannot be read is said on standard error, once per
 * process, and its default used: a typo must not pass for the default. */
static void env_warn(const char *name, const char *value, const char *expected)
{
	const char *parts[] = { "heaptop agent: ignoring ", name, "='", value, "' (expected ",
				expected, ")\n" };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		agent_say(parts[i], strlen(parts[i]));
}

static long env_long(const char *name, long lo, long hi, long dflt)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return dflt;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || errno || v < lo || v > hi) {
		env_warn(name, s, "a whole number in range");
		return dflt;
	}
	return v;
}

/* Bytes, with the suffixes heaptop --sample takes: K, KiB, M, MiB, G, GiB. */
static uint64_t env_bytes(const char *name, uint64_t hi, uint64_t dflt)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return dflt;
	static const struct {
		const char *suffix;
		int shift;
	} units[] = { { "", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 },
		      { "G", 30 }, { "GiB", 30 } };
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end != s && !errno && *s != '-') {
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			if (strcmp(end, units[i].suffix) != 0)
				continue;
			if (v <= (hi >> units[i].shift))
				return (uint64_t)v << units[i].shift;
		}
	}
	env_warn(name, s, "bytes such as 524288 or 512K");
	return dflt;
}

static const char *env_str(const char *name)
{
	const char *s = getenv(name);
	return s && *s ? s : NULL;
}

/* NAME's value as an absolute path in BUF (SIZE bytes): a relative one is
 * taken from the directory the program starts in, which it may leave
 * before the path is used (at exit, in a child forked later); NULL when
 * unset or too long. */
static const char *env_path(const char *name, char *buf, size_t size)
{
	const char *v = env_str(name);
	if (!v || v[0] == '/')
		return v;
	size_t n = strlen(v);
	if (!getcwd(buf, size) || strlen(buf) + 1 + n >= size)
		return NULL;
	size_t len = strlen(buf);
	buf[len] = '/';
	memcpy(buf + len + 1, v, n + 1);
	return buf;
}

void agent_settings_load(void)
{
	static char socket_buf[4096], final_buf[4096];
	struct agent_settings *s = &agent_settings;
	s->depth = (unsigned)env_long("HEAPTOP_DEPTH", 1, HT_MAX_DEPTH, AGENT_DEFAULT_DEPTH);
	s->max_stacks = (uint32_t)env_long("HEAPTOP_MAX_STACKS", 2, PTRMAP_MAX_STACK + 1L,
					   AGENT_DEFAULT_MAX_STACKS);
	s->socket = env_path("HEAPTOP_SOCKET", socket_buf, sizeof socket_buf);
	s->final_path = env_path("HEAPTOP_FINAL", final_buf, sizeof final_buf);
	s->final_pid = env_long("HEAPTOP_FINAL_PID", 1, 0x7fffffffL, 0);
	/* Below a few bytes sampling costs more than it saves. */
	s->sample = env_bytes("HEAPTOP_SAMPLE", UINT64_C(1) << 40, 0);
	if (s->sample && s->sample < 64)
		s->sample = 64;
	const char *unwind = env_str("HEAPTOP_UNWIND");
	s->unwind = AGENT_UNWIND_DWARF;
	if (unwind && strcmp(unwind, "fp") != 0 && strcmp(unwind, "libunwind") != 0 &&
	    strcmp(unwind, "dwarf") != 0) {
		env_warn("HEAPTOP_UNWIND", unwind, "dwarf, libunwind or fp");
		unwind = NULL;
	}
	if (unwind && strcmp(unwind, "fp") == 0)
		s->unwind = AGENT_UNWIND_FP;
	else if ((unwind && strcmp(unwind, "libunwind") == 0) || !unwind_available())
		s->unwind = AGENT_UNWIND_LIBUNWIND;
	s->unwind_check = env_long("HEAPTOP_UNWIND_CHECK", 0, 1, 0) == 1;
}

void agent_say(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, s, len);
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

void path_add(struct path_buf *b, const char *s)
{
	for (; *s; s++, b->len++)
		if (b->len + 1 < b->size)
			b->buf[b->len] = *s;
	if (b->size)
		b->buf[b->len < b->size ? b->len : b->size - 1] = '\0';
}

void path_add_uint(struct path_buf *b, uint64_t v)
{
	char digits[21];
	int i = (int)sizeof digits - 1;
	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	path_add(b, digits + i);
}

int path_expand(char *dst, size_t size, const char *template)
{
	struct path_buf b = { dst, size, 0 };
	char one[2] = { 0, 0 };
	for (const char *p = template; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			path_add_uint(&b, (uint64_t)getpid());
			p++;
		} else {
			one[0] = *p;
			path_add(&b, one);
		}
	}
	return b.len < b.size ? 0 : -1;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t agent_start_ns(void)
{
	return start_ns;
}

static void read_cmdline(void)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, cmdline, sizeof cmdline);
	if (fd >= 0)
		close(fd);
	cmdline_len = n > 0 ? (size_t)n : 0;
	while (cmdline_len > 0 && cmdline[cmdline_len - 1] == '\0')
		cmdline_len--;
	for (size_t i = 0; i < cmdline_len; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
}

static int new_unseen; /* the program's operator new is invisible here */

void agent_hello(struct ht_hello *h)
{
	memset(h, 0, sizeof *h);
	h->pid = (uint32_t)getpid();
	h->ppid = (uint32_t)getppid();
	h->start_ns = start_ns;
	h->depth = agent_settings.depth;
	h->max_stacks = agent_settings.max_stacks;
	h->sample_bytes = agent_settings.sample;
	h->flags = (agent_settings.sample ? HT_AGENT_SAMPLED : 0) |
		   (agent_settings.unwind == AGENT_UNWIND_FP ? HT_AGENT_FRAME_POINTERS : 0) |
		   (agent_settings.unwind == AGENT_UNWIND_DWARF && unwind_available()
			    ? HT_AGENT_DWARF : 0) |
		   (new_unseen ? HT_AGENT_NEW_UNSEEN : 0);
	h->exe = modules_exe();
	h->exe_len = strlen(h->exe);
	h->cmdline = cmdline;
	h->cmdline_len = cmdline_len;
}

uint64_t agent_block_unit(void)
{
	return agent_settings.sample ? AGENT_SAMPLE_UNIT : 1;
}

void agent_mark(void)
{
	unsigned next = agent_mark_epoch % 255 + 1; /* 1..255; 0 means no mark */
	/* Empty the new parity's born counters before blocks are born into it;
	 * blocks of the mark before last (same parity) no longer count. */
	stacktab_born_reset((int)(next & 1));
	__atomic_store_n(&mark_ns, realtime_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&agent_mark_epoch, next, __ATOMIC_RELEASE);
}

uint64_t agent_mark_ns(void)
{
	return __atomic_load_n(&mark_ns, __ATOMIC_RELAXED);
}

void agent_peak_raise(uint64_t candidate)
{
	uint64_t old = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	while (candidate > old &&
	       !__atomic_compare_exchange_n(&peak, &old, candidate, 1,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

uint64_t agent_peak(uint64_t live, int reset)
{
	if (reset)
		__atomic_store_n(&peak, live, __ATOMIC_RELAXED);
	else
		agent_peak_raise(live);
	return __atomic_load_n(&peak, __ATOMIC_RELAXED);
}

void agent_write_final(int status)
{
	const char *tmpl = agent_settings.final_path;
	if (!tmpl || !final_allowed || getpid() != init_pid ||
	    __atomic_exchange_n(&final_written, 1, __ATOMIC_ACQ_REL))
		return;
	/* Static: the exchange above lets one thread here, and the thread
	 * calling exit() may have a small stack. */
	static char path[HT_MAX_STR], tmp[HT_MAX_STR];
	if (path_expand(path, sizeof path, tmpl) < 0)
		return;
	struct path_buf b = { tmp, sizeof tmp, 0 };
	path_add(&b, path);
	path_add(&b, ".tmp");
	if (b.len >= b.size)
		return;
	struct ht_request all = { 0 };
	/* Written a frame or so at a time: no buffer the size of the table. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int failed = snapshot_write(fd, &all, 1, status);
	/* Only a complete file takes the name: a reader never sees half. */
	if (close(fd) == 0 && !failed)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* One fork's handlers at a time: another thread's fork waits in its
 * prepare handler for this one's to end.  A fork from a signal handler
 * that interrupted this thread's handlers leaves everything to them.  One
 * from a signal handler that interrupted the agent's hooks, while another
 * thread forks, cannot wait for that fork (it may wait for a lock the
 * interrupted hook holds) and cannot take part in it: it goes on without
 * the agent, whose child records nothing, as its tables may be halfway
 * through a change by a thread the child does not have.  So does a fork
 * that waited FORK_WAIT_NS for another's (a signal handler's, whose
 * interrupted code holds a lock that one waits for). */
#define FORK_WAIT_NS 1000000000
static uintptr_t fork_lock;
static __thread int in_fork_handlers __attribute__((tls_model("initial-exec")));
static __thread int fork_untraced __attribute__((tls_model("initial-exec")));

static uint64_t monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Take fork_lock, unless this fork cannot wait for another one's. */
static int fork_lock_take(uintptr_t me, int inside)
{
	if (lock_try(&fork_lock, me))
		return 1;
	if (inside)
		return 0;
	uint64_t until = monotonic_ns() + FORK_WAIT_NS;
	while (!lock_try(&fork_lock, me)) {
		if (monotonic_ns() > until)
			return 0;
		sched_yield();
	}
	return 1;
}

static void fork_prepare(void)
{
	int inside = hooks_inside();
	hooks_busy(1);
	if (in_fork_handlers++)
		return;
	uintptr_t me = lock_self();
	if (!fork_lock_take(me, inside)) {
		fork_untraced = 1;
		return;
	}
	/* Raised first: a hook that finds a lock the fork holds from now on
	 * writes to the fork log instead of waiting.  The stack table's lock
	 * is taken last: a hook that finds it held finds the map's held too,
	 * so what it logs, later calls on the same block log too. */
	forklog_begin(me);
	modules_fork_prepare();
	ptrmap_lock_all();
	stacktab_lock();
}

/* After the fork, in the parent and (CHILD) the child: 0 when the child
 * records nothing. */
static int fork_release(int child)
{
	if (--in_fork_handlers)
		return 1;
	if (fork_untraced) {
		fork_untraced = 0;
		if (child) {
			/* The other fork's handlers, and threads halfway through
			 * a change, are not in the child: their locks are
			 * released for the call this thread may go on with
			 * once the signal handler returns. */
			hooks_off();
			final_allowed = 0;
			server_forget();
			ptrmap_release_foreign();
			stacktab_release_foreign();
			forklog_abandon();
			modules_fork_child();
			if (!lock_mine(&fork_lock))
				lock_release(&fork_lock);
		}
		return 0;
	}
	hooks_fork_apply(child);
	ptrmap_unlock_all();
	stacktab_unlock();
	forklog_end();
	if (child)
		modules_fork_child();
	else
		modules_fork_parent();
	lock_release(&fork_lock);
	return 1;
}

static void fork_parent(void)
{
	fork_release(0);
	hooks_busy(-1);
}

/* agent_process_init has run: a fork before it (from a library's
 * constructor) leaves the child's start to the agent's constructor. */
static int process_ready;

static void fork_child(void)
{
	if (!fork_release(1) || !__atomic_load_n(&process_ready, __ATOMIC_ACQUIRE)) {
		hooks_busy(-1);
		return;
	}
	init_pid = getpid();
	start_ns = realtime_ns();
	/* A fixed HEAPTOP_FINAL belongs to the parent; "%p" names our own. */
	const char *f = agent_settings.final_path;
	final_allowed = agent_settings.final_pid ? agent_settings.final_pid == init_pid
						 : f && strstr(f, "%p") != NULL;
	server_forget();
	server_start(agent_settings.socket);
	hooks_busy(-1);
}

/*
 * The agent's fork handlers should run after every other prepare handler
 * and before every other parent and child handler: between them the
 * hooks write to the fork log (forklog.h) instead of the tables, and the
 * forking thread's allocations are not recorded; others' handlers
 * allocate outside that span, recorded as usual.  Prepare handlers run
 * last registered first, and a library's constructor may register its
 * handlers before the agent's constructor runs.  So the agent interposes
 * __register_atfork, which pthread_atfork calls from a program or library
 * built against glibc 2.3.2 or later, and registers its own handlers
 * before the first handler registered through it.  (Not before the
 * allocator's own: its child handler must release its locks before the
 * agent's child handler allocates.)  Handlers registered through the C
 * library's own pthread_atfork (a weak reference, or one from before
 * 2.3.2) are not ordered by this; the fork log keeps them from
 * deadlocking the fork all the same (agent-fork.sh, wl_atfork window).
 */
extern void *__dso_handle;
typedef int register_atfork_fn(void (*)(void), void (*)(void), void (*)(void), void *);
static register_atfork_fn *real_register_atfork;
static uintptr_t atfork_lock;
static int atfork_done;

static register_atfork_fn *next_register_atfork(void)
{
	register_atfork_fn *f = __atomic_load_n(&real_register_atfork, __ATOMIC_ACQUIRE);
	if (!f) {
		f = (register_atfork_fn *)dlsym(RTLD_NEXT, "__register_atfork");
		__atomic_store_n(&real_register_atfork, f, __ATOMIC_RELEASE);
	}
	return f;
}

static void register_fork_handlers(void)
{
	register_atfork_fn *f = next_register_atfork();
	if (__atomic_load_n(&atfork_done, __ATOMIC_ACQUIRE) || !f)
		return;
	lock_acquire(&atfork_lock);
	if (!atfork_done) {
		/* Set first: registering allocates, and a registration in
		 * there (an allocator's first malloc) must not wait for us. */
		__atomic_store_n(&atfork_done, 1, __ATOMIC_RELEASE);
		f(fork_prepare, fork_parent, fork_child, __dso_handle);
	}
	lock_release(&atfork_lock);
}

/* Whether DSO (an object's __dso_handle) is in the object whose malloc
 * the agent calls: jemalloc registers its handlers at its first malloc. */
static int from_allocator(void *dso)
{
	void *m = dlsym(RTLD_NEXT, "malloc");
	Dl_info a, b;
	return dso && m && dladdr(dso, &a) && dladdr(m, &b) && a.dli_fbase == b.dli_fbase;
}

EXPORT int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
			     void *dso);
int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso)
{
	register_atfork_fn *f = next_register_atfork();
	if (!f)
		return ENOMEM;
	if (!from_allocator(dso))
		register_fork_handlers();
	return f(prepare, parent, child, dso);
}

/* exit(3) runs this after the program's atexit handlers and, because the
 * agent registered it before the loader registered its own finaliser, after
 * every library's destructors: the latest point, with the status known. */
static void at_exit(int status, void *arg)
{
	hooks_busy(1);
	agent_write_final(status);
	server_unlink();
	hooks_busy(-1);
}

/* quick_exit(3) runs the at_quick_exit handlers, this one last (the agent
 * registered it before the program could), then _Exit from inside the C
 * library, where the agent's _Exit does not see it: the status comes from
 * the agent's quick_exit. */
static int quick_exit_status;

void agent_quick_exit(int status)
{
	__atomic_store_n(&quick_exit_status, status, __ATOMIC_RELAXED);
}

static void at_quick_exit_last(void)
{
	at_exit(__atomic_load_n(&quick_exit_status, __ATOMIC_RELAXED), NULL);
}

void agent_process_init(void)
{
	/* Asked once, at start-up: the loader binds operator new for good. */
	new_unseen = modules_new_unseen();
	start_ns = realtime_ns();
	init_pid = getpid();
	final_allowed = !agent_settings.final_pid || agent_settings.final_pid == init_pid;
	read_cmdline();
	register_fork_handlers();
	on_exit(at_exit, NULL);
	at_quick_exit(at_quick_exit_last);
	__atomic_store_n(&process_ready, 1, __ATOMIC_RELEASE);
	server_start(agent_settings.socket);
}

