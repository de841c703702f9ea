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
 * The program exits 1 if a child did not exit 0.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc == 2 && strcmp(argv[1], "fork") == 0)
		return mode_fork();
	if (argc == 3 && strcmp(argv[1], "fork-exec") == 0)
		return mode_fork_exec(argv[2]);
	if (argc == 2 && strcmp(argv[1], "loader") == 0)
		return mode_loader();
	wl_say("usage: wl_fork fork | fork-exec WL_BASIC | loader");
	return 2;
}
