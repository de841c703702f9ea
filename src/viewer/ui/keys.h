/*
 * Keys: reading them, and the table that binds the main screen's keys to
 * live view actions (live.h) or to the screens they open.  The help screen
 * and the footer are made from the same table, so a key is documented
 * where it is bound.
 */
#ifndef HEAPTOP_UI_KEYS_H
#define HEAPTOP_UI_KEYS_H

#include <stddef.h>

#include "viewer/live.h"

/* A key as keys_read returns it: a character (a Unicode code point) or
 * KEYS_FN of a curses key code (KEY_UP, ...), which never collide. */
#define KEYS_FN(k) ((k) + 0x1000000)
#define KEYS_CTRL(c) ((c) & 0x1f)
#define KEYS_ESC 27

/* What a key asks of the screens, besides the LIVE_* flags. */
enum keys_flag {
	KEYS_CLOSE = 1u << 16,        /* back to the table */
	KEYS_OPEN_STACK = 1u << 17,
	KEYS_OPEN_SEARCH = 1u << 18,
	KEYS_OPEN_FILTERS = 1u << 19,
	KEYS_OPEN_HELP = 1u << 20,
	KEYS_REPAINT = 1u << 21,      /* repaint the whole terminal */
	KEYS_SUSPEND = 1u << 22,      /* stop the job, as Ctrl-Z in a shell */
};

/* One key and what it does, for footers. */
struct keys_hint {
	const char *key, *label;
};

/* The next key waiting, or -1. */
int keys_read(void);
/* Is KEY one of Enter, Esc, Backspace? */
int keys_is_enter(int key);
int keys_is_backspace(int key);
/* The flags of the main screen's binding for KEY, after running its
 * action on LV; 0 for a key bound to nothing. */
unsigned keys_dispatch(struct live *lv, int key);
/* The movement keys (arrows, j/k, pages, Home/End) on LV: their flags, or
 * 0 when KEY is not one. */
unsigned keys_move(struct live *lv, int key);

/* Draw HINTS[0..N) on line Y from column X, as many as fit before
 * column W. */
void keys_draw_hints(int y, int x, int w, const struct keys_hint *hints, size_t n);
/* The main screen's footer. */
void keys_draw_footer(int y, int w);
/* The main screen's bindings for the help screen: the keys as text and
 * what they do; NULL past the last. */
const char *keys_help(size_t i, const char **text);

#endif
