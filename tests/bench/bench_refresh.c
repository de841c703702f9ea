/*
 * What one refresh of the live view costs the viewer, done by the live
 * view's own code without the screen: fetch a snapshot on a connection
 * that already holds the stacks (incremental), make a heap of it from the
 * session's shared frame store (src/viewer/session.c), hand it to the live
 * view (live_set_heap, which frees the heap of the refresh before), let it
 * recompute (live_recompute: the model's rows, the selection followed by
 * its key), then make the text of every cell of the rows a screen shows
 * and the selected row's source line, as src/viewer/ui/table.c does.
 *
 * The target (bench_sites, bench_lines) is at rest, and a live view skips
 * the recompute of a heap that counts the same allocations as the rows on
 * screen; the benchmark recomputes every time, as for a program whose
 * counters change between refreshes.  With --diff the first heap is the
 * mark and every refresh compares with it (sorted by delta), as after the
 * `m` and `d` keys or with --diff.  With --search TEXT the rows are those a
 * search being typed (`/`) lets through, which tests every row.
 *
 * The first refresh (every stack sent and symbolized) is timed apart; the
 * later ones are the steady state.  Times are the process's CPU time (the
 * agent's encoding runs in the target and is not counted) and wall time;
 * "model_ms" is the CPU time of live_recompute alone.  Not part of
 * `make check`.
 *
 * Usage: bench_refresh (--pid PID | --socket PATH) [--runs N] [--diff]
 *                      [--group line|function|file|module|traceback]
 *                      [--search TEXT]
 * Prints key=value lines:
 *   first cpu_ms=.. wall_ms=.. stacks=.. rows=..
 *   refresh cpu_ms_median=.. cpu_ms_min=.. cpu_ms_max=.. wall_ms_median=..
 *           model_ms_median=.. rows=..
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "viewer/client.h"
#include "viewer/format.h"
#include "viewer/heap.h"
#include "viewer/live.h"
#include "viewer/settings.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define FETCH_TIMEOUT_MS 30000
#define SHOWN_ROWS 50 /* rows a screen shows */

struct refresher {
	struct client *client;
	struct snapshot *snap;
	struct symbolizer *sym;
	struct heap_shared *frames; /* stacks symbolized once for all heaps */
	uint32_t declared_gen;
	struct live *lv;
	int diff;
	int marked;
	double model_ms; /* of the last refresh */
};

static double clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The text of the cells of the rows on screen, as the table draws them;
 * returns its length so that nothing is optimised away. */
static size_t draw_rows(struct live *lv)
{
	struct live_status st;
	live_status(lv, &st);
	size_t len = 0, n = live_row_count(lv);
	for (size_t i = live_top(lv); i < n && i < live_top(lv) + SHOWN_ROWS; i++) {
		const struct model_row *r = live_row(lv, i);
		char buf[512];
		const char *fn = live_function(r, st.group);
		len += strlen(live_location(r, st.group, buf, sizeof buf));
		len += fn ? strlen(fn) : 0;
		format_size(buf, sizeof buf, (double)r->size, 0);
		len += strlen(buf);
		format_size(buf, sizeof buf, (double)r->allocated, 0);
		len += strlen(buf);
		if (st.diff) {
			format_size(buf, sizeof buf, (double)r->size_diff, 1);
			len += strlen(buf);
			format_size(buf, sizeof buf, (double)r->born, 0);
			len += strlen(buf);
		}
		len += (size_t)snprintf(buf, sizeof buf, "%lld %.1f", (long long)r->count,
					st.total_size ? 100.0 * (double)r->size /
								(double)st.total_size
						      : 0.0);
	}
	const struct model_row *sel = live_row(lv, live_selected(lv));
	const char *src = sel ? live_source(lv, sel->frame) : NULL;
	return len + (src ? strlen(src) : 0);
}

