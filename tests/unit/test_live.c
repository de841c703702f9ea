/* Unit tests for the live view's state and actions (no screen). */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "viewer/heap.h"
#include "proto/proto.h"
#include "viewer/live.h"
#include "viewer/model.h"
#include "viewer/settings.h"

#define APP "/usr/bin/app"
#define FR(fn_, file_, line_) \
	((struct heap_frame){ .function = (fn_), .file = (file_), .line = (line_), .module = APP })

/* Keys of the three sites of the heaps below. */
#define KEY_A "/src/app/alpha.c:10"
#define KEY_B "/src/app/beta.c:20"
#define KEY_C "/src/app/gamma.c:30"

static struct settings settings_default(void)
{
	return (struct settings){ .delay = 1, .group = GROUP_LINE, .sort = SORT_SIZE,
				  .skip_system = 1 };
}

static void add(struct heap *h, int64_t bytes, int64_t blocks, const struct heap_frame *f,
		size_t n)
{
	struct heap_counter c = { .live_bytes = bytes, .live_blocks = blocks,
				  .total_bytes = (uint64_t)bytes * 2,
				  .total_blocks = (uint64_t)blocks * 2 };
	heap_add_stack(h, &c, f, n);
}

/* Three sites, each in its own function, with A, B and C live bytes (a
 * block per 10 bytes); site A is reached from two callers. */
/* heap3 with the agent's mark at MARK_S seconds (0: none) and its HELLO
 * FLAGS. */
static struct heap *heap3_full(int64_t a, int64_t b, int64_t c, uint64_t mark_s,
			       uint32_t flags)
{
	struct heap_info info = { .pid = 42, .exe = APP, .cmdline = "app",
				  .live_bytes = (uint64_t)(a + b + c),
				  .mark_ns = mark_s * 1000000000u, .agent_flags = flags };
	struct heap *h = heap_new(&info);
	struct heap_frame fa1[] = { FR("alpha", "/src/app/alpha.c", 10),
				    FR("main", "/src/app/main.c", 5) };
	struct heap_frame fa2[] = { FR("alpha", "/src/app/alpha.c", 10),
				    FR("other", "/src/app/main.c", 9) };
	struct heap_frame fb[] = { FR("beta", "/src/app/beta.c", 20) };
	struct heap_frame fc[] = { FR("gamma", "/src/app/gamma.c", 30) };
	add(h, a - a / 4, (a - a / 4) / 10, fa1, 2);
	add(h, a / 4, a / 4 / 10, fa2, 2);
	add(h, b, b / 10, fb, 1);
	add(h, c, c / 10, fc, 1);
	return h;
}

static struct heap *heap3_marked(int64_t a, int64_t b, int64_t c, uint64_t mark_s)
{
	return heap3_full(a, b, c, mark_s, 0);
}

static struct heap *heap3(int64_t a, int64_t b, int64_t c)
{
	return heap3_marked(a, b, c, 0);
}

/* Feed H at time NOW and recompute when asked; returns the flags. */
static unsigned feed(struct live *lv, uint64_t now, struct heap *h)
{
	live_set_time(lv, now);
	unsigned f = live_set_heap(lv, h);
	if (f & LIVE_RECOMPUTE)
		live_recompute(lv);
	return f;
}

static const char *key_at(struct live *lv, size_t i)
{
	const struct model_row *r = live_row(lv, i);
	return r ? r->key : "(none)";
}

static const char *selected_key(struct live *lv)
{
	return key_at(lv, live_selected(lv));
}

/* Is there a row whose function is FN? */
static int has_function(struct live *lv, const char *fn)
{
	for (size_t i = 0; i < live_row_count(lv); i++) {
		const struct model_row *r = live_row(lv, i);
		if (r->frame && r->frame->function && strcmp(r->frame->function, fn) == 0)
			return 1;
	}
	return 0;
}

static struct live_status status(struct live *lv)
{
	struct live_status st;
	live_status(lv, &st);
	return st;
}

