/*
 * wl_batch's second file, so that grouping by file has two files and
 * grouping by line two files' lines.  Tests find the lines by the marker
 * comments (grep -n '@util_alloc' and so on), never by number.
 */
#include <stdlib.h>

#include "wl.h"
#include "wl_batch_util.h"

#define MAX_HELD 1024

static void *held[MAX_HELD];
static int nheld;

void wl_hold(void *p)
{
	WL_CHECK(p != NULL);
	WL_CHECK(nheld < MAX_HELD);
	held[nheld++] = p;
}

WL_SITE void *xmalloc(size_t n)
{
	void *p = malloc(n); /* @xmalloc */
	if (p == NULL)
		abort();
	return p;
}

WL_SITE void util_alloc(void)
{
	for (int i = 0; i < 5; i++)
		wl_hold(malloc(640)); /* @util_alloc */
}

WL_SITE void util_calloc(void)
{
	for (int i = 0; i < 2; i++)
		wl_hold(calloc(1, 900)); /* @util_calloc */
}