/* One refresh; returns the number of rows. */
static size_t refresh(struct refresher *r)
{
	char *cause = NULL;
	if (client_fetch(r->client, r->snap, 0, FETCH_TIMEOUT_MS, &cause) < 0) {
		fprintf(stderr, "bench_refresh: %s\n", cause);
		exit(1);
	}
	if (snapshot_module_generation(r->snap) != r->declared_gen) {
		heap_declare_modules(r->sym, r->snap);
		r->declared_gen = snapshot_module_generation(r->snap);
	}
	struct heap *h = heap_from_shared(r->frames);
	live_set_time(r->lv, (uint64_t)clock_ms(CLOCK_MONOTONIC));
	if (r->diff && !r->marked) {
		live_set_mark(r->lv, h);
		r->marked = 1;
	} else {
		live_set_heap(r->lv, h);
	}
	double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	live_recompute(r->lv);
	r->model_ms = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (draw_rows(r->lv) == 0 && live_row_count(r->lv) > 0)
		fprintf(stderr, "bench_refresh: empty rows\n");
	return live_row_count(r->lv);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'n' },
		{ "group", required_argument, NULL, 'g' },
		{ "diff", no_argument, NULL, 'd' },
		{ "search", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	char *path = NULL;
	const char *search = NULL;
	long runs = 10;
	int group = GROUP_LINE, diff = 0, ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': path = client_default_socket_path((pid_t)atol(optarg)); break;
		case 's': path = xstrdup(optarg); break;
		case 'n': runs = atol(optarg); break;
		case 'g': group = model_group_parse(optarg); break;
		case 'd': diff = 1; break;
		case 'f': search = optarg; break;
		default: runs = 0; break;
		}
	}
	if (!path || optind != argc || runs < 1 || group < 0) {
		fputs("usage: bench_refresh (--pid PID | --socket PATH) [--runs N] [--diff] "
		      "[--group KEY] [--search TEXT]\n", stderr);
		return 2;
	}
	struct settings s = { .delay = 1, .group = (enum model_group)group, .sort = SORT_SIZE,
			      .skip_system = 1, .diff = diff };
	struct refresher r = {
		.snap = snapshot_new(),
		.sym = symbolizer_new(),
		.lv = live_new(&s),
		.diff = diff,
	};
	live_set_page(r.lv, SHOWN_ROWS);
	if (search) /* typed after `/`, not yet kept with Enter */
		live_search_set(r.lv, search);
	char *cause = NULL;
	r.frames = heap_shared_new(r.snap, r.sym);
	r.client = client_connect(path, &cause);
	if (!r.client) {
		fprintf(stderr, "bench_refresh: %s\n", cause);
		return 1;
	}

	double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
	size_t rows = refresh(&r);
	printf("first cpu_ms=%.1f wall_ms=%.1f stacks=%u rows=%zu\n",
	       clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0, clock_ms(CLOCK_MONOTONIC) - w0,
	       snapshot_stack_count(r.snap), rows);

	double *cpu = xreallocarray(NULL, (size_t)runs, sizeof *cpu);
	double *wall = xreallocarray(NULL, (size_t)runs, sizeof *wall);
	double *model = xreallocarray(NULL, (size_t)runs, sizeof *model);
	for (long i = 0; i < runs; i++) {
		c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
		w0 = clock_ms(CLOCK_MONOTONIC);
		rows = refresh(&r);
		cpu[i] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
		wall[i] = clock_ms(CLOCK_MONOTONIC) - w0;
		model[i] = r.model_ms;
	}
	qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
	qsort(wall, (size_t)runs, sizeof *wall, cmp_double);
	qsort(model, (size_t)runs, sizeof *model, cmp_double);
	printf("refresh cpu_ms_median=%.1f cpu_ms_min=%.1f cpu_ms_max=%.1f wall_ms_median=%.1f "
	       "model_ms_median=%.1f rows=%zu\n",
	       cpu[runs / 2], cpu[0], cpu[runs - 1], wall[runs / 2], model[runs / 2], rows);

	free(cpu);
	free(wall);
	free(model);
	live_free(r.lv);
	heap_shared_unref(r.frames);
	client_close(r.client);
	snapshot_free(r.snap);
	symbolizer_free(r.sym);
	free(path);
	return 0;
}