START_TEST(test_selection_follows_site)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	live_set_page(lv, 10);
	ck_assert_uint_eq(live_row_count(lv), 0);
	ck_assert_uint_eq(feed(lv, 0, heap3(300, 200, 100)) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	ck_assert_uint_eq(live_row_count(lv), 3);
	ck_assert_str_eq(key_at(lv, 0), KEY_A);
	ck_assert_str_eq(selected_key(lv), KEY_A);
	live_set_time(lv, 10);
	ck_assert_uint_eq(live_down(lv), LIVE_REDRAW);
	ck_assert_str_eq(selected_key(lv), KEY_B);
	/* B grows to the top: the selection goes with it. */
	feed(lv, 5000, heap3(300, 500, 100));
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	ck_assert_uint_eq(live_selected(lv), 0);
	ck_assert_str_eq(selected_key(lv), KEY_B);
	/* So does it across a re-sort. */
	live_set_time(lv, 6000);
	ck_assert_uint_eq(live_sort_reverse(lv) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	live_recompute(lv);
	ck_assert_str_eq(key_at(lv, 2), KEY_B);
	ck_assert_str_eq(selected_key(lv), KEY_B);
	/* Movement is clamped. */
	live_end(lv);
	ck_assert_uint_eq(live_selected(lv), 2);
	live_down(lv);
	ck_assert_uint_eq(live_selected(lv), 2);
	live_home(lv);
	live_up(lv);
	ck_assert_uint_eq(live_selected(lv), 0);
	live_page_down(lv);
	ck_assert_uint_eq(live_selected(lv), 2);
	live_free(lv);
}
END_TEST

START_TEST(test_unchanged_heap)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	const struct model_row *before = live_row(lv, 0);
	/* The same counts: nothing to compute, the rows stay as they are. */
	ck_assert_uint_eq(feed(lv, 1000, heap3(300, 200, 100)), LIVE_REDRAW);
	ck_assert_ptr_eq(live_row(lv, 0), before);
	ck_assert_uint_eq(live_tick(lv), 0);
	ck_assert_uint_eq(feed(lv, 2000, heap3(300, 200, 101)) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	ck_assert_int_eq(live_row(lv, 2)->size, 101);
	live_free(lv);
}
END_TEST

START_TEST(test_hold_after_movement)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_set_time(lv, 100);
	live_down(lv);
	/* A refresh right after a movement waits, the header moves on. */
	ck_assert_uint_eq(feed(lv, 600, heap3(300, 200, 900)), LIVE_REDRAW);
	ck_assert_str_eq(key_at(lv, 0), KEY_A);
	ck_assert_uint_eq(live_info(lv)->live_bytes, 1400);
	ck_assert_int_eq(status(lv).held, 1);
	ck_assert_int_eq(live_timeout(lv), 100 + LIVE_HOLD_MS - 600);
	live_set_time(lv, 100 + LIVE_HOLD_MS - 1);
	ck_assert_uint_eq(live_tick(lv), 0);
	live_set_time(lv, 100 + LIVE_HOLD_MS);
	unsigned f = live_tick(lv);
	ck_assert_uint_eq(f, LIVE_RECOMPUTE | LIVE_REDRAW);
	live_recompute(lv);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_str_eq(selected_key(lv), KEY_B);
	ck_assert_int_eq(status(lv).held, 0);
	ck_assert_int_eq(live_timeout(lv), -1);
	live_free(lv);
}
END_TEST

