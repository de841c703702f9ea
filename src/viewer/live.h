/*
 * The live view's state and the actions behind its keys, apart from the
 * screen (no curses here; src/viewer/ui/ draws it).  A live view owns the
 * model, the heaps its rows point into, the mark (a base heap), the filter
 * list and the selection; the front end feeds it heaps and the time, calls
 * actions, and acts on the flags they return:
 *
 *     flags = live_set_heap(lv, heap);       a refresh
 *     flags |= live_down(lv);                a key
 *     if (flags & LIVE_RECOMPUTE) live_recompute(lv);
 *     if (flags & LIVE_REDRAW) draw;
 *
 * Heaps: the latest heap (what the header shows), the shown heap (what the
 * rows were computed from; it differs from the latest while paused or
 * while a re-sort is held back) and the base heap of the mark.  Each is
 * freed once none of these roles (nor an open stack list) holds it.
 *
 * Selection: the selected row is remembered by its key, so it stays on the
 * same site across refreshes and re-sorts (model_find).  After a movement
 * key, a refresh waits LIVE_HOLD_MS (as htop holds its sort) so that rows
 * do not jump under the user.
 *
 * Time is given, never read: live_set_time before actions and ticks, in
 * milliseconds of any monotonic clock.
 */
#ifndef HEAPTOP_LIVE_H
#define HEAPTOP_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/strv.h"
#include "viewer/heap.h"
#include "viewer/model.h"
#include "viewer/settings.h"

/* What an action asks of the front end (bits). */
enum live_flag {
	LIVE_REDRAW = 1u << 0,     /* repaint the screen */
	LIVE_RECOMPUTE = 1u << 1,  /* call live_recompute */
	LIVE_REFETCH = 1u << 2,    /* take a snapshot now (live_set_heap) */
	LIVE_MARK = 1u << 3,       /* take a snapshot that sets the agent's mark
				      and give it to live_set_mark */
	LIVE_RESET_PEAK = 1u << 4, /* take a snapshot that resets the peak */
	LIVE_SAVE = 1u << 5,       /* write the latest heap to live_save_path */
	LIVE_QUIT = 1u << 6,       /* leave */
};

/* Hold back a refresh's re-sort this long after a movement key. */
#define LIVE_HOLD_MS 1000
/* Transient messages disappear after this long. */
#define LIVE_MESSAGE_MS 6000

/* The table's columns, in their default order. */
enum live_column {
	LIVE_COL_SIZE, LIVE_COL_DELTA_SIZE, LIVE_COL_PERCENT, LIVE_COL_COUNT,
	LIVE_COL_DELTA_COUNT, LIVE_COL_BORN, LIVE_COL_AVERAGE, LIVE_COL_ALLOCATED,
	LIVE_COL_LOCATION, LIVE_COL_FUNCTION, LIVE_NCOLUMNS
};

/* Where a filter of the filter list came from. */
enum live_origin { LIVE_FROM_OPTIONS, LIVE_FROM_CONFIG, LIVE_FROM_KEYS };

/* One entry of the filter list; the live view owns it. */
struct live_filter {
	char *name;
	struct strv include, exclude, skip;
	int enabled;
	enum live_origin origin;
};

/* One stack of the selected site (live_stacks_open). */
struct live_stack {
	const struct heap_frame *frames; /* from the attributed frame outwards */
	size_t nframes;
	int64_t size, count;
};

/* The view's state as the header and the table show it. */
struct live_status {
	enum model_group group;
	enum model_sort sort;
	int reverse, cumulative, all_frames, skip_system;
	int diff, paused, preview, held;
	double interval;         /* seconds between refreshes */
	int marked;              /* a mark is set */
	uint64_t mark_ns;        /* CLOCK_REALTIME of the mark; 0: unknown */
	size_t filters;          /* enabled filters that hold patterns */
	const char *search;      /* the search being typed; NULL: none */
	int exited, exit_status; /* the launched program ended (a wait status) */
	const char *lost;        /* why the agent is out of reach; NULL: it is not */
	const char *message;     /* a transient message; NULL: none */
	int64_t total_size, total_count; /* what the filters kept */
	size_t sites;            /* rows of the model, before the search */
};

/* Allocation and free rates between the last two snapshots. */
struct live_rates {
	int known;               /* two snapshots with time between them */
	double alloc_bytes, alloc_blocks, free_bytes, free_blocks; /* per second */
};

struct live;

/* A live view with the options of S (sort, grouping, filters, interval,
 * --diff, view columns, source paths), copied. */
struct live *live_new(const struct settings *s);
void live_free(struct live *lv);

/* --- feeding ------------------------------------------------------------ */

/* The time now, in milliseconds of a monotonic clock. */
void live_set_time(struct live *lv, uint64_t now_ms);
/* A new snapshot (owned from now on).  Asks for a recompute unless paused
 * or held (then the rows wait and only the header changes), or unless it
 * counts the same allocations as the rows on screen (a program at rest
 * costs no recompute). */
unsigned live_set_heap(struct live *lv, struct heap *h);
/* Set the mark at H (owned; it becomes the latest heap too), or at the
 * latest heap when H is NULL. */
unsigned live_set_mark(struct live *lv, struct heap *h);
/* The launched program ended with wait status STATUS; H (owned, may be
 * NULL) is what was live at exit and is shown, paused or not. */
unsigned live_set_exited(struct live *lv, struct heap *h, int status);
/* The agent cannot be reached (CAUSE is copied); the rows stay.  NULL:
 * it answers again. */
