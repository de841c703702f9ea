/*
 * wl_atfork: a thread allocates and frees while it holds a library's
 * mutex, which that library's fork handlers take too (libwl_atfork.so,
 * whose constructor registered them before the agent's); main forks
 * CHILDREN children meanwhile, each exiting at once.  The agent's own
 * fork handlers must take its locks after the library's: taken before,
 * the fork waits for the mutex while the thread that holds it waits in
 * the agent for a lock the fork holds.
 *
 *   wl_atfork    prints "forks=N" and exits 0; a fork that hangs is
 *                ended by alarm(2) (exit by SIGALRM)
 *
 *   wl_atfork window
 *     One fork, inside which (after the agent's prepare handler: see
 *     wl_atfork_compat.c) main waits while another thread allocates and
 *     frees, so that each of its calls finds the agent's locks held by
 *     the fork.  Main reaps the child (which exits 0 at once) and exits 0,
 *     printing "child=C".  Live at exit, in the parent and the child:
 *       site_before_window  1500 B, 3   (5 x 500 before the fork, 2 of
 *                                        them freed inside it)
 *       site_in_window     10000 B, 6   (10 x 1000 inside, on a stack
 *                                        new there; 4 freed, 2 moved by
 *                                        realloc to 3000 bytes, and a
 *                                        realloc that fails keeps its
 *                                        block)
 *       site_deep_window  640000 B, 20000 (32 bytes each, inside, from
 *                                        a stack 44 calls deep, new there)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wl.h"
#include "wl_atfork.h"

#define CHILDREN 200

static atomic_int stop;

WL_SITE static void *site_locked_alloc(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		wl_atfork_lock();
		void *p = malloc(64);
		WL_CHECK(p != NULL);
		free(p);
		wl_atfork_unlock();
	}
	return NULL;
}

static void *before[5], *inside[10];
static atomic_int window_warm, window_go, window_done;
static volatile size_t too_big = (size_t)PTRDIFF_MAX + 1;

WL_SITE static void site_before_window(void)
{
	for (int i = 0; i < 5; i++)
		WL_CHECK((before[i] = malloc(500)) != NULL);
}

WL_SITE static void site_in_window(void)
{
	for (int i = 0; i < 10; i++)
		WL_CHECK((inside[i] = malloc(1000)) != NULL);
	for (int i = 0; i < 4; i++)
		free(inside[i]);
	for (int i = 4; i < 6; i++)
		WL_CHECK((inside[i] = realloc(inside[i], 3000)) != NULL);
	WL_CHECK(realloc(inside[6], too_big) == NULL);
}

static void *deep[20000];

WL_SITE static void site_deep_window(int n)
{
	for (int i = 0; i < n; i++)
		WL_CHECK((deep[i] = malloc(32)) != NULL);
}

WL_SITE static void call_deep(int depth, int n)
{
	if (depth)
		call_deep(depth - 1, n);
	else
		site_deep_window(n);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

static void *window_thread(void *arg)
{
	/* Every frame of the stack made in the fork walked once before (a
	 * frame the walker has not seen ends a stack made in a fork), as a
	 * stack one call shorter. */
	call_deep(40, 1);
	free(deep[0]);
	atomic_store(&window_warm, 1);
	while (!atomic_load(&window_go))
		sched_yield();
	free(before[0]);
	free(before[1]);
	site_in_window();
	call_deep(41, 20000);
	atomic_store(&window_done, 1);
	return arg;
}

/* Inside the fork, on the forking thread. */
static void in_window(void)
{
	atomic_store(&window_go, 1);
	while (!atomic_load(&window_done))
		sched_yield();
}

static int mode_window(void)
{
	pthread_t t;
	site_before_window();
	WL_CHECK(pthread_create(&t, NULL, window_thread, NULL) == 0);
	while (!atomic_load(&window_warm))
		sched_yield();
	wl_atfork_window(in_window);
	pid_t c = fork();
	WL_CHECK(c >= 0);
	if (c == 0)
		_exit(0);
	wl_atfork_window(NULL);
	int status;
	WL_CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	WL_CHECK(pthread_join(t, NULL) == 0);
	wl_say("child=%ld", (long)c);
	return 0;
}

int main(int argc, char **argv)
{
	wl_watchdog(20); /* 200 forks take about a second */
	if (argc == 2 && strcmp(argv[1], "window") == 0)
		return mode_window();
	pthread_t t;
	WL_CHECK(pthread_create(&t, NULL, site_locked_alloc, NULL) == 0);
	int n = 0;
	for (; n < CHILDREN; n++) {
		pid_t c = fork();
		WL_CHECK(c >= 0);
		if (c == 0)
			_exit(0);
		int status;
		WL_CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	atomic_store(&stop, 1);
	WL_CHECK(pthread_join(t, NULL) == 0);
	wl_say("forks=%d", n);
	return 0;
}