START_TEST(test_exclude_selected)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_down(lv);
	ck_assert(has_function(lv, "beta"));
	unsigned f = live_exclude_selected(lv);
	ck_assert_uint_eq(f & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	live_recompute(lv);
	ck_assert(!has_function(lv, "beta"));
	ck_assert_uint_eq(live_row_count(lv), 2);
	ck_assert_str_eq(selected_key(lv), KEY_C); /* the next row */
	ck_assert_uint_eq(live_filter_count(lv), 1);
	const struct live_filter *lf = live_filter(lv, 0);
	ck_assert_int_eq(lf->origin, LIVE_FROM_KEYS);
	ck_assert_int_eq(lf->enabled, 1);
	ck_assert_uint_eq(lf->exclude.n, 1);
	ck_assert_str_eq(lf->exclude.v[0], "beta");
	ck_assert_uint_eq(status(lv).filters, 1);
	ck_assert_ptr_nonnull(status(lv).message);
	/* Off, the row is back; removed, the list is empty. */
	live_filter_toggle(lv, 0);
	live_recompute(lv);
	ck_assert(has_function(lv, "beta"));
	ck_assert_uint_eq(status(lv).filters, 0);
	live_filter_toggle(lv, 0);
	ck_assert_str_eq(status(lv).message, "exclude function beta (f lists the filters)");
	ck_assert_uint_eq(live_filter_remove(lv, 0) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	live_recompute(lv);
	ck_assert_uint_eq(live_filter_count(lv), 0);
	ck_assert(has_function(lv, "beta"));
	/* The message that added it does not stay. */
	ck_assert_str_eq(status(lv).message, "removed: exclude function beta");
	live_free(lv);
}
END_TEST

START_TEST(test_exclude_by_grouping)
{
	struct settings s = settings_default();
	s.group = GROUP_FILE;
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_exclude_selected(lv);
	ck_assert_str_eq(live_filter(lv, 0)->exclude.v[0], "/src/app/alpha.c");
	ck_assert_str_eq(live_filter(lv, 0)->name, "exclude file app/alpha.c");
	live_recompute(lv);
	ck_assert(!has_function(lv, "alpha"));
	live_free(lv);
}
END_TEST

START_TEST(test_search)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_end(lv);
	ck_assert_str_eq(selected_key(lv), KEY_C);
	/* Typing: any case, location, function or module. */
	ck_assert_uint_eq(live_search_set(lv, ""), LIVE_REDRAW);
	ck_assert_uint_eq(live_row_count(lv), 3);
	live_search_set(lv, "GAMMA");
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(selected_key(lv), KEY_C);
	live_search_set(lv, "ta.c:2");
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	live_search_set(lv, "*A.C*"); /* a pattern, any case */
	ck_assert_uint_eq(live_row_count(lv), 3);
	live_search_set(lv, "b?ta");
	ck_assert_uint_eq(live_row_count(lv), 1);
	live_search_set(lv, "nothing");
	ck_assert_uint_eq(live_row_count(lv), 0);
	ck_assert_ptr_null(live_row(lv, 0));
	/* Rows tested once are remembered while the search, grouping and rows
	 * stay (a re-sort keeps them); a new search tests them again. */
	live_search_set(lv, "GAMMA");
	ck_assert_uint_eq(live_sort_next(lv) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	live_search_set(lv, "beta");
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	live_sort_prev(lv);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	/* By function the rows are others: "beta" is found again. */
	live_group_next(lv);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), "beta");
	for (int i = 0; i < 4; i++) /* back to lines */
		live_group_next(lv);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	/* The search holds across a refresh; Esc drops it. */
	live_search_set(lv, "Alpha");
	feed(lv, 5000, heap3(300, 200, 100));
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(status(lv).search, "Alpha");
	live_search_cancel(lv);
	ck_assert_ptr_null(status(lv).search);
	ck_assert_uint_eq(live_row_count(lv), 3);
	live_free(lv);
}
END_TEST

/* Over one frame store the rows stay from one refresh to the next and
 * what the search found is kept: rows that appear are tested, the others
 * are not forgotten. */
START_TEST(test_search_same_store)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	struct heap *h = heap3(300, 200, 100);
	feed(lv, 0, h);
	live_search_set(lv, "gamma");
	ck_assert_uint_eq(live_row_count(lv), 1);
	/* The heap the view holds gets stacks, as a store does between
	 * refreshes: one more site that matches, one that does not. */
	struct heap_frame fg[] = { FR("gamma_more", "/src/app/gamma2.c", 7) };
	struct heap_frame fd[] = { FR("delta", "/src/app/delta.c", 40) };
	add(h, 900, 90, fg, 1);
	add(h, 800, 80, fd, 1);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 2);
	ck_assert_str_eq(key_at(lv, 0), "/src/app/gamma2.c:7");
	ck_assert_str_eq(key_at(lv, 1), KEY_C);
	live_search_set(lv, "delta");
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), "/src/app/delta.c:40");
	live_free(lv);
}
END_TEST

