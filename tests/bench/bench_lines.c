/*
 * A target whose live blocks come from many distinct source lines: SITES
 * allocating lines (at most 100 000), one block of SIZE bytes each, so that
 * grouped by line the viewer has as many rows as sites (bench_sites has
 * 10^5 stacks but only 11 line rows).  The lines are generated
 * (tests/bench/gen_lines.sh: 1000 functions of 100 lines, each a `malloc`
 * on a line of its own); the stacks are short (the allocating function
 * under main).  Compiled without optimisation (as bench_sites is), with
 * debug information, so that every line keeps its own call:
 *   tests/bench/gen_lines.sh >bench_lines_gen.c
 *   gcc -O0 -g bench_lines.c bench_lines_gen.c -o bench_lines
 * Run:
 *   bench_lines [SITES [SIZE]]      (default 100000 32)
 * When every block is allocated it prints "ready pid=PID sites=S blocks=S"
 * on stdout, then waits for a line (or end of file) on stdin, frees
 * everything and exits.  It ends itself after 10 minutes in any case.
 * Not part of `make check`.
 */
#if defined(__clang__)
#pragma clang optimize off
#elif defined(__GNUC__)
#pragma GCC optimize("O0")
#endif

#include <stdlib.h>
#include <unistd.h>

#include "bench_target.h"

#define WATCHDOG_SECONDS 600

/* Defined in the generated file. */
extern void *(*const lines_funcs[])(unsigned);
extern const unsigned lines_nfuncs, lines_per_func;

size_t lines_block_size = 32;
unsigned lines_last; /* the last function called (makes them differ) */

int main(int argc, char **argv)
{
	unsigned long max = (unsigned long)lines_nfuncs * lines_per_func;
	unsigned long sites = argc > 1 ? bench_arg("bench_lines", argv[1], 1, max) : max;
	lines_block_size = argc > 2 ? bench_arg("bench_lines", argv[2], 1, 1ul << 20) : 32;
	alarm(WATCHDOG_SECONDS);

	void **held = malloc(sites * sizeof *held);
	if (!held)
		return 1;
	for (unsigned long s = 0; s < sites; s++)
		held[s] = lines_funcs[s / lines_per_func]((unsigned)(s % lines_per_func));

	bench_ready_and_wait(sites, sites);
	for (unsigned long s = 0; s < sites; s++)
		free(held[s]);
	free(held);
	return 0;
}
