/*
 * A target with many distinct allocation stacks that stay live: SITES
 * stacks (at most 100 000), each holding BLOCKS blocks of SIZE bytes, so
 * that the suite can measure a snapshot's latency and size, a viewer
 * refresh, and the agent's memory per stack and per live block.
 *
 * Stack number N is a path through a call tree of five levels with ten
 * call sites each, chosen by the decimal digits of N (level 1 by the last
 * digit): 10^5 distinct stacks, every call from its own source line, so
 * that grouped by traceback they are 10^5 rows too (by line, 10).  Under
 * the tree, a fixed recursion makes the stacks about 20 frames deep, like
 * those of a real program.  Compiled without optimisation whatever CFLAGS
 * say (the pragma below), so that no call is merged or turned into a jump:
 *   gcc -g -fno-omit-frame-pointer bench_sites.c -o bench_sites
 * Run:
 *   bench_sites [SITES [BLOCKS [SIZE]]]      (default 100000 1 32)
 * When every block is allocated it prints "ready pid=PID sites=S blocks=B"
 * on stdout, then waits for a line (or end of file) on stdin, frees
 * everything and exits.  It ends itself after 10 minutes in any case.
 * Not part of `make check`.
 */
/* Ten identical calls in a switch are one call at -O2; the user's CFLAGS
 * come last on the command line, so the file says it itself. */
#if defined(__clang__)
#pragma clang optimize off
#elif defined(__GNUC__)
#pragma GCC optimize("O0")
#endif

#include <stdlib.h>
#include <unistd.h>

#include "bench_target.h"

#define MAX_SITES 100000u
#define PREFIX_DEPTH 12 /* frames of the fixed recursion above the tree */
#define WATCHDOG_SECONDS 600

static size_t block_size = 32;

/* Level 5: ten allocating lines.  Each level is a function of its own and
 * each of its calls a line of its own, so that every path has its own
 * return addresses. */
static void *sites_level5(unsigned path)
{
	switch (path % 10) {
	case 0: return malloc(block_size);
	case 1: return malloc(block_size);
	case 2: return malloc(block_size);
	case 3: return malloc(block_size);
	case 4: return malloc(block_size);
	case 5: return malloc(block_size);
	case 6: return malloc(block_size);
	case 7: return malloc(block_size);
	case 8: return malloc(block_size);
	default: return malloc(block_size);
	}
}

/* Levels 1 to 4: ten calls of the next level each, every one on a line
 * of its own (so that tracebacks differ line by line too); the result
 * goes through a local so that no call is a tail call. */
static void *sites_level4(unsigned path)
{
	void *p;
	switch (path % 10) {
	case 0: p = sites_level5(path / 10); break;
	case 1: p = sites_level5(path / 10); break;
	case 2: p = sites_level5(path / 10); break;
	case 3: p = sites_level5(path / 10); break;
	case 4: p = sites_level5(path / 10); break;
	case 5: p = sites_level5(path / 10); break;
	case 6: p = sites_level5(path / 10); break;
	case 7: p = sites_level5(path / 10); break;
	case 8: p = sites_level5(path / 10); break;
	default: p = sites_level5(path / 10); break;
	}
	return p;
}

static void *sites_level3(unsigned path)
{
	void *p;
	switch (path % 10) {
	case 0: p = sites_level4(path / 10); break;
	case 1: p = sites_level4(path / 10); break;
	case 2: p = sites_level4(path / 10); break;
	case 3: p = sites_level4(path / 10); break;
	case 4: p = sites_level4(path / 10); break;
	case 5: p = sites_level4(path / 10); break;
	case 6: p = sites_level4(path / 10); break;
	case 7: p = sites_level4(path / 10); break;
	case 8: p = sites_level4(path / 10); break;
	default: p = sites_level4(path / 10); break;
	}
	return p;
}

static void *sites_level2(unsigned path)
{
	void *p;
	switch (path % 10) {
	case 0: p = sites_level3(path / 10); break;
	case 1: p = sites_level3(path / 10); break;
	case 2: p = sites_level3(path / 10); break;
	case 3: p = sites_level3(path / 10); break;
	case 4: p = sites_level3(path / 10); break;
	case 5: p = sites_level3(path / 10); break;
	case 6: p = sites_level3(path / 10); break;
	case 7: p = sites_level3(path / 10); break;
	case 8: p = sites_level3(path / 10); break;
	default: p = sites_level3(path / 10); break;
	}
	return p;
}

static void *sites_level1(unsigned path)
{
	void *p;
	switch (path % 10) {
	case 0: p = sites_level2(path / 10); break;
	case 1: p = sites_level2(path / 10); break;
	case 2: p = sites_level2(path / 10); break;
	case 3: p = sites_level2(path / 10); break;
	case 4: p = sites_level2(path / 10); break;
	case 5: p = sites_level2(path / 10); break;
	case 6: p = sites_level2(path / 10); break;
	case 7: p = sites_level2(path / 10); break;
	case 8: p = sites_level2(path / 10); break;
	default: p = sites_level2(path / 10); break;
	}
	return p;
}

static void *sites_prefix(unsigned depth, unsigned path)
{
	void *p = depth ? sites_prefix(depth - 1, path) : sites_level1(path);
	return p;
}

int main(int argc, char **argv)
{
	unsigned long sites =
		argc > 1 ? bench_arg("bench_sites", argv[1], 1, MAX_SITES) : MAX_SITES;
	unsigned long blocks = argc > 2 ? bench_arg("bench_sites", argv[2], 1, 1ul << 28) : 1;
	block_size = argc > 3 ? bench_arg("bench_sites", argv[3], 1, 1ul << 20) : 32;
	alarm(WATCHDOG_SECONDS);

	void **held = malloc(sites * blocks * sizeof *held);
	if (!held)
		return 1;
	size_t n = 0;
	for (unsigned long b = 0; b < blocks; b++)
		for (unsigned long s = 0; s < sites; s++)
			held[n++] = sites_prefix(PREFIX_DEPTH, (unsigned)s);

	bench_ready_and_wait(sites, blocks);
	for (size_t i = 0; i < n; i++)
		free(held[i]);
	free(held);
	return 0;
}
