/* The table of sites. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/path.h"
#include "viewer/format.h"
#include "viewer/linecache.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/table.h"

/* Least lines for the strip under the table to be worth its room. */
#define STRIP_MIN_LINES 10
#define LOCATION_MAX 60
/* Previews start under the location when this much room is left there,
 * else at PREVIEW_X. */
#define PREVIEW_MIN 60
#define PREVIEW_X 6
/* Columns drop until the location has this much, or what it needs. */
#define LOCATION_WANT 30

/* What a cell's text is made from. */
struct cell {
	const struct model_row *r;
	enum model_group group;
	int64_t total;
};

typedef void (*cell_text)(const struct cell *c, char *buf, size_t n);

static void text_size(const struct cell *c, char *buf, size_t n)
{
	format_size(buf, n, (double)c->r->size, 0);
}

static void text_delta_size(const struct cell *c, char *buf, size_t n)
{
	format_size(buf, n, (double)c->r->size_diff, 1);
}

static void text_percent(const struct cell *c, char *buf, size_t n)
{
	if (c->total > 0)
		snprintf(buf, n, "%.1f", 100.0 * (double)c->r->size / (double)c->total);
	else
		snprintf(buf, n, "-");
}

static void text_count(const struct cell *c, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRId64, c->r->count);
}

static void text_delta_count(const struct cell *c, char *buf, size_t n)
{
	snprintf(buf, n, "%+" PRId64, c->r->count_diff);
}

static void text_born(const struct cell *c, char *buf, size_t n)
{
	format_size(buf, n, (double)c->r->born, 0);
}

static void text_average(const struct cell *c, char *buf, size_t n)
{
	if (c->r->count > 0)
		format_size(buf, n, (double)c->r->size / (double)c->r->count, 0);
	else
		snprintf(buf, n, "-");
}

static void text_allocated(const struct cell *c, char *buf, size_t n)
{
	format_size(buf, n, (double)c->r->allocated, 0);
}

static void text_location(const struct cell *c, char *buf, size_t n)
{
	live_location(c->r, c->group, buf, n);
}

static void text_function(const struct cell *c, char *buf, size_t n)
{
	const char *f = live_function(c->r, c->group);
	if (c->group == GROUP_TRACEBACK && c->r->nframes > 1)
		snprintf(buf, n, "%s (+%zu frames)", f ? f : "??", c->r->nframes - 1);
	else
		snprintf(buf, n, "%s", f ? f : "");
}

/* The columns.  WIDTH 0 marks the two flexible ones, which share what the
 * others leave (at least MIN each); DROP ranks which go first when the
 * screen is narrow (highest first). */
static const struct column {
	const char *title;
	int delta;          /* the title starts with the delta glyph */
	int width, min;
	int drop;
	int right;
	cell_text text;
	enum crt_color color;
} columns[LIVE_NCOLUMNS] = {
	[LIVE_COL_SIZE] = { "SIZE", 0, 10, 0, 1, 1, text_size, CRT_NORMAL },
	[LIVE_COL_DELTA_SIZE] = { "SIZE", 1, 11, 0, 2, 1, text_delta_size, CRT_NORMAL },
	[LIVE_COL_PERCENT] = { "%", 0, 5, 0, 6, 1, text_percent, CRT_NORMAL },
	[LIVE_COL_COUNT] = { "COUNT", 0, 8, 0, 5, 1, text_count, CRT_NORMAL },
	[LIVE_COL_DELTA_COUNT] = { "COUNT", 1, 8, 0, 7, 1, text_delta_count, CRT_NORMAL },
	[LIVE_COL_BORN] = { "BORN", 0, 10, 0, 4, 1, text_born, CRT_NORMAL },
	[LIVE_COL_AVERAGE] = { "AVG", 0, 9, 0, 8, 1, text_average, CRT_NORMAL },
	[LIVE_COL_ALLOCATED] = { "ALLOCATED", 0, 10, 0, 9, 1, text_allocated, CRT_NORMAL },
	[LIVE_COL_LOCATION] = { "LOCATION", 0, 0, 16, 0, 0, text_location, CRT_LOCATION },
	[LIVE_COL_FUNCTION] = { "FUNCTION", 0, 0, 12, 3, 0, text_function, CRT_FUNCTION },
};

/* Where the shown columns go on a line. */
struct layout {
	enum live_column col[LIVE_NCOLUMNS];
	int x[LIVE_NCOLUMNS], w[LIVE_NCOLUMNS];
	size_t n;
	int location_x; /* where previews start */
};

/* Columns that C needs, the space after it included, with the location
 * LOCATION wide. */
static int column_need(enum live_column c, int location)
{
	if (c == LIVE_COL_LOCATION)
		return location + 1;
	return (columns[c].width ? columns[c].width : columns[c].min) + 1;
}

