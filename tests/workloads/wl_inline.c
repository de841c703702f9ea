/*
 * wl_inline: an allocating helper that is always inlined, called from two
 * functions; built with -O2 -g.  The symbolizer expands the return address
 * into its inline frames, innermost first, so every block's stack starts
 * with inl_alloc at @inl_malloc, then its caller at @inl_call1 or
 * @inl_call2, then main.  Live at exit (exit 0):
 *
 *   caller_one   3 x inl_alloc(3000)   9000 B in 3 blocks
 *   caller_two   2 x inl_alloc(500)    1000 B in 2 blocks
 *
 * The helper is always_inline, so it is inlined whatever the optimisation
 * level that the user's CFLAGS (which come last) ask for.
 */
#include <stdlib.h>

#include "wl.h"

#define MAX_HELD 16

static void *held[MAX_HELD];
static int nheld;

static void hold(void *p)
{
	WL_CHECK(p != NULL && nheld < MAX_HELD);
	held[nheld++] = p;
}

static inline __attribute__((always_inline)) void *inl_alloc(size_t n)
{
	void *p = malloc(n); /* @inl_malloc */
	if (p == NULL)
		abort();
	return p;
}

WL_SITE static void caller_one(void)
{
	for (int i = 0; i < 3; i++)
		hold(inl_alloc(3000)); /* @inl_call1 */
}

WL_SITE static void caller_two(void)
{
	for (int i = 0; i < 2; i++)
		hold(inl_alloc(500)); /* @inl_call2 */
}

int main(void)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	caller_one(); /* @inl_main1 */
	caller_two(); /* @inl_main2 */
	return 0;
}
