/* Keys: reading, and the main screen's bindings. */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "viewer/ui/crt.h"
#include "viewer/ui/keys.h"

#define MAX_KEYS 4
/* The footer's last hints, shown whatever the width. */
#define FOOTER_KEEP 2

/* One binding: up to MAX_KEYS keys (0 ends the list), the action run on
 * the live view (or NULL), screen flags, and its help and footer texts. */
static const struct binding {
	int keys[MAX_KEYS];
	const char *names;
	live_action act;
	unsigned flags;
	const char *help;
	const char *hint; /* footer label; NULL: not in the footer */
} bindings[] = {
	{ { KEYS_FN(KEY_UP), 'k' }, "Up k", live_up, 0, "select the row above", NULL },
	{ { KEYS_FN(KEY_DOWN), 'j' }, "Down j", live_down, 0, "select the row below", NULL },
	{ { KEYS_FN(KEY_PPAGE), KEYS_CTRL('b') }, "PgUp", live_page_up, 0, "a page up", NULL },
	{ { KEYS_FN(KEY_NPAGE), KEYS_CTRL('f') }, "PgDn", live_page_down, 0, "a page down", NULL },
	{ { KEYS_FN(KEY_HOME) }, "Home", live_home, 0, "the first row", NULL },
	{ { KEYS_FN(KEY_END), 'G' }, "End G", live_end, 0, "the last row", NULL },
	{ { '\r', '\n', KEYS_FN(KEY_ENTER) }, "Enter", NULL, KEYS_OPEN_STACK,
	  "the stacks of the selected site, every frame with its source line", "Stack" },
	{ { '/', KEYS_FN(KEY_F(3)) }, "/ F3", NULL, KEYS_OPEN_SEARCH,
	  "search: keep the rows whose location, function, file or module contain the text "
	  "(any case; * ? [ ] make it a pattern); Enter keeps it as a filter, Esc drops it",
	  "Search" },
	{ { 'x' }, "x", live_exclude_selected, 0,
	  "exclude the selected row's function (its file or module when grouped so)",
	  "Exclude" },
	{ { 'f', KEYS_FN(KEY_F(4)) }, "f F4", NULL, KEYS_OPEN_FILTERS,
	  "the filter list: switch filters on and off, remove those added here", "Filters" },
	{ { 'S' }, "S", live_toggle_skip_system, 0,
	  "skip frames in the C library, the runtimes and the standard libraries (on by default) or not", NULL },
	{ { 'a' }, "a", live_toggle_all_frames, 0,
	  "filters test every frame of a stack, or the attributed frame only", NULL },
	{ { 'g' }, "g", live_group_next, 0,
	  "group by line, function, file, module or traceback, in turn", "Group" },
	{ { 's', '>', '.' }, "s >", live_sort_next, 0,
	  "sort by the next column that sorts: SIZE, its change (diff mode), COUNT, AVG, "
	  "ALLOCATED",
	  "Sort" },
	{ { '<', ',' }, "<", live_sort_prev, 0, "sort by the previous one", NULL },
	{ { 'r' }, "r", live_sort_reverse, 0, "reverse the sort", NULL },
	{ { 'c' }, "c", live_toggle_cumulative, 0,
	  "cumulative: count a block at every frame of its stack", NULL },
	{ { 'm' }, "m", live_mark, 0,
	  "set the mark now (it survives grouping and filter changes)", "Mark" },
	{ { 'd' }, "d", live_toggle_diff, 0,
	  "diff since the mark: the change of SIZE and COUNT and what was born since, "
	  "sorted by the change of SIZE (a mark is set first if there is none)", "Diff" },
	{ { ' ' }, "Space", live_toggle_pause, 0,
	  "pause: the table holds still, the header keeps going", "Pause" },
	{ { 'p' }, "p", live_toggle_preview, 0, "a source line under every row", NULL },
	{ { '+', '=' }, "+", live_slower, 0, "refresh less often", NULL },
	{ { '-', '_' }, "-", live_faster, 0, "refresh more often", NULL },
	{ { 'w' }, "w", live_save, 0,
	  "write the latest snapshot to ./heaptop-PID-DATE-TIME.htsnap (heaptop report reads "
	  "it)",
	  "Write" },
	{ { 'R' }, "R", live_reset_peak, 0, "reset the peak to what is live now", NULL },
	{ { KEYS_FN(KEY_F(5)) }, "F5", live_refresh, 0, "refresh now", NULL },
	{ { KEYS_CTRL('l') }, "Ctrl-L", NULL, KEYS_REPAINT, "repaint the screen", NULL },
	{ { KEYS_CTRL('z') }, "Ctrl-Z", NULL, KEYS_SUSPEND,
	  "suspend heaptop and its program, back to the shell (fg resumes)", NULL },
	{ { '?', 'h', KEYS_FN(KEY_F(1)) }, "? h F1", NULL, KEYS_OPEN_HELP, "this help", "Help" },
	{ { 'q', KEYS_CTRL('c'), KEYS_FN(KEY_F(10)) }, "q F10 ^C", live_quit, 0,
	  "quit (a program heaptop started is ended; one watched with -p goes on)", "Quit" },
};

