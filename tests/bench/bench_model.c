/*
 * Rough benchmark of the model: a heap of 100 000 stacks of 20 frames each
 * (the innermost in the C library, the others spread over ~50 000 distinct
 * source lines in 500 files), computed under every grouping, cumulative or
 * not, and against a base.  Prints the best of a few runs in milliseconds
 * of CPU time (the thread's, so that other load on the machine counts less).
 * Symbolization is not measured: the heap is built by hand.  Not part of
 * `make check`.
 *
 * Build (from a configured build directory, without sanitizers):
 *   gcc -O2 -g -I$srcdir/src -I. $srcdir/tests/bench/bench_model.c \
 *       $srcdir/src/viewer/model.c $srcdir/src/viewer/heap.c \
 *       $srcdir/src/viewer/symbolizer.c $srcdir/src/viewer/snapshot.c \
 *       $srcdir/src/proto/proto.c $srcdir/src/common/xalloc.c \
 *       -ldw -lelf -o bench_model
 * Run:
 *   ./bench_model [STACKS [RUNS [GROUPING]]]   (GROUPING: only that one)
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/xalloc.h"
#include "viewer/heap.h"
#include "viewer/model.h"

#define DEPTH 20
#define LINES 50000
#define LINES_PER_FILE 100

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The names of line L (0 .. LINES-1): its file and its function. */
static char **files, **functions;

static void make_names(void)
{
	files = xcalloc(LINES / LINES_PER_FILE, sizeof *files);
	functions = xcalloc(LINES / 10, sizeof *functions);
	for (int i = 0; i < LINES / LINES_PER_FILE; i++)
		files[i] = xasprintf("/home/user/src/project/module%02d/file%03d.c", i % 17, i);
	for (int i = 0; i < LINES / 10; i++)
		functions[i] = xasprintf("function_number_%d", i);
}

static struct heap_frame line_frame(unsigned l)
{
	return (struct heap_frame){
		.function = functions[l / 10], .file = files[l / LINES_PER_FILE],
		.line = l % LINES_PER_FILE + 1, .module = "/usr/bin/bench-target",
	};
}

static struct heap *make_heap(uint32_t nstacks, int scale)
{
	struct heap_info info = { .exe = "/usr/bin/bench-target", .cmdline = "bench" };
	struct heap *h = heap_new(&info);
	struct heap_frame f[DEPTH];
	for (uint32_t i = 0; i < nstacks; i++) {
		f[0] = (struct heap_frame){ .function = "malloc",
					    .module = "/usr/lib/x86_64-linux-gnu/libc.so.6" };
		for (int d = 1; d < DEPTH; d++)
			f[d] = line_frame((unsigned)(rng() % LINES));
		int64_t blocks = (int64_t)(rng() % 100) + 1;
		struct heap_counter c = { .live_bytes = blocks * 64 * scale, .live_blocks = blocks,
					  .total_bytes = (uint64_t)blocks * 128,
					  .total_blocks = (uint64_t)blocks * 2 };
		heap_add_stack(h, &c, f, DEPTH);
	}
	return h;
}

static void bench(struct model *m, const struct model_options *o, struct heap *h,
		  struct heap *base, int runs, const char *what)
{
	double best = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		model_compute(m, o, h, base);
		double t = now_ms() - t0;
		if (r == 0 || t < best)
			best = t;
	}
	printf("%-36s %8.2f ms  %7zu rows\n", what, best, model_row_count(m));
}

int main(int argc, char **argv)
{
	uint32_t nstacks = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	int only = argc > 3 ? model_group_parse(argv[3]) : -1;
	make_names();
	double t0 = now_ms();
	struct heap *h = make_heap(nstacks, 1), *base = make_heap(nstacks, 2);
	printf("%" PRIu32 " stacks x %d frames, %d lines: heaps built in %.0f ms\n", nstacks,
	       DEPTH, LINES, now_ms() - t0);

	struct model *m = model_new();
	for (int g = GROUP_LINE; g <= GROUP_TRACEBACK; g++) {
		if (only >= 0 && g != only)
			continue;
		for (int cumulative = 0; cumulative <= (g != GROUP_TRACEBACK); cumulative++) {
			struct model_options o = { .group = (enum model_group)g, .sort = SORT_SIZE,
						   .skip_system = 1, .cumulative = cumulative };
			char what[64];
			snprintf(what, sizeof what, "%s%s", model_group_name(o.group),
				 cumulative ? " cumulative" : "");
			bench(m, &o, h, NULL, runs, what);
		}
	}
	if (only >= 0)
		goto out;
	struct model_options o = { .group = GROUP_LINE, .sort = SORT_DELTA, .skip_system = 1 };
	bench(m, &o, h, base, runs, "line, diff against a base");
	const char *const exclude[] = { "*file01?.c", "function_number_4*", NULL };
	o = (struct model_options){ .group = GROUP_LINE, .skip_system = 1, .exclude = exclude };
	bench(m, &o, h, NULL, runs, "line, 2 exclude filters");
	const char *const skip[] = { "xmalloc", NULL };
	o = (struct model_options){ .group = GROUP_LINE, .skip_system = 1, .skip = skip };
	bench(m, &o, h, NULL, runs, "line, 1 skip pattern");

	t0 = now_ms();
	long found = 0;
	for (size_t i = 0; i < model_row_count(m); i++)
		found += model_find(m, model_row(m, i)->key) >= 0;
	printf("model_find of all %ld rows: %.2f ms\n", found, now_ms() - t0);
out:
	model_free(m);
	heap_free(h);
	heap_free(base);
	for (int i = 0; i < LINES / LINES_PER_FILE; i++)
		free(files[i]);
	for (int i = 0; i < LINES / 10; i++)
		free(functions[i]);
	free(files);
	free(functions);
	return 0;
}