START_TEST(test_search_commit)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_search_set(lv, "ALPHA");
	unsigned f = live_search_commit(lv);
	ck_assert_uint_eq(f & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	ck_assert_ptr_null(status(lv).search);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_A);
	const struct live_filter *lf = live_filter(lv, 0);
	ck_assert_str_eq(lf->include.v[0], "*[aA][lL][pP][hH][aA]*");
	ck_assert_int_eq(lf->origin, LIVE_FROM_KEYS);
	/* A pattern stays a pattern, still in any case. */
	live_filter_toggle(lv, 0);
	live_search_set(lv, "G[a]*");
	live_search_commit(lv);
	live_recompute(lv);
	ck_assert_str_eq(live_filter(lv, 1)->include.v[0], "[gG][a]*");
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	/* An empty search commits nothing. */
	live_search_set(lv, "");
	live_search_commit(lv);
	ck_assert_uint_eq(live_filter_count(lv), 2);
	live_free(lv);
}
END_TEST

START_TEST(test_group_cycle)
{
	static const enum model_group order[] = {
		GROUP_FUNCTION, GROUP_FILE, GROUP_MODULE, GROUP_TRACEBACK, GROUP_LINE,
	};
	static const size_t rows[] = { 3, 3, 1, 4, 3 };
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_down(lv);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_uint_eq(live_group_next(lv) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
		live_recompute(lv);
		ck_assert_int_eq(status(lv).group, order[i]);
		ck_assert_uint_eq(live_row_count(lv), rows[i]);
		ck_assert_uint_eq(live_selected(lv), 0);
	}
	live_free(lv);
}
END_TEST

START_TEST(test_sort_keys)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_sort_next(lv);
	ck_assert_int_eq(status(lv).sort, SORT_COUNT);
	live_sort_next(lv);
	ck_assert_int_eq(status(lv).sort, SORT_AVERAGE);
	live_sort_prev(lv);
	ck_assert_int_eq(status(lv).sort, SORT_COUNT);
	live_sort_prev(lv);
	ck_assert_int_eq(status(lv).sort, SORT_SIZE);
	live_sort_prev(lv); /* wraps to the last sortable column */
	ck_assert_int_eq(status(lv).sort, SORT_ALLOCATED);
	live_sort_next(lv);
	ck_assert_int_eq(status(lv).sort, SORT_SIZE);
	ck_assert_uint_eq(live_sort_reverse(lv), LIVE_RECOMPUTE | LIVE_REDRAW);
	live_recompute(lv);
	ck_assert_int_eq(status(lv).reverse, 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_str_eq(key_at(lv, 2), KEY_A);
	live_free(lv);
}
END_TEST

START_TEST(test_mark_and_diff)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	/* Diff without a mark asks for one. */
	ck_assert_uint_eq(live_toggle_diff(lv) & LIVE_MARK, LIVE_MARK);
	live_toggle_diff(lv);
	ck_assert_uint_eq(live_mark(lv), LIVE_MARK | LIVE_REDRAW);
	ck_assert_uint_eq(live_set_mark(lv, NULL) & LIVE_RECOMPUTE, LIVE_RECOMPUTE);
	ck_assert_int_eq(status(lv).marked, 1);
	feed(lv, 5000, heap3(280, 200, 1000));
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 0); /* not in diff mode yet */
	unsigned f = live_toggle_diff(lv);
	ck_assert_uint_eq(f & LIVE_MARK, 0);
	live_recompute(lv);
	ck_assert_int_eq(status(lv).diff, 1);
	ck_assert_int_eq(status(lv).sort, SORT_DELTA);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 900);
	ck_assert_str_eq(key_at(lv, 1), KEY_A);
	ck_assert_int_eq(live_row(lv, 1)->size_diff, -20);
	/* The delta columns show in diff mode only. */
	enum live_column cols[LIVE_NCOLUMNS];
	ck_assert_uint_eq(live_columns(lv, cols), LIVE_NCOLUMNS);
	/* The mark survives a grouping change and a filter. */
	live_group_next(lv);
	live_recompute(lv);
	ck_assert_str_eq(live_row(lv, 0)->key, "gamma");
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 900);
	live_search_set(lv, "alpha");
	live_search_commit(lv);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, -20);
	/* Off again: the sort comes back. */
	live_toggle_diff(lv);
	live_recompute(lv);
	ck_assert_int_eq(status(lv).sort, SORT_SIZE);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 0);
	ck_assert_uint_eq(live_columns(lv, cols), LIVE_NCOLUMNS - 3);
	live_free(lv);
}
END_TEST

