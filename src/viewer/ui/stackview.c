/* The stack view of one site. */
#include "config.h"

#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "viewer/format.h"
#include "viewer/linecache.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/keys.h"
#include "viewer/ui/stackview.h"

struct stackview {
	size_t n, cur;    /* stacks, and the one shown */
	size_t top, page; /* first frame on screen, frames that fit */
	char site[512];   /* the site's location, for the title */
	char when[16];    /* the snapshot's time: the view holds still */
};

static const struct keys_hint hints[] = {
	{ "Up/Dn", "Scroll" }, { "Left/Right", "Other stacks" }, { "Esc", "Back" },
};

struct stackview *stackview_new(void)
{
	return xcalloc(1, sizeof(struct stackview));
}

void stackview_free(struct stackview *sv)
{
	free(sv);
}

void stackview_open(struct stackview *sv, struct live *lv)
{
	struct live_status st;
	live_status(lv, &st);
	const struct model_row *r = live_row(lv, live_selected(lv));
	*sv = (struct stackview){ .page = 1 };
	if (r)
		live_location(r, st.group, sv->site, sizeof sv->site);
	sv->n = live_stacks_open(lv);
	const struct heap_info *i = live_info(lv);
	time_t t = i && i->time_ns ? (time_t)(i->time_ns / 1000000000u) : time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(sv->when, sizeof sv->when, "%H:%M:%S", &tm);
}

void stackview_close(struct stackview *sv, struct live *lv)
{
	live_stacks_close(lv);
	sv->n = 0;
}

static void stackview_title(const struct stackview *sv, const struct live_stack *s, int y,
			    int w)
{
	char size[32], title[768];
	const char *dot = crt_glyph(CRT_G_DOT);
	format_size(size, sizeof size, (double)s->size, 0);
	snprintf(title, sizeof title,
		 " Stack %zu of %zu %s %s %s %s in %" PRId64 " blocks %s %zu frames %s as of %s",
		 sv->cur + 1, sv->n, dot, sv->site, dot, size, s->count, dot, s->nframes, dot,
		 sv->when);
	crt_fill(y, 0, w, CRT_TABLE_HEADER);
	crt_put_cut(y, 0, title, w, CRT_TABLE_HEADER);
}

/* Columns of the frame lines: function, location, module. */
struct frame_cols {
	int fn, loc, mod;
};

static const char *module_name(const struct heap_frame *f)
{
	return f->module ? path_base(f->module) : "";
}

static struct frame_cols frame_cols(const struct live_stack *s, int w)
{
	int room = w - 9, mod = 0;
	for (size_t i = 0; i < s->nframes; i++) {
		int m = crt_width(module_name(&s->frames[i]));
		mod = m > mod ? m : mod;
	}
	struct frame_cols c = { .mod = mod < room / 5 ? mod : room / 5 };
	c.fn = (room - c.mod) / 2;
	c.loc = room - c.mod - c.fn;
	return c;
}

/* Frame I of S in two lines at Y: what it is, then its source line. */
static void stackview_frame(struct live *lv, const struct live_stack *s, size_t i,
			    const struct frame_cols *c, int y, int w)
{
	const struct heap_frame *f = &s->frames[i];
	char num[16], loc[512], fn[512];
	snprintf(num, sizeof num, "#%zu", i);
	if (f->file)
		snprintf(loc, sizeof loc, "%s:%u", path_short(f->file), f->line);
	else
		snprintf(loc, sizeof loc, "??");
	snprintf(fn, sizeof fn, "%s%s", f->function ? f->function : "??",
		 f->inlined ? " (inlined)" : "");
	crt_put(y, 1, num, 4, CRT_DIM);
	crt_put_cut(y, 6, fn, c->fn, CRT_FUNCTION);
	crt_put_cut(y, 7 + c->fn, loc, c->loc, CRT_LOCATION);
	crt_put_cut(y, 8 + c->fn + c->loc, module_name(f), c->mod, CRT_DIM);
	const char *line = live_source(lv, f);
	if (line) {
		size_t len;
		const char *t = linecache_strip(line, &len);
		char src[512];
		snprintf(src, sizeof src, "%.*s", (int)(len < sizeof src ? len : sizeof src - 1), t);
		crt_put_cut(y + 1, 8, src, w - 9, CRT_SOURCE);
	}
}

void stackview_draw(struct stackview *sv, struct live *lv, int y, int h, int w)
{
	const struct live_stack *s = live_stack(lv, sv->cur);
	if (!s || h < 2) {
		crt_put(y, 2, "no stack to show", w - 4, CRT_DIM);
		return;
	}
	stackview_title(sv, s, y, w);
	sv->page = (size_t)((h - 1) / 2) ? (size_t)((h - 1) / 2) : 1;
	if (sv->top + sv->page > s->nframes)
		sv->top = s->nframes > sv->page ? s->nframes - sv->page : 0;
	struct frame_cols c = frame_cols(s, w);
	for (size_t i = sv->top; i < s->nframes && i < sv->top + sv->page; i++)
		stackview_frame(lv, s, i, &c, y + 1 + 2 * (int)(i - sv->top), w);
	if (s->nframes == 0)
		crt_put(y + 1, 2, "no frames were recorded for this stack", w - 4, CRT_DIM);
}

void stackview_footer(int y, int w)
{
	keys_draw_hints(y, 0, w, hints, sizeof hints / sizeof hints[0]);
}

/* Scroll by DELTA frames. */
static unsigned stackview_scroll(struct stackview *sv, long delta)
{
	long top = (long)sv->top + delta;
	sv->top = top < 0 ? 0 : (size_t)top; /* the draw clamps the bottom */
	return LIVE_REDRAW;
}

static unsigned stackview_turn(struct stackview *sv, int dir)
{
	if (sv->n == 0)
		return 0;
	sv->cur = dir > 0 ? (sv->cur + 1) % sv->n : (sv->cur + sv->n - 1) % sv->n;
	sv->top = 0;
	return LIVE_REDRAW;
}

unsigned stackview_key(struct stackview *sv, struct live *lv, int key)
{
	static const struct {
		int key;
		long scroll; /* frames, or pages when PAGES */
		int pages, turn;
	} moves[] = {
		{ KEYS_FN(KEY_UP), -1, 0, 0 }, { 'k', -1, 0, 0 }, { KEYS_FN(KEY_DOWN), 1, 0, 0 },
		{ 'j', 1, 0, 0 }, { KEYS_FN(KEY_PPAGE), -1, 1, 0 }, { KEYS_FN(KEY_NPAGE), 1, 1, 0 },
		{ KEYS_FN(KEY_HOME), -100000, 0, 0 }, { KEYS_FN(KEY_END), 100000, 0, 0 },
		{ KEYS_FN(KEY_LEFT), 0, 0, -1 }, { 'N', 0, 0, -1 }, { KEYS_FN(KEY_RIGHT), 0, 0, 1 },
		{ 'n', 0, 0, 1 }, { '\t', 0, 0, 1 },
	};
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
		if (moves[i].key != key)
			continue;
		if (moves[i].turn)
			return stackview_turn(sv, moves[i].turn);
		return stackview_scroll(sv, moves[i].scroll * (moves[i].pages ? (long)sv->page : 1));
	}
	if (key == KEYS_ESC || key == 'q' || keys_is_enter(key) || keys_is_backspace(key)) {
		stackview_close(sv, lv);
		return KEYS_CLOSE | LIVE_REDRAW;
	}
	return key == KEYS_CTRL('c') ? LIVE_QUIT : 0;
}
