/* The live view's state and actions (see live.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/linecache.h"
#include "viewer/live.h"

/* Snapshots the sparkline remembers (an hour at one a second). */
#define HISTORY_CAP 4096

/* Refresh intervals that + and - step through, in seconds. */
static const double interval_steps[] = { 0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 30, 60 };
#define NSTEPS (sizeof interval_steps / sizeof interval_steps[0])

static const struct {
	const char *name;
	int sort;      /* enum model_sort, or -1 */
	int diff_only; /* shown in diff mode only */
} columns[LIVE_NCOLUMNS] = {
	[LIVE_COL_SIZE] = { "size", SORT_SIZE, 0 },
	[LIVE_COL_DELTA_SIZE] = { "delta_size", SORT_DELTA, 1 },
	[LIVE_COL_PERCENT] = { "percent", -1, 0 },
	[LIVE_COL_COUNT] = { "count", SORT_COUNT, 0 },
	[LIVE_COL_DELTA_COUNT] = { "delta_count", -1, 1 },
	[LIVE_COL_BORN] = { "born", -1, 1 },
	[LIVE_COL_AVERAGE] = { "average", SORT_AVERAGE, 0 },
	[LIVE_COL_ALLOCATED] = { "allocated", SORT_ALLOCATED, 0 },
	[LIVE_COL_LOCATION] = { "location", -1, 0 },
	[LIVE_COL_FUNCTION] = { "function", -1, 0 },
};

struct sample {
	uint64_t ms;
	uint64_t live;
};

struct live {
	uint64_t now;

	/* Heaps by role; one heap may hold several (see live_drop). */
	struct heap *latest, *shown, *base, *stacks_heap;
	struct model *model;
	struct model *tracebacks; /* for the stack list */
	struct linecache *lc;

	/* What the model is computed with. */
	enum model_group group;
	enum model_sort sort, sort_before_diff;
	int reverse, cumulative, all_frames, skip_system;
	struct live_filter *filters;
	size_t nfilters;
	struct strv include, exclude, skip; /* opts points into these */
	struct model_options opts;
	enum live_column cols[LIVE_NCOLUMNS];
	size_t ncols;

	int diff, paused, preview;
	double interval;

	/* The selection: its key (owned), its row, the first row on screen. */
	char *sel_key;
	size_t sel, top, page;
	uint64_t hold_until; /* no re-sort before this time */
	int pending;         /* a heap waits for the pause or the hold to end */

	char *search;        /* NULL: no search */
	uint32_t *vis;       /* with a search: the model rows that match */
	size_t nvis, capvis;
	/* Whether each row matches the search, by model row id (0: not
	 * tested yet, 1: no, 2: yes), for the search text, grouping and model
	 * generation it was worked out for: a refresh tests only new rows. */
	uint8_t *matched;
	size_t matched_cap;
	char *matched_text;
	enum model_group matched_group;
	uint64_t matched_generation;

	int exited, exit_status;
	uint64_t exited_ms;     /* when it was seen to end: the history stops */
	char *lost;
	char *message;
	uint64_t message_until;
	uint64_t mark_ns;
	uint64_t mark_moved_ns; /* the agent's mark that was said to have moved */
	int new_unseen_said;    /* HT_AGENT_NEW_UNSEEN was said */

	struct sample *hist; /* a ring of HISTORY_CAP */
	size_t nhist, hist_next;
	struct live_rates rates;
	struct heap_info prev; /* numbers of the previous latest heap */
	int have_prev;

	struct live_stack *stacks;
	size_t nstacks, capstacks;
};

