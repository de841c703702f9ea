/*
 * What one refresh of the live view costs the viewer: fetch a snapshot on a
 * connection that already holds the stacks (incremental), make a heap of
 * it from the session's shared frame store (src/viewer/session.c), compute
 * the model's rows, and free the heap of the refresh before, as
 * src/viewer/batch.c and the live view do.  The first refresh (every
 * stack sent and symbolized) is timed apart; the later ones are the
 * steady state.  Times are the process's CPU time (the agent's encoding
 * runs in the target and is not counted) and wall time.  Not part of
 * `make check`.
 *
 * Usage: bench_refresh (--pid PID | --socket PATH) [--runs N]
 *                      [--group line|function|file|module|traceback]
 * Prints key=value lines:
 *   first cpu_ms=.. wall_ms=.. stacks=.. rows=..
 *   refresh cpu_ms_median=.. cpu_ms_min=.. wall_ms_median=.. rows=..
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "viewer/client.h"
#include "viewer/heap.h"
#include "viewer/model.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define FETCH_TIMEOUT_MS 30000
#define SHOWN_ROWS 50 /* rows a screen shows: their keys are read */

struct refresher {
	struct client *client;
	struct snapshot *snap;
	struct symbolizer *sym;
	struct heap_shared *frames; /* stacks symbolized once for all heaps */
	uint32_t declared_gen;
	struct model *model;
	struct model_options opts;
	struct heap *shown;
};

static double clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
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
	model_compute(r->model, &r->opts, h, NULL);
	size_t rows = model_row_count(r->model), keys = 0;
	for (size_t i = 0; i < rows && i < SHOWN_ROWS; i++)
		keys += strlen(model_row(r->model, i)->key);
	if (keys == 0 && rows > 0)
		fprintf(stderr, "bench_refresh: empty keys\n");
	heap_free(r->shown);
	r->shown = h;
	return rows;
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
		{ NULL, 0, NULL, 0 },
	};
	char *path = NULL;
	long runs = 10;
	int group = GROUP_LINE, ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': path = client_default_socket_path((pid_t)atol(optarg)); break;
		case 's': path = xstrdup(optarg); break;
		case 'n': runs = atol(optarg); break;
		case 'g': group = model_group_parse(optarg); break;
		default: runs = 0; break;
		}
	}
	if (!path || optind != argc || runs < 1 || group < 0) {
		fputs("usage: bench_refresh (--pid PID | --socket PATH) [--runs N] "
		      "[--group KEY]\n", stderr);
		return 2;
	}
	struct refresher r = {
		.snap = snapshot_new(),
		.sym = symbolizer_new(),
		.model = model_new(),
		.opts = { .group = (enum model_group)group, .sort = SORT_SIZE, .skip_system = 1 },
	};
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
	for (long i = 0; i < runs; i++) {
		c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
		w0 = clock_ms(CLOCK_MONOTONIC);
		rows = refresh(&r);
		cpu[i] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
		wall[i] = clock_ms(CLOCK_MONOTONIC) - w0;
	}
	qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
	qsort(wall, (size_t)runs, sizeof *wall, cmp_double);
	printf("refresh cpu_ms_median=%.1f cpu_ms_min=%.1f wall_ms_median=%.1f rows=%zu\n",
	       cpu[runs / 2], cpu[0], wall[runs / 2], rows);

	free(cpu);
	free(wall);
	model_free(r.model);
	heap_free(r.shown);
	heap_shared_unref(r.frames);
	client_close(r.client);
	snapshot_free(r.snap);
	symbolizer_free(r.sym);
	free(path);
	return 0;
}