START_TEST(test_mark_heap)
{
	struct settings s = settings_default();
	s.diff = 1;
	struct live *lv = live_new(&s);
	ck_assert_int_eq(status(lv).diff, 1);
	ck_assert_int_eq(status(lv).marked, 0);
	live_set_time(lv, 0);
	live_set_mark(lv, heap3(300, 200, 100)); /* the first snapshot is the mark */
	live_recompute(lv);
	ck_assert_int_eq(status(lv).marked, 1);
	feed(lv, 1000, heap3(300, 500, 100));
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 300);
	/* A new mark moves the base. */
	live_set_mark(lv, heap3(300, 500, 100));
	live_recompute(lv);
	ck_assert_int_eq(live_row(lv, 0)->size_diff, 0);
	live_free(lv);
}
END_TEST

/* The agent's mark set again by someone else (another viewer): said once. */
START_TEST(test_mark_moved)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	live_set_time(lv, 0);
	live_set_mark(lv, heap3_marked(300, 200, 100, 1000));
	live_recompute(lv);
	feed(lv, 1000, heap3_marked(300, 200, 110, 1000));
	ck_assert(status(lv).message == NULL || strstr(status(lv).message, "another") == NULL);
	feed(lv, 2000, heap3_marked(300, 200, 120, 2000));
	ck_assert_ptr_nonnull(status(lv).message);
	ck_assert_ptr_nonnull(strstr(status(lv).message, "another viewer set the process's mark"));
	live_free(lv);
}
END_TEST

/* An agent that cannot see the program's operator new says so. */
START_TEST(test_new_unseen)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	live_set_time(lv, 0);
	feed(lv, 0, heap3(300, 200, 100));
	ck_assert(status(lv).message == NULL || strstr(status(lv).message, "cxx") == NULL);
	feed(lv, 1000, heap3_full(300, 200, 100, 0, HT_AGENT_NEW_UNSEEN));
	ck_assert_ptr_nonnull(status(lv).message);
	ck_assert_ptr_nonnull(strstr(status(lv).message, "preload libheaptop-cxx.so"));
	live_free(lv);
}
END_TEST

START_TEST(test_named_filters)
{
	struct settings s = settings_default();
	s.filters = xcalloc(1, sizeof *s.filters);
	s.nfilters = 1;
	s.filters[0].name = xstrdup("no-alpha");
	s.filters[0].enabled = 1;
	strv_push(&s.filters[0].exclude, "alpha");
	strv_push(&s.exclude, "gamma.c");
	struct live *lv = live_new(&s);
	ck_assert_uint_eq(live_filter_count(lv), 2);
	ck_assert_str_eq(live_filter(lv, 0)->name, "command line");
	ck_assert_int_eq(live_filter(lv, 0)->origin, LIVE_FROM_OPTIONS);
	ck_assert_str_eq(live_filter(lv, 1)->name, "no-alpha");
	ck_assert_int_eq(live_filter(lv, 1)->origin, LIVE_FROM_CONFIG);
	feed(lv, 0, heap3(300, 200, 100));
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_str_eq(key_at(lv, 0), KEY_B);
	live_filter_toggle(lv, 1);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 2);
	live_filter_toggle(lv, 0);
	live_recompute(lv);
	ck_assert_uint_eq(live_row_count(lv), 3);
	/* Only keyboard filters can go. */
	ck_assert_uint_eq(live_filter_remove(lv, 0), LIVE_REDRAW);
	ck_assert_uint_eq(live_filter_count(lv), 2);
	live_free(lv);
	settings_free(&s);
}
END_TEST

