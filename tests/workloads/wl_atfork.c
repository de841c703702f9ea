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
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

int main(void)
{
	wl_watchdog(20); /* 200 forks take about a second */
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