#define NBINDINGS (sizeof bindings / sizeof bindings[0])

int keys_read(void)
{
	wint_t c;
	int r = get_wch(&c);
	if (r == ERR)
		return -1;
	return r == KEY_CODE_YES ? KEYS_FN((int)c) : (int)c;
}

int keys_is_enter(int key)
{
	return key == '\r' || key == '\n' || key == KEYS_FN(KEY_ENTER);
}

int keys_is_backspace(int key)
{
	return key == 127 || key == 8 || key == KEYS_FN(KEY_BACKSPACE);
}

static const struct binding *keys_find(int key)
{
	for (size_t i = 0; i < NBINDINGS; i++)
		for (size_t k = 0; k < MAX_KEYS && bindings[i].keys[k]; k++)
			if (bindings[i].keys[k] == key)
				return &bindings[i];
	return NULL;
}

unsigned keys_dispatch(struct live *lv, int key)
{
	const struct binding *b = keys_find(key);
	if (!b)
		return 0;
	return (b->act ? b->act(lv) : 0) | b->flags;
}

unsigned keys_move(struct live *lv, int key)
{
	static const live_action moves[] = {
		live_up, live_down, live_page_up, live_page_down, live_home, live_end,
	};
	const struct binding *b = keys_find(key);
	for (size_t i = 0; b && i < sizeof moves / sizeof moves[0]; i++)
		if (b->act == moves[i])
			return b->act(lv);
	return 0;
}

void keys_draw_hints(int y, int x, int w, const struct keys_hint *hints, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int kw = crt_width(hints[i].key), lw = crt_width(hints[i].label);
		if (x + kw + lw + 3 > w)
			break;
		crt_put(y, x, hints[i].key, kw, CRT_KEY);
		crt_put(y, x + kw + 1, hints[i].label, lw, CRT_KEY_LABEL);
		x += kw + lw + 3;
	}
}

void keys_draw_footer(int y, int w)
{
	struct keys_hint hints[NBINDINGS];
	char names[NBINDINGS][16];
	size_t n = 0;
	for (size_t i = 0; i < NBINDINGS; i++) {
		if (!bindings[i].hint)
			continue;
		/* The first of the key names is enough here. */
		snprintf(names[n], sizeof names[n], "%.*s", (int)strcspn(bindings[i].names, " "),
			 bindings[i].names);
		hints[n] = (struct keys_hint){ names[n], bindings[i].hint };
		n++;
	}
	/* The last FOOTER_KEEP (help, quit) always show, at the right end of
	 * what fits; the others as many as fit before them. */
	int keep = 0;
	for (size_t i = n - FOOTER_KEEP; i < n; i++)
		keep += crt_width(hints[i].key) + crt_width(hints[i].label) + 3;
	keys_draw_hints(y, 0, w - keep, hints, n - FOOTER_KEEP);
	int x = 0;
	for (size_t i = 0; i < n - FOOTER_KEEP; i++) {
		int need = crt_width(hints[i].key) + crt_width(hints[i].label) + 3;
		if (x + need > w - keep)
			break;
		x += need;
	}
	keys_draw_hints(y, x, w, hints + n - FOOTER_KEEP, FOOTER_KEEP);
}

const char *keys_help(size_t i, const char **text)
{
	if (i >= NBINDINGS)
		return NULL;
	*text = bindings[i].help;
	return bindings[i].names;
}
