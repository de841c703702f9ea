/* The filter list. */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/filters.h"
#include "viewer/ui/keys.h"

struct filters {
	size_t sel, top;
};

static const char *const origins[] = {
	[LIVE_FROM_OPTIONS] = "options", [LIVE_FROM_CONFIG] = "config",
	[LIVE_FROM_KEYS] = "added",
};

static const struct keys_hint hints[] = {
	{ "Space", "On/off" }, { "Del", "Remove" }, { "S", "System frames" },
	{ "a", "All frames" }, { "Esc", "Back" },
};

struct filters *filters_new(void)
{
	return xcalloc(1, sizeof(struct filters));
}

void filters_free(struct filters *fl)
{
	free(fl);
}

void filters_open(struct filters *fl)
{
	fl->sel = fl->top = 0;
}

/* Append "WHAT p1, p2" for the patterns of V to BUF of N bytes. */
static void patterns_text(char *buf, size_t n, const char *what, const struct strv *v)
{
	size_t len = strlen(buf);
	for (size_t i = 0; i < v->n && len < n; i++) {
		snprintf(buf + len, n - len, "%s%s%s", i == 0 ? (len ? "   " : "") : ", ",
			 i == 0 ? what : "", v->v[i]);
		len = strlen(buf);
	}
}

static void filter_name(const struct live_filter *f, char *buf, size_t n)
{
	snprintf(buf, n, "%s (%s)", f->name, origins[f->origin]);
}

/* Columns for the names: the widest, within reason. */
static int filters_name_width(struct live *lv, int w)
{
	int widest = 8;
	for (size_t i = 0; i < live_filter_count(lv); i++) {
		char name[256];
		filter_name(live_filter(lv, i), name, sizeof name);
		int nw = crt_width(name);
		widest = nw > widest ? nw : widest;
	}
	return widest < w * 3 / 5 ? widest : w * 3 / 5;
}

static void filters_row(const struct live_filter *f, int selected, int nw, int y, int w)
{
	char mark[8], name[256], pats[1024] = "";
	snprintf(mark, sizeof mark, "[%s]", f->enabled ? crt_glyph(CRT_G_CHECK) : " ");
	filter_name(f, name, sizeof name);
	patterns_text(pats, sizeof pats, "include ", &f->include);
	patterns_text(pats, sizeof pats, "exclude ", &f->exclude);
	patterns_text(pats, sizeof pats, "skip ", &f->skip);
	if (selected)
		crt_fill(y, 0, w, CRT_SELECTED);
	enum crt_color c = selected ? CRT_SELECTED : CRT_NORMAL;
	crt_put(y, 1, mark, 3, c);
	crt_put_cut(y, 5, name, nw, selected ? c : f->enabled ? CRT_LOCATION : CRT_DIM);
	crt_put_cut(y, 7 + nw, pats, w - 8 - nw, selected ? c : CRT_FUNCTION);
}

void filters_draw(struct filters *fl, struct live *lv, int y, int h, int w)
{
	struct live_status st;
	live_status(lv, &st);
	size_t n = live_filter_count(lv);
	crt_fill(y, 0, w, CRT_TABLE_HEADER);
	crt_put_cut(y, 1, "Filters: a site shows when no exclude matches it and, if there are "
			  "includes, one does", w - 2, CRT_TABLE_HEADER);
	char line[256];
	snprintf(line, sizeof line, "System frames: %s (S)   Filters test: %s (a)",
		 st.skip_system ? "skipped" : "not skipped",
		 st.all_frames ? "every frame" : "the attributed frame");
	crt_put_cut(y + 1, 1, line, w - 2, CRT_LABEL);
	int rows = h - 3;
	if (n == 0) {
		crt_put_cut(y + 3, 2, "No filters yet: x excludes the selected row's function, "
				      "/ then Enter keeps a search as an include filter, and "
				      "[filter NAME] sections of the configuration add named ones.",
			    w - 4, CRT_DIM);
		return;
	}
	if (fl->sel >= n)
		fl->sel = n - 1;
	if (fl->sel < fl->top)
		fl->top = fl->sel;
	if (rows > 0 && fl->sel >= fl->top + (size_t)rows)
		fl->top = fl->sel - (size_t)rows + 1;
	int nw = filters_name_width(lv, w);
	for (int i = 0; i < rows && fl->top + (size_t)i < n; i++)
		filters_row(live_filter(lv, fl->top + (size_t)i), fl->top + (size_t)i == fl->sel,
			    nw, y + 3 + i, w);
}

void filters_footer(int y, int w)
{
	keys_draw_hints(y, 0, w, hints, sizeof hints / sizeof hints[0]);
}

typedef unsigned (*filters_action)(struct filters *fl, struct live *lv);

static unsigned filters_up(struct filters *fl, struct live *lv)
{
	if (fl->sel == 0)
		return 0;
	fl->sel--;
	return LIVE_REDRAW;
}

static unsigned filters_down(struct filters *fl, struct live *lv)
{
	if (fl->sel + 1 >= live_filter_count(lv))
		return 0;
	fl->sel++;
	return LIVE_REDRAW;
}

static unsigned filters_toggle(struct filters *fl, struct live *lv)
{
	return live_filter_toggle(lv, fl->sel);
}

static unsigned filters_remove(struct filters *fl, struct live *lv)
{
	return live_filter_remove(lv, fl->sel);
}

static unsigned filters_system(struct filters *fl, struct live *lv)
{
	return live_toggle_skip_system(lv);
}

static unsigned filters_all_frames(struct filters *fl, struct live *lv)
{
	return live_toggle_all_frames(lv);
}

static unsigned filters_close(struct filters *fl, struct live *lv)
{
	return KEYS_CLOSE | LIVE_REDRAW;
}

static unsigned filters_quit(struct filters *fl, struct live *lv)
{
	return LIVE_QUIT;
}

static const struct {
	int key;
	filters_action act;
} actions[] = {
	{ KEYS_FN(KEY_UP), filters_up }, { 'k', filters_up },
	{ KEYS_FN(KEY_DOWN), filters_down }, { 'j', filters_down },
	{ ' ', filters_toggle }, { '\r', filters_toggle }, { '\n', filters_toggle },
	{ KEYS_FN(KEY_ENTER), filters_toggle },
	{ KEYS_FN(KEY_DC), filters_remove }, { 'd', filters_remove },
	{ KEYS_FN(KEY_BACKSPACE), filters_remove }, { 127, filters_remove },
	{ 'S', filters_system }, { 'a', filters_all_frames },
	{ KEYS_ESC, filters_close }, { 'q', filters_close }, { 'f', filters_close },
	{ KEYS_CTRL('c'), filters_quit },
};

unsigned filters_key(struct filters *fl, struct live *lv, int key)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (actions[i].key == key)
			return actions[i].act(fl, lv);
	return 0;
}
