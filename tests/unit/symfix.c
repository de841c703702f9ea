/* Fixture for test_symbolizer (see symfix.h).  Keep the statements whose
 * line numbers are recorded on the same line as the __LINE__ that records
 * them. */
#include "config.h"

#include "symfix.h"

/* Volatile so that -O2 keeps every call and store in place. */
static volatile int symfix_sink;

unsigned symfix_capture_line;
unsigned symfix_call_line;

const unsigned symfix_leaf_line = __LINE__ + 1;
__attribute__((noinline)) int symfix_leaf(int x)
{
	symfix_sink += x;
	return x * 3 + symfix_sink;
}

__attribute__((noinline)) static void *symfix_capture(void)
{
	symfix_sink++;
	return __builtin_return_address(0);
}

/* The store after the call keeps it from being a tail call, so the return
 * address stays inside the inlined code. */
static inline __attribute__((always_inline)) void *symfix_inlined(int x)
{
	symfix_sink += x;
	symfix_capture_line = __LINE__; void *ra = symfix_capture();
	symfix_sink += x;
	return ra;
}

__attribute__((noinline)) void *symfix_outer(int x)
{
	symfix_sink += 1;
	symfix_call_line = __LINE__; void *ra = symfix_inlined(x);
	symfix_sink += 2;
	return ra;
}