/* The column that shows what the rows are sorted by. */
static enum live_column sort_column(enum model_sort sort)
{
	switch (sort) {
	case SORT_COUNT: return LIVE_COL_COUNT;
	case SORT_AVERAGE: return LIVE_COL_AVERAGE;
	case SORT_ALLOCATED: return LIVE_COL_ALLOCATED;
	case SORT_DELTA: return LIVE_COL_DELTA_SIZE;
	case SORT_SIZE: break;
	}
	return LIVE_COL_SIZE;
}

/* Drop the highest-ranked column of COLS[0..*N) that is neither the
 * location nor KEEP (the sort's: rows in an order no column shows would
 * make no sense), unless nothing else is left. */
static void layout_drop(enum live_column *cols, size_t *n, enum live_column keep)
{
	size_t worst = *n;
	for (size_t i = 0; i < *n; i++)
		if (cols[i] != LIVE_COL_LOCATION && cols[i] != keep &&
		    (worst == *n || columns[cols[i]].drop > columns[cols[worst]].drop))
			worst = i;
	for (size_t i = 0; i < *n && worst == *n; i++)
		if (cols[i] != LIVE_COL_LOCATION)
			worst = i;
	if (worst == *n)
		return;
	memmove(&cols[worst], &cols[worst + 1], (*n - worst - 1) * sizeof *cols);
	(*n)--;
}

/* The widest location among the rows on screen, within limits. */
static int layout_location_width(struct live *lv, size_t first, size_t rows)
{
	int widest = columns[LIVE_COL_LOCATION].min;
	struct live_status st;
	live_status(lv, &st);
	for (size_t i = first; i < first + rows && i < live_row_count(lv); i++) {
		char buf[512];
		int w = crt_width(live_location(live_row(lv, i), st.group, buf, sizeof buf));
		if (w > widest)
			widest = w;
	}
	return widest < LOCATION_MAX ? widest : LOCATION_MAX;
}

/* Columns needed by COLS[0..N) with the location LOCATION wide. */
static int layout_need(const enum live_column *cols, size_t n, int location)
{
	int need = 1;
	for (size_t i = 0; i < n; i++)
		need += column_need(cols[i], location);
	return need;
}

static int layout_has(const struct layout *l, enum live_column c)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->col[i] == c)
			return 1;
	return 0;
}

/* Drop columns until the rest fit in W with the location as wide as its
 * rows need (up to LOCATION_WANT); then share what is left between the
 * location (up to what its rows need) and the function. */
static void layout_make(struct live *lv, int w, size_t rows, struct layout *l)
{
	l->n = live_columns(lv, l->col);
	int natural = layout_location_width(lv, live_top(lv), rows);
	int want = natural < LOCATION_WANT ? natural : LOCATION_WANT;
	struct live_status st;
	live_status(lv, &st);
	enum live_column keep = sort_column(st.sort);
	while (l->n > 1 && layout_need(l->col, l->n, want) > w) {
		/* Left with the sort's column and the location: a location
		 * narrower than it wants is better than no such column. */
		int others = 0;
		for (size_t i = 0; i < l->n; i++)
			others += l->col[i] != keep && l->col[i] != LIVE_COL_LOCATION;
		if (!others && layout_need(l->col, l->n, columns[LIVE_COL_LOCATION].min) <= w)
			break;
		layout_drop(l->col, &l->n, keep);
	}
	int loc_w = columns[LIVE_COL_LOCATION].min, fn_w = columns[LIVE_COL_FUNCTION].min;
	int spare = w - layout_need(l->col, l->n, loc_w);
	spare = spare > 0 ? spare : 0;
	if (layout_has(l, LIVE_COL_LOCATION) && layout_has(l, LIVE_COL_FUNCTION)) {
		int give = natural - loc_w < spare ? natural - loc_w : spare;
		loc_w += give;
		fn_w += spare - give;
	} else {
		loc_w += spare;
		fn_w += spare;
	}
	int x = 1;
	l->location_x = 3;
	for (size_t i = 0; i < l->n; i++) {
		enum live_column c = l->col[i];
		l->x[i] = x;
		l->w[i] = columns[c].width ? columns[c].width
			  : c == LIVE_COL_LOCATION ? loc_w : fn_w;
		if (c == LIVE_COL_LOCATION)
			l->location_x = x + 2;
		x += l->w[i] + 1;
	}
}

static void table_titles(const struct live_status *st, const struct layout *l, int y, int w)
{
	crt_fill(y, 0, w, CRT_TABLE_HEADER);
	for (size_t i = 0; i < l->n; i++) {
		const struct column *c = &columns[l->col[i]];
		int sorted = live_column_sort(l->col[i]) == (int)st->sort;
		char title[64];
		snprintf(title, sizeof title, "%s%s%s", c->delta ? crt_glyph(CRT_G_DELTA) : "",
			 c->title, sorted ? crt_glyph(st->reverse ? CRT_G_UP : CRT_G_DOWN) : "");
		enum crt_color color = sorted ? CRT_TABLE_SORT : CRT_TABLE_HEADER;
		if (c->right)
			crt_put_right(y, l->x[i], title, l->w[i], color);
		else
			crt_put(y, l->x[i], title, l->w[i], color);
	}
}

