/*
 * wl_live: a program to watch in the live view (tests/live-view.sh).
 *
 *   wl_live [SECONDS [STATUS]]
 *
 * Allocates 64 KiB once in stable_site and keeps it; then every 50 ms
 * allocates 1 KiB in grow_site and keeps it (a steady leak), and allocates
 * and frees 512 B in churn_site.  Every 200 ms it writes a "wl_live noise"
 * line to stdout and to stderr: the live view must keep that output off
 * the screen.  Runs until killed (SIGTERM ends it with status 0) or for
 * SECONDS seconds, then exits with STATUS (default 0).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wl.h"

#define GROW_BYTES 1024
#define STABLE_BYTES (64 * 1024)
#define CHURN_BYTES 512
#define TICK_MS 50

struct block {
	struct block *next;
	char data[];
};

static struct block *kept;
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	stopping = 1;
}

WL_SITE static void grow_site(void)
{
	struct block *b = malloc(sizeof *b + GROW_BYTES - sizeof *b);
	WL_CHECK(b != NULL);
	memset(b->data, 'g', GROW_BYTES - sizeof *b);
	b->next = kept;
	kept = b;
}

WL_SITE static void *stable_site(void)
{
	char *p = malloc(STABLE_BYTES);
	WL_CHECK(p != NULL);
	memset(p, 's', STABLE_BYTES);
	return p;
}

WL_SITE static void churn_site(void)
{
	char *p = malloc(CHURN_BYTES);
	WL_CHECK(p != NULL);
	p[0] = 'c';
	free(p);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	long seconds = argc > 1 ? atol(argv[1]) : 0;
	int status = argc > 2 ? atoi(argv[2]) : 0;
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	wl_watchdog(seconds > 0 && seconds < WL_WATCHDOG_SECONDS ? (unsigned)seconds + 30
								  : WL_WATCHDOG_SECONDS);
	void *stable = stable_site(); /* kept to the end: live at exit */
	for (long tick = 0; !stopping && (seconds <= 0 || tick * TICK_MS < seconds * 1000); tick++) {
		grow_site();
		churn_site();
		if (tick % 4 == 0) {
			wl_say("wl_live noise %ld on stdout", tick);
			wl_write_all(STDERR_FILENO, "wl_live noise on stderr\n", 24);
		}
		sleep_ms(TICK_MS);
	}
	(void)stable;
	return stopping ? 0 : status;
}