START_TEST(test_skip_system)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	struct heap_info info = { .exe = APP, .cmdline = "app" };
	struct heap *h = heap_new(&info);
	struct heap_frame f[] = {
		{ .function = "malloc", .file = NULL, .line = 0, .module = "/lib/libc.so.6", .inlined = 0 },
		FR("parse", "/src/app/parse.c", 40),
	};
	add(h, 100, 1, f, 2);
	feed(lv, 0, h);
	ck_assert_str_eq(key_at(lv, 0), "/src/app/parse.c:40");
	live_toggle_skip_system(lv);
	live_recompute(lv);
	ck_assert_int_eq(status(lv).skip_system, 0);
	ck_assert_str_eq(key_at(lv, 0), "/lib/libc.so.6:malloc");
	live_free(lv);
}
END_TEST

START_TEST(test_pause)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	ck_assert_uint_eq(live_toggle_pause(lv), LIVE_REDRAW);
	ck_assert_int_eq(status(lv).paused, 1);
	/* Paused: rows hold still, the header follows. */
	ck_assert_uint_eq(feed(lv, 5000, heap3(300, 200, 900)), LIVE_REDRAW);
	ck_assert_str_eq(key_at(lv, 0), KEY_A);
	ck_assert_uint_eq(live_info(lv)->live_bytes, 1400);
	ck_assert_uint_eq(live_tick(lv), 0);
	feed(lv, 6000, heap3(300, 200, 1900));
	/* A re-sort while paused re-sorts the held rows. */
	live_sort_reverse(lv);
	live_recompute(lv);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_int_eq(live_row(lv, 0)->size, 100);
	live_sort_reverse(lv);
	ck_assert_uint_eq(live_toggle_pause(lv), LIVE_RECOMPUTE | LIVE_REDRAW);
	live_recompute(lv);
	ck_assert_str_eq(key_at(lv, 0), KEY_C);
	ck_assert_int_eq(live_row(lv, 0)->size, 1900);
	live_free(lv);
}
END_TEST

START_TEST(test_exited)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	live_toggle_pause(lv);
	ck_assert_uint_eq(live_set_exited(lv, heap3(0, 0, 50), 3 << 8),
			  LIVE_RECOMPUTE | LIVE_REDRAW);
	live_recompute(lv);
	struct live_status st = status(lv);
	ck_assert_int_eq(st.exited, 1);
	ck_assert_int_eq(st.exit_status, 3 << 8);
	ck_assert_int_eq(st.paused, 0);
	ck_assert_uint_eq(live_row_count(lv), 1);
	ck_assert_int_eq(live_row(lv, 0)->size, 50);
	live_set_lost(lv, "gone");
	ck_assert_str_eq(status(lv).lost, "gone");
	live_free(lv);
}
END_TEST

START_TEST(test_stacks)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(400, 200, 100));
	ck_assert_uint_eq(live_stacks_open(lv), 2);
	const struct live_stack *st = live_stack(lv, 0);
	ck_assert_int_eq(st->size, 300);
	ck_assert_uint_eq(st->nframes, 2);
	ck_assert_str_eq(st->frames[1].function, "main");
	ck_assert_int_eq(live_stack(lv, 1)->size, 100);
	ck_assert_str_eq(live_stack(lv, 1)->frames[1].function, "other");
	ck_assert_ptr_null(live_stack(lv, 2));
	/* The stacks outlive a refresh until closed. */
	feed(lv, 5000, heap3(100, 100, 100));
	ck_assert_str_eq(live_stack(lv, 0)->frames[0].function, "alpha");
	live_stacks_close(lv);
	ck_assert_ptr_null(live_stack(lv, 0));
	live_end(lv);
	ck_assert_uint_eq(live_stacks_open(lv), 1);
	live_free(lv);
}
END_TEST

/* A stripped object's function is its address in that object: the stacks
 * of the row of one module's 0x10 are not the other's. */
