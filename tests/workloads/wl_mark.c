/*
 * The mark: blocks allocated before and after it, some freed on each side.
 *
 *   phase 1:  site_before   10 x malloc(1000)             ready "before"
 *   (the test sets the mark here)
 *   phase 2:  site_after     5 x malloc(2000)
 *             site_churn  1000 x malloc(64) + free       (born 0: all freed)
 *             4 of site_before's blocks freed;
 *             2 of site_after's freed                      ready "after"
 *
 * Born since the mark at "after": site_after 3 x 2000 = 6000 B in 3 blocks,
 * site_before 0 (its blocks are older), site_churn 0.
 */
#include <stdlib.h>

#include "wl.h"

static void *before[10], *after[5];

WL_SITE static void site_before(void)
{
	for (int i = 0; i < 10; i++)
		before[i] = malloc(1000);
}

WL_SITE static void site_after(void)
{
	for (int i = 0; i < 5; i++)
		after[i] = malloc(2000);
}

WL_SITE static void site_churn(void)
{
	for (int i = 0; i < 1000; i++)
		free(malloc(64));
}

int main(void)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	site_before();
	wl_ready("phase=before");
	wl_wait();
	site_after();
	site_churn();
	for (int i = 0; i < 4; i++)
		free(before[i]);
	free(after[0]);
	free(after[1]);
	wl_ready("phase=after");
	wl_wait();
	for (int i = 4; i < 10; i++)
		free(before[i]);
	for (int i = 2; i < 5; i++)
		free(after[i]);
	return 0;
}
