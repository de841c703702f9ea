/*
 * wl_batch: known allocations at known lines, for the batch mode's tests.
 *
 *   wl_batch run [STATUS]    the sites below, then exit STATUS (default 0)
 *                            with every block still live
 *   wl_batch grow [STATUS]   the sites, then site_grow every 100 ms, 15
 *                            times (about 1.5 s), then exit STATUS
 *   wl_batch wait-grow       the sites, "ready pid=PID", wait for a line on
 *                            stdin, then grow as "grow" does; exit 0
 *   wl_batch steps N         the sites, then N x site_grow at once; exit 0
 *   wl_batch sleep SECS      the sites, "ready pid=PID", sleep SECS; exit 0
 *   wl_batch signal          the sites, then raise(SIGUSR1)
 *
 * Every mode ends by printing "wl_batch: hello on stdout" on stdout and
 * "wl_batch: hello on stderr" on stderr (after the ready line, if any), so
 * tests can tell where the program's output went.
 *
 * Tests find the lines by the marker comments ("grep -n '@site_a'"), never
 * by number.  Live at exit, each line on its own (sizes in bytes):
 *
 *   line (marker)        function       calls                     size  blocks
 *   @site_a              site_a         4 x malloc(4096)          16384     4
 *   @site_c              site_c         malloc(8000)               8000     1
 *   @xmalloc (util.c)    xmalloc        through use_xmalloc_1/2    5900     5
 *     @xcall1              use_xmalloc_1  3 x xmalloc(1500)        4500     3
 *     @xcall2              use_xmalloc_2  2 x xmalloc(700)         1400     2
 *   @util_alloc (util.c) util_alloc     5 x malloc(640)            3200     5
 *   @util_calloc (util.c) util_calloc   2 x calloc(1, 900)         1800     2
 *   @recurse_alloc       recurse        malloc(256) at each of 4   1024     4
 *                                       levels; @recurse_call is the
 *                                       recursive call (3 levels below it:
 *                                       768 B in 3 blocks)
 *   @site_b              site_b         10 x malloc(100)           1000    10
 *   @site_strdup         site_strdup    6 x strdup(49 chars)        300     6
 *   @site_churn          site_churn     100 x malloc(2000), freed     0     0
 *                                       (allocated 200000 B in 100 blocks)
 *   @site_grow           site_grow      malloc(1024) each call    1024 each
 *
 * Total live without site_grow: 37608 B in 37 blocks; the peak is that
 * plus one block of site_churn, 39608 B.  Files: wl_batch.c 26708 B in 25
 * blocks, wl_batch_util.c 10900 B in 12 (with -k xmalloc: 32608 B in 30
 * and 5000 B in 7).  main calls every site from its own line
 * (@main_site_a and so on).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wl.h"
#include "wl_batch_util.h"

static volatile int levels; /* a store after the recursive call: no tail call */

WL_SITE static void site_a(void)
{
	for (int i = 0; i < 4; i++)
		wl_hold(malloc(4096)); /* @site_a */
}

WL_SITE static void site_b(void)
{
	for (int i = 0; i < 10; i++)
		wl_hold(malloc(100)); /* @site_b */
}

WL_SITE static void site_c(void)
{
	wl_hold(malloc(8000)); /* @site_c */
}

WL_SITE static void use_xmalloc_1(void)
{
	for (int i = 0; i < 3; i++)
		wl_hold(xmalloc(1500)); /* @xcall1 */
}

WL_SITE static void use_xmalloc_2(void)
{
	for (int i = 0; i < 2; i++)
		wl_hold(xmalloc(700)); /* @xcall2 */
}

WL_SITE static void recurse(int depth)
{
	wl_hold(malloc(256)); /* @recurse_alloc */
	if (depth > 1)
		recurse(depth - 1); /* @recurse_call */
	levels++;
}

WL_SITE static void site_strdup(void)
{
	static const char text[] = "0123456789012345678901234567890123456789012345678";

	for (int i = 0; i < 6; i++)
		wl_hold(strdup(text)); /* @site_strdup */
}

WL_SITE static void site_churn(void)
{
	for (int i = 0; i < 100; i++)
		free(malloc(2000)); /* @site_churn */
}

WL_SITE static void site_grow(void)
{
	wl_hold(malloc(1024)); /* @site_grow */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void usage(void)
{
	static const char text[] = "usage: wl_batch run|grow [STATUS] | wait-grow | "
				   "steps N | sleep SECS | signal\n";

	wl_write_all(STDERR_FILENO, text, sizeof text - 1);
	exit(2);
}

int main(int argc, char **argv)
{
	static const char err[] = "wl_batch: hello on stderr\n";
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 0;

	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (strcmp(mode, "run") != 0 && strcmp(mode, "grow") != 0 &&
	    strcmp(mode, "wait-grow") != 0 && strcmp(mode, "steps") != 0 &&
	    strcmp(mode, "sleep") != 0 && strcmp(mode, "signal") != 0)
		usage();
	site_a(); /* @main_site_a */
	site_b(); /* @main_site_b */
	site_c(); /* @main_site_c */
	use_xmalloc_1(); /* @main_xcall1 */
	use_xmalloc_2(); /* @main_xcall2 */
	util_alloc(); /* @main_util_alloc */
	util_calloc(); /* @main_util_calloc */
	recurse(4); /* @main_recurse */
	site_strdup(); /* @main_site_strdup */
	site_churn(); /* @main_site_churn */

	if (strcmp(mode, "wait-grow") == 0) {
		wl_ready("");
		wl_wait();
	}
	if (strcmp(mode, "grow") == 0 || strcmp(mode, "wait-grow") == 0) {
		for (int i = 0; i < 15; i++) {
			sleep_ms(100);
			site_grow(); /* @main_grow */
		}
	} else if (strcmp(mode, "steps") == 0) {
		for (int i = 0; i < n; i++)
			site_grow(); /* @main_steps */
		n = 0;
	} else if (strcmp(mode, "sleep") == 0) {
		wl_ready("");
		sleep_ms(1000L * n);
		n = 0;
	}
	wl_say("wl_batch: hello on stdout");
	wl_write_all(STDERR_FILENO, err, sizeof err - 1);
	if (strcmp(mode, "signal") == 0)
		raise(SIGUSR1);
	return n;
}