START_TEST(test_stacks_address_names)
{
	struct settings s = settings_default();
	s.group = GROUP_FUNCTION;
	struct live *lv = live_new(&s);
	struct heap_info info = { .pid = 42, .exe = APP, .cmdline = "app", .live_bytes = 300 };
	struct heap *h = heap_new(&info);
	struct heap_frame fa[] = { { .function = "0x10", .module = "/usr/lib/liba.so" },
				   FR("main", "/src/app/main.c", 5) };
	struct heap_frame fb[] = { { .function = "0x10", .module = "/usr/lib/libb.so" },
				   FR("main", "/src/app/main.c", 6) };
	add(h, 200, 2, fa, 2);
	add(h, 100, 1, fb, 2);
	feed(lv, 0, h);
	ck_assert_uint_eq(live_row_count(lv), 2);
	ck_assert_uint_eq(live_stacks_open(lv), 1);
	ck_assert_str_eq(live_stack(lv, 0)->frames[0].module, "/usr/lib/liba.so");
	ck_assert_int_eq(live_stack(lv, 0)->size, 200);
	live_free(lv);
}
END_TEST

START_TEST(test_text)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	feed(lv, 0, heap3(300, 200, 100));
	char buf[64];
	const struct model_row *r = live_row(lv, 0);
	ck_assert_str_eq(live_location(r, GROUP_LINE, buf, sizeof buf), "app/alpha.c:10");
	ck_assert_str_eq(live_location(r, GROUP_FILE, buf, sizeof buf), "app/alpha.c");
	ck_assert_str_eq(live_location(r, GROUP_MODULE, buf, sizeof buf), "app");
	ck_assert_str_eq(live_function(r, GROUP_LINE), "alpha");
	ck_assert_ptr_null(live_function(r, GROUP_FILE));
	ck_assert_str_eq(path_short("/a/b/c.c"), "b/c.c");
	ck_assert_str_eq(path_short("c.c"), "c.c");
	ck_assert_ptr_null(live_source(lv, r->frame)); /* no such file here */
	live_free(lv);
}
END_TEST

START_TEST(test_columns)
{
	enum live_column cols[LIVE_NCOLUMNS];
	const char *bad = NULL;
	ck_assert_int_eq(live_columns_parse("size, count,location", cols, &bad), 3);
	ck_assert_int_eq(cols[0], LIVE_COL_SIZE);
	ck_assert_int_eq(cols[2], LIVE_COL_LOCATION);
	ck_assert_int_eq(live_columns_parse("size,bogus", cols, &bad), -1);
	ck_assert_str_eq(bad, "bogus");
	ck_assert_int_eq(live_columns_parse("size,size", cols, &bad), -1);
	ck_assert_int_eq(live_columns_parse("", cols, &bad), -1);
	for (int i = 0; i < LIVE_NCOLUMNS; i++)
		ck_assert_int_eq(live_column_parse(live_column_name((enum live_column)i)), i);

	struct settings s = settings_default();
	s.columns = xstrdup("location,delta_size,size");
	struct live *lv = live_new(&s);
	ck_assert_uint_eq(live_columns(lv, cols), 2);
	ck_assert_int_eq(cols[0], LIVE_COL_LOCATION);
	live_sort_next(lv); /* the only sortable column shown */
	ck_assert_int_eq(status(lv).sort, SORT_SIZE);
	live_free(lv);
	settings_free(&s);
}
END_TEST

START_TEST(test_interval)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	ck_assert_uint_eq(live_slower(lv), LIVE_REDRAW);
	ck_assert(status(lv).interval == 2);
	live_faster(lv);
	live_faster(lv);
	ck_assert(status(lv).interval == 0.5);
	for (int i = 0; i < 20; i++)
		live_faster(lv);
	ck_assert(status(lv).interval == 0.1);
	ck_assert_uint_eq(live_faster(lv), 0);
	/* Messages go after a while. */
	live_set_time(lv, 0);
	live_set_message(lv, "hello");
	ck_assert_str_eq(status(lv).message, "hello");
	ck_assert_int_eq(live_timeout(lv), LIVE_MESSAGE_MS);
	live_set_time(lv, LIVE_MESSAGE_MS);
	ck_assert_uint_eq(live_tick(lv), LIVE_REDRAW);
	ck_assert_ptr_null(status(lv).message);
	live_free(lv);
}
END_TEST