/* --- small pieces ---------------------------------------------------------- */

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* S as an fnmatch pattern that matches S itself. */
static char *pattern_escape(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1), *o = out;
	for (; *s; s++) {
		if (strchr("*?[\\", *s))
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static int has_wildcards(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* The search TEXT as a pattern for the model, which matches case: letters
 * become [xX] outside bracket expressions; plain text (no * ? [) is
 * wrapped in '*' to match anywhere. */
static char *pattern_casefold(const char *text)
{
	int wild = has_wildcards(text), bracket = 0;
	char *out = xmalloc(4 * strlen(text) + 3), *o = out;
	if (!wild)
		*o++ = '*';
	for (const char *s = text; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int escaped = wild && c == '\\' && s[1];
		if (escaped)
			c = (unsigned char)*++s;
		if (isalpha(c) && !bracket) {
			o += sprintf(o, "[%c%c]", tolower(c), toupper(c));
			continue;
		}
		if (escaped || c == '\\')
			*o++ = '\\';
		else if (wild && c == '[')
			bracket = 1;
		else if (c == ']')
			bracket = 0;
		*o++ = (char)c;
	}
	if (!wild)
		*o++ = '*';
	*o = '\0';
	return out;
}

/* Does TEXT occur in FIELD, ignoring case (or match it as a pattern)? */
static int search_field(const char *text, int wild, const char *field)
{
	if (!field)
		return 0;
	if (wild)
		return fnmatch(text, field, FNM_CASEFOLD) == 0;
	return strcasestr(field, text) != NULL;
}

/* --- heaps ----------------------------------------------------------------- */

/* Free H unless a role still holds it. */
static void live_drop(struct live *lv, struct heap *h)
{
	if (h && h != lv->latest && h != lv->shown && h != lv->base && h != lv->stacks_heap)
		heap_free(h);
}

static void live_note_rates(struct live *lv, const struct heap_info *i)
{
	const struct heap_info *p = &lv->prev;
	double dt = lv->have_prev && i->time_ns > p->time_ns
			    ? (double)(i->time_ns - p->time_ns) / 1e9 : 0;
	if (dt > 0 && i->total_bytes >= p->total_bytes && i->allocs >= p->allocs &&
	    i->frees >= p->frees) {
		double allocated = (double)(i->total_bytes - p->total_bytes);
		double grown = (double)i->live_bytes - (double)p->live_bytes;
		double freed = allocated - grown;
		lv->rates = (struct live_rates){
			.known = 1,
			.alloc_bytes = allocated / dt,
			.alloc_blocks = (double)(i->allocs - p->allocs) / dt,
			.free_bytes = freed > 0 ? freed / dt : 0,
			.free_blocks = (double)(i->frees - p->frees) / dt,
		};
	}
	lv->prev = *i;
	lv->prev.exe = lv->prev.cmdline = ""; /* the strings die with the heap */
	lv->have_prev = 1;
}

static void live_note_history(struct live *lv, uint64_t live)
{
	if (!lv->hist)
		lv->hist = xcalloc(HISTORY_CAP, sizeof *lv->hist);
	lv->hist[lv->hist_next] = (struct sample){ lv->now, live };
	lv->hist_next = (lv->hist_next + 1) % HISTORY_CAP;
	if (lv->nhist < HISTORY_CAP)
		lv->nhist++;
}

/* Make H the latest heap. */
static void live_take(struct live *lv, struct heap *h)
{
	const struct heap_info *i = heap_info(h);
	live_note_rates(lv, i);
	live_note_history(lv, i->live_bytes);
	struct heap *old = lv->latest;
	lv->latest = h;
	live_drop(lv, old);
}

/* --- building the options ------------------------------------------------ */

static struct live_filter *live_filter_add(struct live *lv, const char *name,
					   enum live_origin origin)
{
	lv->filters = xreallocarray(lv->filters, lv->nfilters + 1, sizeof *lv->filters);
	struct live_filter *f = &lv->filters[lv->nfilters++];
	*f = (struct live_filter){ .name = xstrdup(name), .enabled = 1, .origin = origin };
	return f;
}

static void live_filters_from(struct live *lv, const struct settings *s)
{
	if (s->include.n || s->exclude.n || s->skip.n) {
		struct live_filter *f = live_filter_add(lv, "command line", LIVE_FROM_OPTIONS);
		strv_extend(&f->include, &s->include);
		strv_extend(&f->exclude, &s->exclude);
		strv_extend(&f->skip, &s->skip);
	}
	for (size_t i = 0; i < s->nfilters; i++) {
		const struct named_filter *n = &s->filters[i];
		struct live_filter *f = live_filter_add(lv, n->name, LIVE_FROM_CONFIG);
		strv_extend(&f->include, &n->include);
		strv_extend(&f->exclude, &n->exclude);
		strv_extend(&f->skip, &n->skip);
		f->enabled = n->enabled;
	}
}

static void live_filter_clear(struct live_filter *f)
{
	free(f->name);
	strv_clear(&f->include);
	strv_clear(&f->exclude);
	strv_clear(&f->skip);
}

static const char *const *patterns(const struct strv *v)
{
	return v->n ? strv_array(v) : NULL;
}

/* lv->opts from the state. */
static void live_options(struct live *lv)
{
	strv_clear(&lv->include);
	strv_clear(&lv->exclude);
	strv_clear(&lv->skip);
	for (size_t i = 0; i < lv->nfilters; i++) {
		const struct live_filter *f = &lv->filters[i];
		if (!f->enabled)
			continue;
		strv_extend(&lv->include, &f->include);
		strv_extend(&lv->exclude, &f->exclude);
		strv_extend(&lv->skip, &f->skip);
	}
	lv->opts = (struct model_options){
		.group = lv->group, .sort = lv->sort, .reverse = lv->reverse,
		.cumulative = lv->cumulative, .all_frames = lv->all_frames,
		.skip_system = lv->skip_system,
		.include = patterns(&lv->include), .exclude = patterns(&lv->exclude),
		.skip = patterns(&lv->skip),
	};
}

static void live_columns_from(struct live *lv, const struct settings *s)
{
	const char *bad;
	int n = s->columns ? live_columns_parse(s->columns, lv->cols, &bad) : -1;
	if (n > 0) {
		lv->ncols = (size_t)n;
		return;
	}
	for (size_t i = 0; i < LIVE_NCOLUMNS; i++)
		lv->cols[i] = (enum live_column)i;
	lv->ncols = LIVE_NCOLUMNS;
}

struct live *live_new(const struct settings *s)
{
	struct live *lv = xcalloc(1, sizeof *lv);
	lv->model = model_new();
	lv->tracebacks = model_new();
	lv->lc = settings_linecache(s);
	lv->group = s->group;
	lv->sort = lv->sort_before_diff = s->sort;
	lv->reverse = s->reverse;
	lv->cumulative = s->cumulative;
	lv->all_frames = s->all_frames;
	lv->skip_system = s->skip_system;
	lv->interval = s->delay;
	lv->preview = s->preview;
	lv->page = 1;
	live_filters_from(lv, s);
	live_columns_from(lv, s);
	live_options(lv);
	if (s->diff) {
		lv->diff = 1;
		lv->sort = SORT_DELTA;
		if (lv->sort_before_diff == SORT_DELTA)
			lv->sort_before_diff = SORT_SIZE;
	}
	return lv;
}

void live_free(struct live *lv)
{
	if (!lv)
		return;
	live_stacks_close(lv);
	struct heap *latest = lv->latest, *shown = lv->shown, *base = lv->base;
	heap_free(latest);
	if (shown != latest)
		heap_free(shown);
	if (base != latest && base != shown)
		heap_free(base);
	model_free(lv->model);
	model_free(lv->tracebacks);
	linecache_free(lv->lc);
	for (size_t i = 0; i < lv->nfilters; i++)
		live_filter_clear(&lv->filters[i]);
	free(lv->filters);
	strv_clear(&lv->include);
	strv_clear(&lv->exclude);
	strv_clear(&lv->skip);
	free(lv->sel_key);
	free(lv->search);
	free(lv->vis);
	free(lv->matched);
	free(lv->matched_text);
	free(lv->lost);
	free(lv->message);
	free(lv->hist);
	free(lv->stacks);
	free(lv);
}

/* --- rows and the selection ----------------------------------------------- */

static int live_filtered(const struct live *lv)
{
	return lv->search && *lv->search;
}

size_t live_row_count(const struct live *lv)
{
	if (!lv->shown)
		return 0;
	return live_filtered(lv) ? lv->nvis : model_row_count(lv->model);
}

const struct model_row *live_row(const struct live *lv, size_t i)
{
	if (i >= live_row_count(lv))
		return NULL;
	return model_row(lv->model, live_filtered(lv) ? lv->vis[i] : i);
}

size_t live_selected(const struct live *lv)
{
	return lv->sel;
}

size_t live_top(const struct live *lv)
{
	return lv->top;
}

/* The table index of the row with KEY, or -1. */
static long live_find(const struct live *lv, const char *key)
{
	long pos = model_find(lv->model, key);
	if (pos < 0 || !live_filtered(lv))
		return pos;
	size_t lo = 0, hi = lv->nvis;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lv->vis[mid] < (uint32_t)pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < lv->nvis && lv->vis[lo] == (uint32_t)pos ? (long)lo : -1;
}

/* Keep the selected row on screen, and the screen full when it can be. */
static void live_scroll(struct live *lv)
{
	size_t n = live_row_count(lv), page = lv->page ? lv->page : 1;
	if (lv->sel < lv->top)
		lv->top = lv->sel;
	if (lv->sel >= lv->top + page)
		lv->top = lv->sel - page + 1;
	if (lv->top + page > n)
		lv->top = n > page ? n - page : 0;
}

/* Select row I (clamped) and remember its key. */
static void live_select_at(struct live *lv, size_t i)
{
	size_t n = live_row_count(lv);
	lv->sel = n == 0 ? 0 : i < n ? i : n - 1;
	free(lv->sel_key);
	lv->sel_key = n ? xstrdup(live_row(lv, lv->sel)->key) : NULL;
	live_scroll(lv);
}

/* After a compute: the selected site where it went now. */
static void live_follow(struct live *lv)
{
	long at = lv->sel_key ? live_find(lv, lv->sel_key) : -1;
	live_select_at(lv, at >= 0 ? (size_t)at : lv->sel);
}

char *live_location(const struct model_row *r, enum model_group g, char *buf, size_t n)
{
	const struct heap_frame *f = r->frame;
	if (!f) {
		snprintf(buf, n, "%s", r->key);
	} else if (g == GROUP_MODULE || (!f->file && g != GROUP_FUNCTION)) {
		snprintf(buf, n, "%s", f->module ? path_base(f->module) : "??");
	} else if (!f->file) {
		snprintf(buf, n, "%s", f->module ? path_base(f->module) : "");
	} else if (g == GROUP_FILE || g == GROUP_FUNCTION) {
		snprintf(buf, n, "%s", path_short(f->file));
	} else {
		snprintf(buf, n, "%s:%u", path_short(f->file), f->line);
	}
	return buf;
}

const char *live_function(const struct model_row *r, enum model_group g)
{
	if (!r->frame || g == GROUP_FILE || g == GROUP_MODULE)
		return NULL;
	return r->frame->function ? r->frame->function : "??";
}

const char *live_source(struct live *lv, const struct heap_frame *f)
{
	if (!f || !f->file || !f->line)
		return NULL;
	return linecache_line(lv->lc, f->file, f->line);
}

static int live_row_matches(const struct live *lv, const struct model_row *r, int wild)
{
	char loc[512];
	const char *t = lv->search;
	if (search_field(t, wild, live_location(r, lv->group, loc, sizeof loc)))
		return 1;
	const struct heap_frame *f = r->frame;
	if (!f)
		return search_field(t, wild, r->key);
	return search_field(t, wild, f->function) || search_field(t, wild, f->file) ||
	       search_field(t, wild, f->module) ||
	       (f->module && search_field(t, wild, path_base(f->module)));
}

/* Make lv->matched fit the model's rows under the current search, keeping
 * what is known while the search, grouping and row ids stay the same. */
static void live_matched_prepare(struct live *lv)
{
	uint64_t gen = model_generation(lv->model);
	size_t ids = model_row_ids(lv->model);
	if (!str_eq(lv->matched_text, lv->search) || lv->matched_group != lv->group ||
	    lv->matched_generation != gen) {
		free(lv->matched_text);
		lv->matched_text = xstrdup(lv->search);
		lv->matched_group = lv->group;
		lv->matched_generation = gen;
		if (lv->matched)
			memset(lv->matched, 0, lv->matched_cap);
	}
	if (lv->matched_cap < ids) {
		size_t cap = ids + ids / 2;
		lv->matched = xreallocarray(lv->matched, cap, 1);
		memset(lv->matched + lv->matched_cap, 0, cap - lv->matched_cap);
		lv->matched_cap = cap;
	}
}

/* lv->vis from the search. */
static void live_apply_search(struct live *lv)
{
	lv->nvis = 0;
	if (!live_filtered(lv) || !lv->shown)
		return;
	size_t n = model_row_count(lv->model);
	if (lv->capvis < n) {
		lv->capvis = n;
		lv->vis = xreallocarray(lv->vis, n, sizeof *lv->vis);
	}
	live_matched_prepare(lv);
	int wild = has_wildcards(lv->search);
	for (size_t i = 0; i < n; i++) {
		uint8_t *m = &lv->matched[model_row_id(lv->model, i)];
		if (!*m)
			*m = live_row_matches(lv, model_row(lv->model, i), wild) ? 2 : 1;
		if (*m == 2)
			lv->vis[lv->nvis++] = (uint32_t)i;
	}
}

/* --- feeding -------------------------------------------------------------- */

void live_set_time(struct live *lv, uint64_t now_ms)
{
	lv->now = now_ms;
}

/* Do A and B count the same allocations (so rows from one are the rows of
 * the other)? */
static int live_same_counts(const struct heap *a, const struct heap *b)
{
	const struct heap_info *x = heap_info(a), *y = heap_info(b);
	return x->allocs == y->allocs && x->frees == y->frees &&
	       x->total_bytes == y->total_bytes && x->live_bytes == y->live_bytes &&
	       x->live_blocks == y->live_blocks && x->mark_ns == y->mark_ns &&
	       x->final == y->final && heap_stack_count(a) == heap_stack_count(b);
}

/* The agent's mark moved from ours: another viewer of the process set
 * one (the agent keeps one per process), so BORN counts from it now. */
static void live_check_mark(struct live *lv, const struct heap *h)
{
	uint64_t now = heap_info(h)->mark_ns;
	if (!lv->base || !now || now == lv->mark_ns || now == lv->mark_moved_ns)
		return;
	lv->mark_moved_ns = now;
	time_t t = (time_t)(now / 1000000000u);
	struct tm tm;
	char when[16] = "?";
	if (localtime_r(&t, &tm))
		strftime(when, sizeof when, "%H:%M:%S", &tm);
	char *msg = xasprintf("another viewer set the process's mark at %s: BORN counts from "
			      "then; m sets yours again", when);
	live_set_message(lv, msg);
	free(msg);
}

unsigned live_set_heap(struct live *lv, struct heap *h)
{
	live_take(lv, h);
	live_check_mark(lv, h);
	if ((heap_info(h)->agent_flags & HT_AGENT_NEW_UNSEEN) && !lv->new_unseen_said) {
		lv->new_unseen_said = 1;
		live_set_message(lv, "C++ objects of the allocator's own operator new are not "
				     "counted: preload libheaptop-cxx.so too, see libheaptop(7)");
	}
	/* A program at rest: the rows are those on screen, nothing to compute. */
	if (lv->shown && !lv->pending && live_same_counts(lv->shown, h))
		return LIVE_REDRAW;
	if (lv->shown && (lv->paused || lv->now < lv->hold_until)) {
		lv->pending = 1;
		return LIVE_REDRAW;
	}
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_set_mark(struct live *lv, struct heap *h)
{
	if (h)
		live_take(lv, h);
	if (!lv->latest)
		return live_set_message(lv, "no snapshot to set the mark at yet");
	struct heap *old = lv->base;
	lv->base = lv->latest;
	live_drop(lv, old);
	const struct heap_info *i = heap_info(lv->base);
	lv->mark_ns = i->mark_ns ? i->mark_ns : i->time_ns;
	if (!lv->diff)
		live_set_message(lv, "mark set: press d to see what changed since");
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_set_exited(struct live *lv, struct heap *h, int status)
{
	lv->exited = 1;
	lv->exited_ms = lv->now;
	lv->exit_status = status;
	lv->paused = 0;
	lv->hold_until = 0;
	if (h)
		live_take(lv, h);
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_set_lost(struct live *lv, const char *cause)
{
	free(lv->lost);
	lv->lost = cause ? xstrdup(cause) : NULL;
	return LIVE_REDRAW;
}

unsigned live_set_message(struct live *lv, const char *text)
{
	free(lv->message);
	lv->message = xstrdup(text);
	lv->message_until = lv->now + LIVE_MESSAGE_MS;
	return LIVE_REDRAW;
}

void live_set_page(struct live *lv, size_t rows)
{
	lv->page = rows ? rows : 1;
	live_scroll(lv);
}

unsigned live_tick(struct live *lv)
{
	unsigned flags = 0;
	if (lv->message && lv->now >= lv->message_until) {
		free(lv->message);
		lv->message = NULL;
		flags |= LIVE_REDRAW;
	}
	if (lv->pending && !lv->paused && lv->now >= lv->hold_until)
		flags |= LIVE_RECOMPUTE | LIVE_REDRAW;
	return flags;
}

long live_timeout(const struct live *lv)
{
	long t = -1;
	if (lv->message)
		t = lv->message_until > lv->now ? (long)(lv->message_until - lv->now) : 0;
	if (lv->pending && !lv->paused) {
		long h = lv->hold_until > lv->now ? (long)(lv->hold_until - lv->now) : 0;
		if (t < 0 || h < t)
			t = h;
	}
	return t;
}

void live_recompute(struct live *lv)
{
	if (!lv->paused || !lv->shown) {
		struct heap *old = lv->shown;
		lv->shown = lv->latest;
		live_drop(lv, old);
	}
	lv->pending = 0;
	if (!lv->shown)
		return;
	live_options(lv);
	model_compute(lv->model, &lv->opts, lv->shown, lv->diff ? lv->base : NULL);
	live_apply_search(lv);
	live_follow(lv);
}

/* --- reading --------------------------------------------------------------- */

static size_t live_active_filters(const struct live *lv)
{
	size_t n = 0;
	for (size_t i = 0; i < lv->nfilters; i++) {
		const struct live_filter *f = &lv->filters[i];
		n += f->enabled && (f->include.n || f->exclude.n || f->skip.n);
	}
	return n;
}

void live_status(const struct live *lv, struct live_status *st)
{
	*st = (struct live_status){
		.group = lv->group, .sort = lv->sort, .reverse = lv->reverse,
		.cumulative = lv->cumulative, .all_frames = lv->all_frames,
		.skip_system = lv->skip_system, .diff = lv->diff, .paused = lv->paused,
		.preview = lv->preview, .held = lv->pending && !lv->paused,
		.interval = lv->interval, .marked = lv->base != NULL, .mark_ns = lv->mark_ns,
		.filters = live_active_filters(lv), .search = lv->search,
		.exited = lv->exited, .exit_status = lv->exit_status, .lost = lv->lost,
		.message = lv->message,
		.sites = lv->shown ? model_row_count(lv->model) : 0,
	};
	if (lv->shown)
		model_total(lv->model, &st->total_size, &st->total_count);
}

struct heap *live_latest(const struct live *lv)
{
	return lv->latest;
}

const struct heap_info *live_info(const struct live *lv)
{
	return lv->latest ? heap_info(lv->latest) : NULL;
}

struct live_rates live_rates(const struct live *lv)
{
	return lv->rates;
}

uint64_t live_history(const struct live *lv, int *levels, size_t ncols, int nlevels,
		      uint64_t span_ms)
{
	uint64_t top = 0, *col = xcalloc(ncols ? ncols : 1, sizeof *col);
	for (size_t i = 0; i < ncols; i++)
		levels[i] = -1;
	/* Ended: the window stays where it was, not scrolled away. */
	uint64_t end = lv->exited ? lv->exited_ms : lv->now;
	uint64_t start = end > span_ms ? end - span_ms : 0;
	for (size_t k = 0; k < lv->nhist && ncols && span_ms; k++) {
		const struct sample *s = &lv->hist[(lv->hist_next + HISTORY_CAP - 1 - k) % HISTORY_CAP];
		if (s->ms < start)
			break;
		size_t c = (size_t)((s->ms - start) * ncols / (span_ms + 1));
		if (c >= ncols)
			c = ncols - 1;
		if (levels[c] < 0 || s->live > col[c])
			col[c] = s->live;
		levels[c] = 0;
		if (s->live > top)
			top = s->live;
	}
	/* A column between two snapshots that none fell in (timer jitter)
	 * holds the one before it. */
	size_t last = ncols;
	while (last > 0 && levels[last - 1] < 0)
		last--;
	for (size_t i = 1; i < last; i++) {
		if (levels[i] < 0 && levels[i - 1] >= 0) {
			levels[i] = 0;
			col[i] = col[i - 1];
		}
	}
	for (size_t i = 0; i < ncols; i++)
		if (levels[i] >= 0 && top > 0)
			levels[i] = (int)((double)col[i] * (nlevels - 1) / (double)top + 0.5);
	free(col);
	return top;
}

/* --- columns ----------------------------------------------------------------- */

size_t live_columns(const struct live *lv, enum live_column *cols)
{
	size_t n = 0;
	for (size_t i = 0; i < lv->ncols; i++)
		if (lv->diff || !columns[lv->cols[i]].diff_only)
			cols[n++] = lv->cols[i];
	return n;
}

int live_column_sort(enum live_column c)
{
	return (unsigned)c < LIVE_NCOLUMNS ? columns[c].sort : -1;
}

const char *live_column_name(enum live_column c)
{
	return (unsigned)c < LIVE_NCOLUMNS ? columns[c].name : NULL;
}

int live_column_parse(const char *name)
{
	for (size_t i = 0; i < LIVE_NCOLUMNS; i++)
		if (strcmp(name, columns[i].name) == 0)
			return (int)i;
	return -1;
}

int live_columns_parse(const char *list, enum live_column *cols, const char **bad)
{
	int n = 0;
	const char *p = list;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, ", \t");
		char *name = xstrndup(p, len);
		int c = live_column_parse(name);
		free(name);
		int seen = 0;
		for (int i = 0; c >= 0 && i < n; i++)
			seen |= cols[i] == (enum live_column)c;
		if (c < 0 || seen) {
			*bad = p;
			return -1;
		}
		cols[n++] = (enum live_column)c;
		p += len;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ',')
			break;
		p++;
	}
	if (*p) {
		*bad = p;
		return -1;
	}
	return n;
}

/* --- the filter list ------------------------------------------------------- */

size_t live_filter_count(const struct live *lv)
{
	return lv->nfilters;
}

const struct live_filter *live_filter(const struct live *lv, size_t i)
{
	return i < lv->nfilters ? &lv->filters[i] : NULL;
}

unsigned live_filter_toggle(struct live *lv, size_t i)
{
	if (i >= lv->nfilters)
		return 0;
	lv->filters[i].enabled = !lv->filters[i].enabled;
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_filter_remove(struct live *lv, size_t i)
{
	if (i >= lv->nfilters)
		return 0;
	if (lv->filters[i].origin != LIVE_FROM_KEYS)
		return live_set_message(lv, "only filters added from the keyboard can be "
					    "removed; space switches this one off");
	/* Said, so that the message that added it does not stay behind. */
	char *msg = xasprintf("removed: %s", lv->filters[i].name ? lv->filters[i].name : "a filter");
	live_filter_clear(&lv->filters[i]);
	memmove(&lv->filters[i], &lv->filters[i + 1],
		(lv->nfilters - i - 1) * sizeof *lv->filters);
	lv->nfilters--;
	live_set_message(lv, msg);
	free(msg);
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

/* --- actions: moving ----------------------------------------------------------- */

/* A movement: select row I and hold re-sorts back for a while. */
static unsigned live_move_to(struct live *lv, size_t i)
{
	live_select_at(lv, i);
	lv->hold_until = lv->now + LIVE_HOLD_MS;
	return LIVE_REDRAW;
}

static unsigned live_move(struct live *lv, long delta)
{
	long to = (long)lv->sel + delta;
	return live_move_to(lv, to < 0 ? 0 : (size_t)to);
}

unsigned live_quit(struct live *lv)
{
	return LIVE_QUIT;
}

unsigned live_up(struct live *lv)
{
	return live_move(lv, -1);
}

unsigned live_down(struct live *lv)
{
	return live_move(lv, 1);
}

unsigned live_page_up(struct live *lv)
{
	return live_move(lv, -(long)lv->page);
}

unsigned live_page_down(struct live *lv)
{
	return live_move(lv, (long)lv->page);
}

unsigned live_home(struct live *lv)
{
	return live_move_to(lv, 0);
}

unsigned live_end(struct live *lv)
{
	size_t n = live_row_count(lv);
	return live_move_to(lv, n ? n - 1 : 0);
}

unsigned live_select(struct live *lv, size_t i)
{
	return live_move_to(lv, i);
}

/* --- actions: what the model computes -------------------------------------------- */

/* Step the sort through the shown columns that sort, by DIR (+1 or -1). */
static unsigned live_sort_step(struct live *lv, int dir)
{
	enum live_column cols[LIVE_NCOLUMNS];
	int sorts[LIVE_NCOLUMNS], n = 0, at = -1;
	size_t ncols = live_columns(lv, cols);
	for (size_t i = 0; i < ncols; i++) {
		int k = live_column_sort(cols[i]);
		if (k < 0)
			continue;
		if (k == (int)lv->sort)
			at = n;
		sorts[n++] = k;
	}
	if (n == 0)
		return 0;
	at = at < 0 ? (dir > 0 ? 0 : n - 1) : (at + dir + n) % n;
	lv->sort = (enum model_sort)sorts[at];
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_sort_next(struct live *lv)
{
	return live_sort_step(lv, 1);
}

unsigned live_sort_prev(struct live *lv)
{
	return live_sort_step(lv, -1);
}

unsigned live_sort_reverse(struct live *lv)
{
	lv->reverse = !lv->reverse;
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_group_next(struct live *lv)
{
	lv->group = (enum model_group)((lv->group + 1) % (GROUP_TRACEBACK + 1));
	/* Keys of one grouping mean nothing in the next: start at the top. */
	free(lv->sel_key);
	lv->sel_key = NULL;
	lv->sel = lv->top = 0;
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_toggle_cumulative(struct live *lv)
{
	lv->cumulative = !lv->cumulative;
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_toggle_all_frames(struct live *lv)
{
	lv->all_frames = !lv->all_frames;
	live_set_message(lv, lv->all_frames ? "filters test every frame of a stack"
					    : "filters test the attributed frame only");
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_toggle_skip_system(struct live *lv)
{
	lv->skip_system = !lv->skip_system;
	live_set_message(lv, lv->skip_system ? "system frames skipped: sites are in your code"
					     : "system frames not skipped");
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

unsigned live_exclude_selected(struct live *lv)
{
	const struct model_row *r = live_row(lv, lv->sel);
	const struct heap_frame *f = r ? r->frame : NULL;
	if (!f)
		return live_set_message(lv, "nothing to exclude here");
	static const char *const kinds[] = { "function", "file", "module" };
	const char *what[] = { f->function, f->file, f->module };
	size_t k = lv->group == GROUP_FILE ? 1 : lv->group == GROUP_MODULE ? 2 : 0;
	while (k < 3 && !what[k])
		k++;
	if (k == 3)
		return live_set_message(lv, "nothing to exclude here");
	const char *shown = k == 0 ? what[k] : k == 1 ? path_short(what[k]) : path_base(what[k]);
	char *name = xasprintf("exclude %s %s", kinds[k], shown);
	char *pattern = pattern_escape(what[k]);
	struct live_filter *nf = live_filter_add(lv, name, LIVE_FROM_KEYS);
	strv_push(&nf->exclude, pattern);
	char *msg = xasprintf("%s (f lists the filters)", name);
	live_set_message(lv, msg);
	free(msg);
	free(pattern);
	free(name);
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

/* --- actions: modes ---------------------------------------------------------- */

unsigned live_mark(struct live *lv)
{
	return LIVE_MARK | LIVE_REDRAW;
}

unsigned live_toggle_diff(struct live *lv)
{
	unsigned flags = LIVE_RECOMPUTE | LIVE_REDRAW;
	if (lv->diff) {
		lv->diff = 0;
		if (lv->sort == SORT_DELTA)
			lv->sort = lv->sort_before_diff;
		return flags;
	}
	lv->diff = 1;
	free(lv->message);
	lv->message = NULL;
	lv->sort_before_diff = lv->sort == SORT_DELTA ? SORT_SIZE : lv->sort;
	lv->sort = SORT_DELTA;
	if (!lv->base)
		flags |= LIVE_MARK;
	return flags;
}

unsigned live_toggle_pause(struct live *lv)
{
	lv->paused = !lv->paused;
	if (lv->paused)
		return LIVE_REDRAW;
	return (lv->pending || lv->latest != lv->shown ? LIVE_RECOMPUTE : 0) | LIVE_REDRAW;
}

unsigned live_toggle_preview(struct live *lv)
{
	lv->preview = !lv->preview;
	return LIVE_REDRAW;
}

static unsigned live_set_interval(struct live *lv, double seconds)
{
	lv->interval = seconds;
	char msg[64];
	snprintf(msg, sizeof msg, "refreshing every %g s", seconds);
	return live_set_message(lv, msg);
}

unsigned live_slower(struct live *lv)
{
	for (size_t i = 0; i < NSTEPS; i++)
		if (interval_steps[i] > lv->interval * 1.001)
			return live_set_interval(lv, interval_steps[i]);
	return 0;
}

unsigned live_faster(struct live *lv)
{
	for (size_t i = NSTEPS; i-- > 0;)
		if (interval_steps[i] < lv->interval * 0.999)
			return live_set_interval(lv, interval_steps[i]);
	return 0;
}

unsigned live_save(struct live *lv)
{
	return lv->latest ? LIVE_SAVE : live_set_message(lv, "no snapshot to write yet");
}

unsigned live_reset_peak(struct live *lv)
{
	return LIVE_RESET_PEAK;
}

unsigned live_refresh(struct live *lv)
{
	return LIVE_REFETCH;
}

/* --- actions: search --------------------------------------------------------- */

unsigned live_search_set(struct live *lv, const char *text)
{
	free(lv->search);
	lv->search = xstrdup(text);
	live_apply_search(lv);
	live_follow(lv);
	return LIVE_REDRAW;
}

unsigned live_search_cancel(struct live *lv)
{
	free(lv->search);
	lv->search = NULL;
	live_follow(lv);
	return LIVE_REDRAW;
}

unsigned live_search_commit(struct live *lv)
{
	if (!live_filtered(lv))
		return live_search_cancel(lv);
	char *name = xasprintf("search %s", lv->search);
	char *pattern = pattern_casefold(lv->search);
	struct live_filter *f = live_filter_add(lv, name, LIVE_FROM_KEYS);
	strv_push(&f->include, pattern);
	free(pattern);
	free(name);
	free(lv->search);
	lv->search = NULL;
	return LIVE_RECOMPUTE | LIVE_REDRAW;
}

/* --- the stack list -------------------------------------------------------- */

/* Does frame F fall in the site of frame S under grouping G? */
static int live_same_site(enum model_group g, const struct heap_frame *s,
			  const struct heap_frame *f)
{
	switch (g) {
	case GROUP_LINE:
		if (s->file)
			return str_eq(s->file, f->file) && s->line == f->line;
		return !f->file && str_eq(s->module, f->module) && str_eq(s->function, f->function);
	case GROUP_FUNCTION:
		if (s->function && !heap_address_name(s->function))
			return str_eq(s->function, f->function);
		/* An address names a function only in its module. */
		return str_eq(s->function, f->function) && str_eq(s->module, f->module);
	case GROUP_FILE:
		if (s->file)
			return str_eq(s->file, f->file);
		return !f->file && str_eq(s->module, f->module);
	default:
		return str_eq(s->module, f->module);
	}
}

static void live_stack_push(struct live *lv, const struct model_row *r)
{
	if (lv->nstacks == lv->capstacks) {
		lv->capstacks = lv->capstacks ? 2 * lv->capstacks : 16;
		lv->stacks = xreallocarray(lv->stacks, lv->capstacks, sizeof *lv->stacks);
	}
	lv->stacks[lv->nstacks++] = (struct live_stack){
		.frames = r->frames, .nframes = r->nframes, .size = r->size, .count = r->count,
	};
}

static int live_stack_cmp(const void *pa, const void *pb)
{
	const struct live_stack *a = pa, *b = pb;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return (a->count < b->count) - (a->count > b->count);
}

/* The tracebacks that make up site row R. */
static void live_stacks_of(struct live *lv, const struct model_row *r)
{
	struct model_options o = lv->opts;
	o.group = GROUP_TRACEBACK;
	o.cumulative = 0;
	o.sort = SORT_ALLOCATED; /* list stacks with nothing live too */
	o.reverse = 0;
	model_compute(lv->tracebacks, &o, lv->shown, NULL);
	size_t n = model_row_count(lv->tracebacks);
	for (size_t i = 0; i < n; i++) {
		const struct model_row *t = model_row(lv->tracebacks, i);
		size_t upto = lv->cumulative ? t->nframes : (t->nframes ? 1 : 0);
		for (size_t j = 0; j < upto; j++) {
			if (live_same_site(lv->group, r->frame, &t->frames[j])) {
				live_stack_push(lv, t);
				break;
			}
		}
	}
	qsort(lv->stacks, lv->nstacks, sizeof *lv->stacks, live_stack_cmp);
}

size_t live_stacks_open(struct live *lv)
{
	live_stacks_close(lv);
	const struct model_row *r = live_row(lv, lv->sel);
	if (!r || !lv->shown)
		return 0;
	if (lv->group == GROUP_TRACEBACK || !r->frame)
		live_stack_push(lv, r);
	else
		live_stacks_of(lv, r);
	if (lv->nstacks == 0)
		live_stack_push(lv, r);
	lv->stacks_heap = lv->shown;
	return lv->nstacks;
}

const struct live_stack *live_stack(const struct live *lv, size_t i)
{
	return i < lv->nstacks ? &lv->stacks[i] : NULL;
}

void live_stacks_close(struct live *lv)
{
	struct heap *h = lv->stacks_heap;
	lv->nstacks = 0;
	lv->stacks_heap = NULL;
	live_drop(lv, h);
}

/* --- files --------------------------------------------------------------------- */

char *live_save_path(const struct live *lv)
{
	const struct heap_info *i = live_info(lv);
	time_t t = i && i->time_ns ? (time_t)(i->time_ns / 1000000000u) : time(NULL);
	struct tm tm;
	char stamp[32];
	localtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	return xasprintf("./heaptop-%u-%s.htsnap", i ? (unsigned)i->pid : 0u, stamp);
}

/* mkdir -p PATH, the directories it makes private. */
static int make_dirs(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;
	for (char *s = p + 1; r == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			r = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return r;
}

char *live_log_path(pid_t pid)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir = NULL;
	if (xdg && *xdg == '/')
		dir = xasprintf("%s/heaptop", xdg);
	else if (home && *home == '/')
		dir = xasprintf("%s/.local/state/heaptop", home);
	struct stat st;
	if (dir && make_dirs(dir) == 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    access(dir, W_OK) == 0) {
		char *path = xasprintf("%s/%d.log", dir, (int)pid);
		free(dir);
		return path;
	}
	free(dir);
	return xasprintf("/tmp/heaptop-%u-%d.log", (unsigned)getuid(), (int)pid);
}