/* The colour of row R's cells in column C. */
static enum crt_color row_color(const struct live_status *st, const struct model_row *r,
				enum live_column c, int selected)
{
	if (selected)
		return CRT_SELECTED;
	if (st->diff && c != LIVE_COL_FUNCTION && r->size_diff != 0)
		return r->size_diff > 0 ? CRT_GROW : CRT_SHRINK;
	return columns[c].color;
}

static void table_row(struct live *lv, const struct live_status *st, const struct layout *l,
		      size_t i, int y, int w)
{
	const struct model_row *r = live_row(lv, i);
	int selected = i == live_selected(lv);
	struct cell cell = { r, st->group, st->total_size };
	if (selected)
		crt_fill(y, 0, w, CRT_SELECTED);
	for (size_t k = 0; k < l->n; k++) {
		const struct column *c = &columns[l->col[k]];
		char buf[512];
		c->text(&cell, buf, sizeof buf);
		enum crt_color color = row_color(st, r, l->col[k], selected);
		if (c->right)
			crt_put_right(y, l->x[k], buf, l->w[k], color);
		else
			crt_put_cut(y, l->x[k], buf, l->w[k], color);
	}
}

/* Does a row under grouping G have a source line worth showing? */
static int has_source_line(enum model_group g)
{
	return g == GROUP_LINE || g == GROUP_FUNCTION || g == GROUP_TRACEBACK;
}

static void table_preview(struct live *lv, const struct model_row *r, enum model_group g,
			  int y, int x, int w)
{
	const char *line = has_source_line(g) ? live_source(lv, r->frame) : NULL;
	if (!line)
		return;
	size_t len;
	const char *s = linecache_strip(line, &len);
	char buf[512];
	snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), s);
	crt_put_cut(y, x, buf, w - x, CRT_SOURCE);
}

/* The selected row's frame and source line, in two lines at Y. */
static void table_strip(struct live *lv, const struct live_status *st, int y, int w)
{
	const struct model_row *r = live_row(lv, live_selected(lv));
	const char *h = crt_glyph(CRT_G_HLINE);
	for (int x = 0; x < w; x++)
		crt_put(y, x, h, 1, CRT_DIM);
	if (!r || !r->frame)
		return;
	const struct heap_frame *f = r->frame;
	char loc[512], title[1024];
	snprintf(title, sizeof title, " %s %s %s %s %s ", live_location(r, GROUP_LINE, loc, sizeof loc),
		 crt_glyph(CRT_G_DOT), f->function ? f->function : "??", crt_glyph(CRT_G_DOT),
		 f->module ? path_base(f->module) : "??");
	crt_put_cut(y, 2, title, w - 4, CRT_LOCATION);
	const char *line = live_source(lv, f);
	char num[16];
	snprintf(num, sizeof num, "%5u ", f->line);
	if (!f->file) {
		crt_put(y + 1, 1, "(no source information for this frame)", w - 2, CRT_DIM);
	} else if (!line) {
		snprintf(title, sizeof title, "(source not found: %s)", f->file);
		crt_put_cut(y + 1, 1, title, w - 2, CRT_DIM);
	} else {
		int x = 1 + crt_put(y + 1, 1, num, 6, CRT_DIM);
		x += crt_put(y + 1, x, crt_glyph(CRT_G_VLINE), 1, CRT_DIM);
		crt_put_cut(y + 1, x + 1, line, w - x - 2, CRT_SOURCE);
	}
}

static void table_empty(const struct live_status *st, const struct heap_info *info, int y,
			int w)
{
	const char *text = !info ? "waiting for the first snapshot..."
			   : st->search ? "no site matches the search (Esc clears it)"
			   : st->filters ? "no allocation site passes the filters (f lists them)"
			   : "no live allocations";
	crt_put(y, 2, text, w - 4, CRT_DIM);
}

void table_draw(struct live *lv, int y, int h, int w)
{
	struct live_status st;
	live_status(lv, &st);
	int strip = !st.preview && h >= STRIP_MIN_LINES ? 2 : 0;
	int per_row = st.preview ? 2 : 1;
	int body = h - 1 - strip;
	size_t rows = body > 0 ? (size_t)(body / per_row) : 0;
	live_set_page(lv, rows);
	struct layout l;
	layout_make(lv, w, rows, &l);
	table_titles(&st, &l, y, w);
	size_t top = live_top(lv), n = live_row_count(lv);
	if (n == 0)
		table_empty(&st, live_info(lv), y + 2, w);
	for (size_t i = 0; i < rows && top + i < n; i++) {
		int line = y + 1 + (int)i * per_row;
		table_row(lv, &st, &l, top + i, line, w);
		if (st.preview)
			table_preview(lv, live_row(lv, top + i), st.group, line + 1,
				      w - l.location_x >= PREVIEW_MIN ? l.location_x : PREVIEW_X, w);
	}
	if (strip)
		table_strip(lv, &st, y + h - strip, w);
}