START_TEST(test_rates_and_history)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	struct heap_info i1 = { .exe = APP, .cmdline = "", .time_ns = 1000000000,
				.live_bytes = 100, .total_bytes = 1000, .allocs = 10 };
	struct heap_info i2 = i1;
	i2.time_ns += 2000000000;
	i2.live_bytes = 300;
	i2.total_bytes = 5000;
	i2.allocs = 30;
	i2.frees = 4;
	feed(lv, 10000, heap_new(&i1));
	ck_assert_int_eq(live_rates(lv).known, 0);
	feed(lv, 12000, heap_new(&i2));
	struct live_rates r = live_rates(lv);
	ck_assert_int_eq(r.known, 1);
	ck_assert(r.alloc_bytes == 2000);
	ck_assert(r.alloc_blocks == 10);
	ck_assert(r.free_bytes == 1900);
	ck_assert(r.free_blocks == 2);
	int levels[4];
	ck_assert_uint_eq(live_history(lv, levels, 4, 8, 4000), 300);
	ck_assert_int_eq(levels[0], -1);
	ck_assert_int_eq(levels[1], 2); /* 100 of 300 on 0..7 */
	ck_assert_int_eq(levels[2], 2); /* no snapshot: the one before */
	ck_assert_int_eq(levels[3], 7);
	/* The program ended: the history keeps its place as time goes on. */
	live_set_exited(lv, NULL, 0);
	live_set_time(lv, 60000);
	ck_assert_uint_eq(live_history(lv, levels, 4, 8, 4000), 300);
	ck_assert_int_eq(levels[1], 2);
	ck_assert_int_eq(levels[3], 7);
	live_free(lv);
}
END_TEST

START_TEST(test_paths)
{
	struct settings s = settings_default();
	struct live *lv = live_new(&s);
	struct heap_info info = { .pid = 42, .exe = APP, .cmdline = "", .time_ns = 1 };
	feed(lv, 0, heap_new(&info));
	char *p = live_save_path(lv);
	ck_assert_int_eq(strncmp(p, "./heaptop-42-", 13), 0);
	ck_assert_str_eq(p + strlen(p) - 7, ".htsnap");
	free(p);
	live_free(lv);

	char dir[] = "/tmp/test_live.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *state = xasprintf("%s/state", dir);
	setenv("XDG_STATE_HOME", state, 1);
	char *log = live_log_path(77);
	char *want = xasprintf("%s/heaptop/77.log", state);
	ck_assert_str_eq(log, want);
	struct stat st;
	char *sub = xasprintf("%s/heaptop", state);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	rmdir(sub);
	rmdir(state);
	rmdir(dir);
	free(sub);
	free(want);
	free(log);
	free(state);
}
END_TEST

static Suite *live_suite(void)
{
	Suite *su = suite_create("live");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_selection_follows_site);
	tcase_add_test(tc, test_unchanged_heap);
	tcase_add_test(tc, test_hold_after_movement);
	tcase_add_test(tc, test_exclude_selected);
	tcase_add_test(tc, test_exclude_by_grouping);
	tcase_add_test(tc, test_search);
	tcase_add_test(tc, test_search_same_store);
	tcase_add_test(tc, test_search_commit);
	tcase_add_test(tc, test_group_cycle);
	tcase_add_test(tc, test_sort_keys);
	tcase_add_test(tc, test_mark_and_diff);
	tcase_add_test(tc, test_mark_heap);
	tcase_add_test(tc, test_mark_moved);
	tcase_add_test(tc, test_new_unseen);
	tcase_add_test(tc, test_named_filters);
	tcase_add_test(tc, test_skip_system);
	tcase_add_test(tc, test_pause);
	tcase_add_test(tc, test_exited);
	tcase_add_test(tc, test_stacks);
	tcase_add_test(tc, test_stacks_address_names);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_columns);
	tcase_add_test(tc, test_interval);
	tcase_add_test(tc, test_rates_and_history);
	tcase_add_test(tc, test_paths);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(live_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
