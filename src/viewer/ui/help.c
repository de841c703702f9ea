/* The help screen. */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/help.h"
#include "viewer/ui/keys.h"

#define KEY_COLS 10 /* "ALLOCATED", "q F10 ^C" */
#define MAX_LINES 256

struct help {
	const struct settings *s;
	int top;
	int lines; /* in the last draw */
	int page;
};

/* What the columns mean, in the order of live.h's columns. */
static const char *const column_help[][2] = {
	{ "SIZE", "bytes live at the site now" },
	{ "dSIZE", "diff mode: change of SIZE since the mark" },
	{ "%", "share of the live bytes that the filters keep" },
	{ "COUNT", "blocks live at the site now" },
	{ "dCOUNT", "diff mode: change of COUNT since the mark" },
	{ "BORN", "diff mode: bytes allocated since the mark that are still live (the leak "
		  "signal that net changes hide under churn)" },
	{ "AVG", "average size of a live block" },
	{ "ALLOCATED", "bytes ever allocated at the site since the program started (churn)" },
	{ "LOCATION", "dir/file.c:line of the attributed frame: the first frame outside the "
		      "C library, the runtimes and the C++ and Rust standard libraries (the "
		      "file, or the module, when grouped so)" },
	{ "FUNCTION", "the attributed frame's function" },
};

static const struct keys_hint hints[] = {
	{ "Up/Dn", "Scroll" }, { "Esc", "Back" },
};

struct help *help_new(const struct settings *s)
{
	struct help *hp = xcalloc(1, sizeof *hp);
	hp->s = s;
	return hp;
}

void help_free(struct help *hp)
{
	free(hp);
}

void help_open(struct help *hp)
{
	hp->top = 0;
}

/* The lines of the help, built for one draw. */
struct text {
	struct {
		char left[32];
		char right[512];
		enum crt_color color;
	} line[MAX_LINES];
	int n;
	int width; /* for the right column */
};

/* Add LEFT and RIGHT, RIGHT wrapped at spaces to the text's width. */
static void text_add(struct text *t, const char *left, const char *right, enum crt_color c)
{
	int first = 1;
	do {
		if (t->n == MAX_LINES)
			return;
		size_t len = strlen(right), cut = len;
		if ((int)len > t->width && t->width > 10) {
			cut = (size_t)t->width;
			while (cut > 0 && right[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = (size_t)t->width;
		}
		snprintf(t->line[t->n].left, sizeof t->line[t->n].left, "%s", first ? left : "");
		snprintf(t->line[t->n].right, sizeof t->line[t->n].right, "%.*s", (int)cut, right);
		t->line[t->n++].color = c;
		right += cut;
		while (*right == ' ')
			right++;
		first = 0;
	} while (*right);
}

static void help_text(const struct help *hp, struct text *t)
{
	const struct settings *s = hp->s;
	char buf[1024];
	text_add(t, "", PACKAGE_STRING ": top for the heap of a native process", CRT_TITLE);
	text_add(t, "", "", CRT_NORMAL);
	text_add(t, "", "Keys", CRT_LABEL);
	const char *what;
	for (size_t i = 0; keys_help(i, &what); i++)
		text_add(t, keys_help(i, &what), what, CRT_NORMAL);
	text_add(t, "", "", CRT_NORMAL);
	text_add(t, "", "Columns", CRT_LABEL);
	for (size_t i = 0; i < sizeof column_help / sizeof column_help[0]; i++) {
		const char *name = column_help[i][0];
		/* "dSIZE" stands for the delta glyph and SIZE. */
		if (name[0] == 'd')
			snprintf(buf, sizeof buf, "%s%s", crt_glyph(CRT_G_DELTA), name + 1);
		else
			snprintf(buf, sizeof buf, "%s", name);
		text_add(t, buf, column_help[i][1], CRT_NORMAL);
	}
	text_add(t, "", "", CRT_NORMAL);
	text_add(t, "", "Program input and output", CRT_LABEL);
	if (s->mode != MODE_PID)
		text_add(t, "", "the program reads /dev/null: the keys are the live view's (heaptop -b "
			 "leaves its input alone)", CRT_NORMAL);
	if (s->mode == MODE_PID)
		snprintf(buf, sizeof buf, "the watched process (pid %d) writes where it always did",
			 (int)s->pid);
	else if (s->output)
		snprintf(buf, sizeof buf, "the program's stdout and stderr go to %s, so that they "
			 "do not disturb the screen (--output FILE chooses another file; without it "
			 "the file is $XDG_STATE_HOME/heaptop/PID.log, PID being heaptop's, and is "
			 "removed at exit when empty)", s->output);
	else
		snprintf(buf, sizeof buf, "the program writes to the terminal");
	text_add(t, "", buf, CRT_NORMAL);
	text_add(t, "", "", CRT_NORMAL);
	text_add(t, "", "Configuration", CRT_LABEL);
	snprintf(buf, sizeof buf, "read from %s; the command line wins",
		 s->config_path ? s->config_path : "no file ($XDG_CONFIG_HOME/heaptop/heaptoprc)");
	text_add(t, "", buf, CRT_NORMAL);
	text_add(t, "", "[view] columns = size, delta_size, percent, count, delta_count, born, "
		 "average, allocated, location, function (which, in which order; the delta "
		 "columns and born show in diff mode only)", CRT_NORMAL);
	text_add(t, "", "[view] color = auto | always | never (--color; auto honours NO_COLOR)",
		 CRT_NORMAL);
	text_add(t, "", "[view] preview = yes | no (a source line under every row; p)", CRT_NORMAL);
}

void help_draw(struct help *hp, int y, int h, int w)
{
	struct text *t = xcalloc(1, sizeof *t);
	t->width = w - KEY_COLS - 4;
	help_text(hp, t);
	hp->lines = t->n;
	hp->page = h > 1 ? h : 1;
	if (hp->top > t->n - h)
		hp->top = t->n - h > 0 ? t->n - h : 0;
	for (int i = 0; i < h && hp->top + i < t->n; i++) {
		int k = hp->top + i;
		crt_put(y + i, 2, t->line[k].left, KEY_COLS, CRT_KEY_LABEL);
		crt_put(y + i, 3 + KEY_COLS, t->line[k].right, w - KEY_COLS - 4, t->line[k].color);
	}
	free(t);
}

void help_footer(int y, int w)
{
	keys_draw_hints(y, 0, w, hints, sizeof hints / sizeof hints[0]);
}

unsigned help_key(struct help *hp, int key)
{
	static const struct {
		int key, lines, pages;
	} scrolls[] = {
		{ KEYS_FN(KEY_UP), -1, 0 }, { 'k', -1, 0 }, { KEYS_FN(KEY_DOWN), 1, 0 },
		{ 'j', 1, 0 }, { KEYS_FN(KEY_PPAGE), 0, -1 }, { KEYS_FN(KEY_NPAGE), 0, 1 },
		{ ' ', 0, 1 },
	};
	for (size_t i = 0; i < sizeof scrolls / sizeof scrolls[0]; i++) {
		if (scrolls[i].key != key)
			continue;
		hp->top += scrolls[i].lines + scrolls[i].pages * hp->page;
		if (hp->top < 0)
			hp->top = 0;
		return LIVE_REDRAW;
	}
	return key == KEYS_CTRL('c') ? LIVE_QUIT : KEYS_CLOSE | LIVE_REDRAW;
}
