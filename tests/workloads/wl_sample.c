/*
 * Known sizes for checking sampling estimates.  At the ready point:
 *
 *   site_big     65536 x malloc(16384) = 1 GiB in 65536 blocks
 *   site_small  100000 x malloc(100)   = 10,000,000 B in 100000 blocks
 *   site_huge        4 x malloc(8 MiB)  = 32 MiB in 4 blocks
 *   site_calloc  32768 x calloc(2, 16384) = 1 GiB in 32768 blocks
 *   site_realloc 32768 x malloc(64) grown by realloc to 32768
 *                                       = 1 GiB in 32768 blocks
 *
 * plus churn: 1,000,000 x malloc(32)+free at site_churn (live 0).
 * Everything is freed after the ready point.
 */
#include <stdlib.h>
#include <string.h>

#include "wl.h"

#define BIG_N 65536
#define SMALL_N 100000
#define GROWN_N 32768

static void *big[BIG_N], *small[SMALL_N], *huge[4], *zeroed[GROWN_N], *grown[GROWN_N];

WL_SITE static void site_big(void)
{
	for (int i = 0; i < BIG_N; i++)
		big[i] = malloc(16384);
}

WL_SITE static void site_small(void)
{
	for (int i = 0; i < SMALL_N; i++)
		small[i] = malloc(100);
}

WL_SITE static void site_huge(void)
{
	for (int i = 0; i < 4; i++)
		huge[i] = malloc(8 << 20);
}

/* calloc and realloc have paths of their own for blocks that hold no
 * sample point. */
WL_SITE static void site_calloc(void)
{
	for (int i = 0; i < GROWN_N; i++)
		zeroed[i] = calloc(2, 16384);
}

WL_SITE static void site_realloc(void)
{
	for (int i = 0; i < GROWN_N; i++) {
		char *p = malloc(64);
		memset(p, 1, 64);
		grown[i] = realloc(p, 32768);
	}
}

WL_SITE static void site_churn(void)
{
	for (int i = 0; i < 1000000; i++) {
		void *p = malloc(32);
		*(volatile char *)p = 1;
		free(p);
	}
}

int main(void)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	site_big();
	site_small();
	site_huge();
	site_calloc();
	site_realloc();
	site_churn();
	wl_ready("phase=allocated");
	wl_wait();
	for (int i = 0; i < BIG_N; i++)
		free(big[i]);
	for (int i = 0; i < SMALL_N; i++)
		free(small[i]);
	for (int i = 0; i < 4; i++)
		free(huge[i]);
	for (int i = 0; i < GROWN_N; i++) {
		free(zeroed[i]);
		free(grown[i]);
	}
	wl_ready("phase=freed");
	wl_wait();
	return 0;
}