unsigned live_set_lost(struct live *lv, const char *cause);
/* Show TEXT (copied) for LIVE_MESSAGE_MS. */
unsigned live_set_message(struct live *lv, const char *text);
/* Rows that fit on the screen: paging and scrolling use it. */
void live_set_page(struct live *lv, size_t rows);
/* What is due at the current time: a held re-sort, a message to clear. */
unsigned live_tick(struct live *lv);
/* Milliseconds until live_tick has something to do; -1: nothing pending. */
long live_timeout(const struct live *lv);
/* Recompute the rows from the latest heap (the shown one while paused),
 * keep the selection on its site and apply the search. */
void live_recompute(struct live *lv);

/* --- reading -------------------------------------------------------------- */

void live_status(const struct live *lv, struct live_status *st);
/* The latest heap and its info; NULL before the first snapshot. */
struct heap *live_latest(const struct live *lv);
const struct heap_info *live_info(const struct live *lv);
struct live_rates live_rates(const struct live *lv);
/* Live bytes over the last SPAN_MS, in NCOLS columns oldest first: each
 * LEVELS[i] is 0 (lowest) .. NLEVELS-1, or -1 where no snapshot fell.
 * Returns the highest value shown. */
uint64_t live_history(const struct live *lv, int *levels, size_t ncols, int nlevels,
		      uint64_t span_ms);

/* Rows passing the search, in order; the selected one and the first one on
 * screen. */
size_t live_row_count(const struct live *lv);
const struct model_row *live_row(const struct live *lv, size_t i);
size_t live_selected(const struct live *lv);
size_t live_top(const struct live *lv);

/* The columns to show, in order (diff columns only in diff mode); returns
 * how many were stored in COLS (room for LIVE_NCOLUMNS). */
size_t live_columns(const struct live *lv, enum live_column *cols);
/* The sort a column stands for, or -1 when it does not sort. */
int live_column_sort(enum live_column c);
/* Column names as [view] columns spells them, and back (-1: unknown). */
const char *live_column_name(enum live_column c);
int live_column_parse(const char *name);
/* Parse a comma-separated column list into COLS; returns the count, or -1
 * with *BAD pointing at the unknown name's start. */
int live_columns_parse(const char *list, enum live_column *cols, const char **bad);

/* Text of a row: its location ("dir/file.c:42", "libc.so.6", ...) into BUF
 * of N bytes, and its function (NULL when the grouping has none). */
char *live_location(const struct model_row *r, enum model_group g, char *buf, size_t n);
const char *live_function(const struct model_row *r, enum model_group g);
/* The source line of F (NULL: unknown or missing). */
const char *live_source(struct live *lv, const struct heap_frame *f);

/* The filter list: options, then named filters, then those added by keys. */
size_t live_filter_count(const struct live *lv);
const struct live_filter *live_filter(const struct live *lv, size_t i);

/* --- actions (each returns LIVE_* flags) ------------------------------------ */

typedef unsigned (*live_action)(struct live *lv);

unsigned live_quit(struct live *lv);
unsigned live_up(struct live *lv);
unsigned live_down(struct live *lv);
unsigned live_page_up(struct live *lv);
unsigned live_page_down(struct live *lv);
unsigned live_home(struct live *lv);
unsigned live_end(struct live *lv);
/* Select row I of the table (clamped). */
unsigned live_select(struct live *lv, size_t i);
unsigned live_sort_next(struct live *lv);
unsigned live_sort_prev(struct live *lv);
unsigned live_sort_reverse(struct live *lv);
unsigned live_group_next(struct live *lv);
unsigned live_toggle_cumulative(struct live *lv);
unsigned live_toggle_all_frames(struct live *lv);
unsigned live_toggle_skip_system(struct live *lv);
/* Add an exclude filter for the selected row's function (its file under
 * file grouping, its module under module grouping). */
unsigned live_exclude_selected(struct live *lv);
unsigned live_mark(struct live *lv);
/* Diff since the mark, sorted by the size change (a mark is set first when
 * there is none); off again restores the sort. */
unsigned live_toggle_diff(struct live *lv);
unsigned live_toggle_pause(struct live *lv);
unsigned live_toggle_preview(struct live *lv);
/* Longer and shorter refresh intervals, in steps. */
unsigned live_slower(struct live *lv);
unsigned live_faster(struct live *lv);
unsigned live_save(struct live *lv);
unsigned live_reset_peak(struct live *lv);
unsigned live_refresh(struct live *lv);

/* Search: TEXT (copied) keeps the rows whose location, function, file or
 * module contain it, ignoring case (an fnmatch pattern when it holds * ? or
 * [); commit turns it into an include filter, cancel drops it. */
unsigned live_search_set(struct live *lv, const char *text);
unsigned live_search_commit(struct live *lv);
unsigned live_search_cancel(struct live *lv);

/* Switch filter I on or off; remove it (only filters added by keys). */
unsigned live_filter_toggle(struct live *lv, size_t i);
unsigned live_filter_remove(struct live *lv, size_t i);

/* The stacks of the selected site, biggest first, for the stack view; they
 * stay valid until live_stacks_close.  Returns how many. */
size_t live_stacks_open(struct live *lv);
const struct live_stack *live_stack(const struct live *lv, size_t i);
void live_stacks_close(struct live *lv);

/* --- files ------------------------------------------------------------------- */

/* Where `w` writes the latest heap: ./heaptop-PID-YYYYmmdd-HHMMSS.htsnap. */
char *live_save_path(const struct live *lv);
/* Where a launched program's output goes when --output is not given:
 * $XDG_STATE_HOME/heaptop/PID.log (~/.local/state/heaptop/PID.log), PID
 * being heaptop's; /tmp/heaptop-UID-PID.log when that directory cannot be
 * made.  The directory is created (0700). */
char *live_log_path(pid_t pid);

#endif
