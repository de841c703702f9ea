/*
 * wl_fork: a process that forks, with known allocations on both sides.
 *
 *   wl_fork fork
 *     A thread allocates and frees without pause while main forks
 *     QUICK_CHILDREN short-lived children (each allocates, frees and exits
 *     0: a fork taken while another thread is inside the allocator must
 *     not deadlock the child).  Then main forks the inspected child and:
 *       parent: "ready pid=P child=C phase=both"; wait; lets the child go
 *               and reaps it; "ready pid=P phase=child-exited"; wait; exit 0
 *       child:  tells the parent it is ready, waits for it, exit(0) with
 *               its blocks live
 *     Live blocks (the child inherits the parent's heap as it was at fork):
 *       site                    parent          child
 *       site_parent_alloc       4000 B, 4       4000 B, 4
 *       site_parent_after_fork  1000 B, 2       -
 *       site_child_alloc        -               6000 B, 3
 *
 *   wl_fork fork-exec WL_BASIC
 *     site_parent_alloc as above; the child execs "WL_BASIC exit 0"; the
 *     parent reaps it, checks that it exited 0, prints "ready pid=P child=C"
 *     and exits 0 with its blocks live (no waiting in this mode).
 *
 *   wl_fork loader
 *     Two threads allocate without pause from two functions 64 KiB apart,
 *     whose return addresses share the DWARF walker's rule-cache slot, so
 *     that nearly every allocation misses and looks its rule up inside
 *     dl_iterate_phdr (the loader's lock); main forks LOADER_CHILDREN
 *     children meanwhile, each allocating from both functions in turn
 *     (another miss) under alarm(2).  A child that inherited the loader's
 *     lock held by one of the threads never gets it: killed by the alarm.
 *     Prints "children=N hung=H"; exits 1 when H > 0.
 *
 *   wl_fork gate
 *     Forks taken while other threads allocate in ways that each hung
 *     under an agent whose hooks waited for its fork handlers: a thread
 *     reads lines with getline, which allocates holding the stream's
 *     lock, while another runs fflush(NULL), which holds the stream list
 *     lock (fork takes it after the handlers) waiting for the stream's;
 *     a thread registers fork handlers (glibc's list grows under the
 *     lock fork takes between handlers); and two threads churn: each
 *     keeps a ring of GATE_RING blocks of 100 bytes live at
 *     site_gate_ring, replacing one per round, and moves a block through
 *     realloc at site_gate_churn and frees it, along call paths that keep
 *     making new stacks.  Main forks GATE_CHILDREN children meanwhile,
 *     each exiting at once, stops the threads and prints "forks=N".
 *     Live at exit: site_gate_ring 2 x GATE_RING blocks, 100 bytes each;
 *     site_gate_churn nothing.
 *
 *   wl_fork mix
 *     Four threads each keep a ring of MIX_RING blocks made along random
 *     call paths 12 deep (4096 of them: new stacks keep coming) and also
 *     free a block as soon as it is made, while main forks MIX_CHILDREN
 *     children; then the threads free their rings.  Prints "forks=N";
 *     live at exit at site_mix_leaf: nothing.
 *
 *   wl_fork signal
 *     One thread allocates (a ring of GATE_RING blocks of 100 bytes at
 *     site_signal_ring, one replaced per round) while a profiling timer's
 *     signal handler forks SIGNAL_CHILDREN children, each exiting at once
 *     (fork is async-signal-safe): mostly inside the agent's own hooks;
 *     each child returns from the handler, frees the ring and exits 0
 *     (SIGALRM after 10 s if it hangs); meanwhile another thread forks
 *     children without pause.  Prints "forks=N" (N at least
 *     SIGNAL_CHILDREN: one more may come before the timer stops); live at
 *     exit: site_signal_ring GATE_RING blocks.
 *
 * The program exits 1 if a child did not exit 0.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wl.h"

#define QUICK_CHILDREN 20

static void *held[16];
static int nheld;
static atomic_int stop_churn;

static void hold(void *p)
{
	WL_CHECK(p != NULL && nheld < 16);
	held[nheld++] = p;
}

WL_SITE static void site_parent_alloc(void)
{
	for (int i = 0; i < 4; i++)
		hold(malloc(1000));
}

WL_SITE static void site_parent_after_fork(void)
{
	for (int i = 0; i < 2; i++)
		hold(malloc(500));
}

WL_SITE static void site_child_alloc(void)
{
	for (int i = 0; i < 3; i++)
		hold(malloc(2000));
}

WL_SITE static void site_quick_child(void)
{
	void *blocks[100];

	for (int i = 0; i < 100; i++)
		blocks[i] = malloc((size_t)(i + 1) * 8);
	for (int i = 0; i < 100; i++)
		free(blocks[i]);
}

WL_SITE static void *site_fork_churn(void *arg)
{
	while (!atomic_load(&stop_churn))
		free(malloc(128));
	return arg;
}

/* Wait for CHILD and check that it exited with status 0. */
static void reap(pid_t child)
{
	int status;

	WL_CHECK(waitpid(child, &status, 0) == child);
	WL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void quick_children(void)
{
	pthread_t churn;

	WL_CHECK(pthread_create(&churn, NULL, site_fork_churn, NULL) == 0);
	for (int i = 0; i < QUICK_CHILDREN; i++) {
		pid_t pid = fork();
		WL_CHECK(pid >= 0);
		if (pid == 0) {
			site_quick_child();
			exit(0);
		}
		reap(pid);
	}
	atomic_store(&stop_churn, 1);
	WL_CHECK(pthread_join(churn, NULL) == 0);
}

/* The inspected child: allocate, report, wait for the parent, exit. */
static void child_main(int to_parent, int from_parent)
{
	char c = 'r';

	site_child_alloc();
	wl_write_all(to_parent, &c, 1);
	while (read(from_parent, &c, 1) < 0 && errno == EINTR)
		;
	exit(0);
}

static int mode_fork(void)
{
	int up[2], down[2];
	char c;
	char extra[64];
	pid_t child;

	site_parent_alloc();
	quick_children();
	WL_CHECK(pipe(up) == 0 && pipe(down) == 0);
	child = fork();
	WL_CHECK(child >= 0);
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		child_main(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	site_parent_after_fork();
	WL_CHECK(read(up[0], &c, 1) == 1);
	snprintf(extra, sizeof extra, "child=%ld phase=both", (long)child);
	wl_ready(extra);
	wl_wait();
	close(down[1]); /* end of file tells the child to go */
	reap(child);
	wl_ready("phase=child-exited");
	wl_wait();
	exit(0);
}

static int mode_fork_exec(const char *wl_basic)
{
	char extra[64];
	pid_t child;

	site_parent_alloc();
	child = fork();
	WL_CHECK(child >= 0);
	if (child == 0) {
		execl(wl_basic, "wl_basic", "exit", "0", (char *)NULL);
		_exit(127);
	}
	reap(child);
	snprintf(extra, sizeof extra, "child=%ld", (long)child);
	wl_ready(extra);
	exit(0);
}

#define LOADER_CHILDREN 200
#define LOADER_ALIGNED __attribute__((noipa, aligned(65536))) /* noipa: not merged */

LOADER_ALIGNED static void *loader_a(size_t n)
{
	void *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory"); /* no tail call */
	return p;
}

LOADER_ALIGNED static void *loader_b(size_t n)
{
	void *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static atomic_long loader_rounds;

static void *loader_churn(void *arg)
{
	while (!atomic_load(&stop_churn)) {
		free(loader_a(16));
		free(loader_b(16));
		atomic_fetch_add(&loader_rounds, 1);
	}
	return arg;
}

static int mode_loader(void)
{
	pthread_t th[2];
	int hung = 0;
	for (int i = 0; i < 2; i++)
		WL_CHECK(pthread_create(&th[i], NULL, loader_churn, NULL) == 0);
	for (int i = 0; i < LOADER_CHILDREN; i++) {
		/* Fork while both threads are at it. */
		long from = atomic_load(&loader_rounds);
		while (atomic_load(&loader_rounds) < from + 50)
			sched_yield();
		pid_t child = fork();
		WL_CHECK(child >= 0);
		if (child == 0) {
			alarm(2);
			for (int k = 0; k < 4; k++)
				free(k % 2 ? loader_b(32) : loader_a(32));
			_exit(0);
		}
		int status;
		WL_CHECK(waitpid(child, &status, 0) == child);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			hung++;
	}
	atomic_store(&stop_churn, 1);
	for (int i = 0; i < 2; i++)
		WL_CHECK(pthread_join(th[i], NULL) == 0);
	printf("children=%d hung=%d\n", LOADER_CHILDREN, hung);
	return hung ? 1 : 0;
}

#define GATE_CHILDREN 200
#define GATE_RING 64
#define SIGNAL_CHILDREN 300

static atomic_int stop_gate;

/* Fork CHILDREN children, each exiting at once, while the NTH threads TH
 * run; then stop and join them, print "forks=N" and return 0. */
static int fork_while(pthread_t *th, int nth, int children)
{
	int n = 0;
	for (; n < children; n++) {
		pid_t c = fork();
		WL_CHECK(c >= 0);
		if (c == 0)
			_exit(0);
		reap(c);
	}
	atomic_store(&stop_gate, 1);
	for (int i = 0; i < nth; i++)
		WL_CHECK(pthread_join(th[i], NULL) == 0);
	printf("forks=%d\n", n);
	return 0;
}
static char lines[1 << 16];

static void *gate_reader(void *arg)
{
	FILE *f = fmemopen(lines, sizeof lines - 1, "r");
	WL_CHECK(f != NULL);
	while (!atomic_load(&stop_gate)) {
		char *line = NULL;
		size_t n = 0;
		rewind(f);
		while (getline(&line, &n, f) > 0)
			;
		free(line);
	}
	fclose(f);
	return arg;
}

static void *gate_flusher(void *arg)
{
	while (!atomic_load(&stop_gate))
		fflush(NULL);
	return arg;
}

static void nothing(void)
{
}

static void *gate_registrar(void *arg)
{
	for (int i = 0; i < 2000 && !atomic_load(&stop_gate); i++)
		WL_CHECK(pthread_atfork(nothing, NULL, NULL) == 0);
	return arg;
}

WL_SITE static void *site_gate_ring(void)
{
	void *p = malloc(100);
	__asm__ volatile("" : : "r"(p) : "memory"); /* no tail call */
	return p;
}

WL_SITE static void site_gate_churn(void)
{
	void *p = malloc(40);
	WL_CHECK(p != NULL);
	p = realloc(p, 4000);
	WL_CHECK(p != NULL);
	free(p);
}

struct ring {
	void *blocks[GATE_RING];
	unsigned long round;
};

/* One round through call path PATH: one of 8 x 8 x 8 functions deep. */
typedef void path_fn(struct ring *, unsigned);
static path_fn *paths[8];

static void round_at(struct ring *r, unsigned path)
{
	(void)path;
	unsigned i = r->round++ % GATE_RING;
	free(r->blocks[i]);
	r->blocks[i] = site_gate_ring();
	WL_CHECK(r->blocks[i] != NULL);
	site_gate_churn();
}

#define PATH_FN(k)                                                       \
	WL_SITE static void path##k(struct ring *r, unsigned path)       \
	{                                                                \
		if (path)                                                \
			paths[path % 8](r, path / 8);                    \
		else                                                     \
			round_at(r, 0);                                  \
		__asm__ volatile("" ::: "memory"); /* no tail call */    \
	}
PATH_FN(0) PATH_FN(1) PATH_FN(2) PATH_FN(3) PATH_FN(4) PATH_FN(5) PATH_FN(6) PATH_FN(7)
static path_fn *paths[8] = { path0, path1, path2, path3, path4, path5, path6, path7 };

static struct ring rings[2];

static void *gate_churn(void *arg)
{
	struct ring *r = arg;
	/* A new path every 16 rounds for the first 8192 of them. */
	while (!atomic_load(&stop_gate))
		paths[0](r, (unsigned)(r->round / 16 % 512) + 512);
	return NULL;
}

static int mode_gate(void)
{
	for (size_t i = 0; i < sizeof lines - 1; i++)
		lines[i] = i % 4000 == 3999 ? '\n' : 'a';
	pthread_t th[5];
	void *(*fn[5])(void *) = { gate_reader, gate_flusher, gate_registrar, gate_churn, gate_churn };
	void *arg[5] = { NULL, NULL, NULL, &rings[0], &rings[1] };
	for (int i = 0; i < 5; i++)
		WL_CHECK(pthread_create(&th[i], NULL, fn[i], arg[i]) == 0);
	return fork_while(th, 5, GATE_CHILDREN);
}

#define MIX_CHILDREN 300
#define MIX_RING 64
#define MIX_DEPTH 12

WL_SITE static void *site_mix_leaf(size_t n)
{
	void *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

/* BITS picks each of DEPTH callers: 2^DEPTH paths to site_mix_leaf. */
WL_SITE static void *mix_b(unsigned bits, int depth, size_t n);
WL_SITE static void *mix_a(unsigned bits, int depth, size_t n)
{
	void *p = depth ? (bits & 1 ? mix_a : mix_b)(bits >> 1, depth - 1, n) : site_mix_leaf(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

WL_SITE static void *mix_b(unsigned bits, int depth, size_t n)
{
	void *p = depth ? (bits & 1 ? mix_a : mix_b)(bits >> 1, depth - 1, n) : site_mix_leaf(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static void *mix_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919 + 1;
	void *ring[MIX_RING] = { 0 };
	for (unsigned i = 0; !atomic_load(&stop_gate); i++) {
		free(ring[i % MIX_RING]);
		unsigned bits = (unsigned)rand_r(&seed);
		WL_CHECK((ring[i % MIX_RING] = mix_a(bits, MIX_DEPTH, 24 + bits % 7 * 40)) != NULL);
		void *p = mix_a(bits >> 3, MIX_DEPTH, 100);
		WL_CHECK(p != NULL);
		free(p);
	}
	for (int i = 0; i < MIX_RING; i++)
		free(ring[i]);
	return NULL;
}

static int mode_mix(void)
{
	pthread_t th[4];
	for (uintptr_t i = 0; i < 4; i++)
		WL_CHECK(pthread_create(&th[i], NULL, mix_thread, (void *)i) == 0);
	return fork_while(th, 4, MIX_CHILDREN);
}

static volatile sig_atomic_t signal_forks, signal_failed, signal_child;

static void fork_in_handler(int sig)
{
	(void)sig;
	int saved = errno;
	pid_t c = fork();
	if (c == 0) {
		/* Back to where the signal came, maybe inside the agent,
		 * where the child goes on (ended by the alarm if it hangs). */
		alarm(10);
		signal_child = 1;
		errno = saved;
		return;
	}
	int status;
	if (c < 0 || waitpid(c, &status, 0) != c || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		signal_failed = 1;
	signal_forks++;
	errno = saved;
}

WL_SITE static void *site_signal_ring(void)
{
	void *p = malloc(100);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

/* Forks without pause, SIGPROF blocked (the timer's signal goes to main). */
static void *thread_forks(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPROF);
	WL_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	while (!atomic_load(&stop_gate)) {
		pid_t c = fork();
		WL_CHECK(c >= 0);
		if (c == 0)
			_exit(0);
		reap(c);
	}
	return arg;
}

static int mode_signal(void)
{
	struct sigaction sa = { .sa_handler = fork_in_handler };
	sigemptyset(&sa.sa_mask);
	WL_CHECK(sigaction(SIGPROF, &sa, NULL) == 0);
	pthread_t forker;
	WL_CHECK(pthread_create(&forker, NULL, thread_forks, NULL) == 0);
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	WL_CHECK(setitimer(ITIMER_PROF, &it, NULL) == 0);
	void *ring[GATE_RING] = { 0 };
	for (unsigned long i = 0; signal_child || signal_forks < SIGNAL_CHILDREN; i++) {
		if (signal_child) {
			for (int k = 0; k < GATE_RING; k++)
				free(ring[k]);
			_exit(0);
		}
		free(ring[i % GATE_RING]);
		ring[i % GATE_RING] = site_signal_ring();
		WL_CHECK(ring[i % GATE_RING] != NULL);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	WL_CHECK(setitimer(ITIMER_PROF, &off, NULL) == 0);
	atomic_store(&stop_gate, 1);
	WL_CHECK(pthread_join(forker, NULL) == 0);
	printf("forks=%d\n", (int)signal_forks);
	return signal_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc == 2 && strcmp(argv[1], "fork") == 0)
		return mode_fork();
	if (argc == 3 && strcmp(argv[1], "fork-exec") == 0)
		return mode_fork_exec(argv[2]);
	if (argc == 2 && strcmp(argv[1], "loader") == 0)
		return mode_loader();
	if (argc == 2 && strcmp(argv[1], "gate") == 0)
		return mode_gate();
	if (argc == 2 && strcmp(argv[1], "mix") == 0)
		return mode_mix();
	if (argc == 2 && strcmp(argv[1], "signal") == 0)
		return mode_signal();
	wl_say("usage: wl_fork fork | fork-exec WL_BASIC | loader | gate | mix | signal");
	return 2;
}
