/*
 * The terminal: curses set up and torn down, colours by meaning, glyphs in
 * UTF-8 or ASCII, and text put on the screen by display columns.  Only the
 * files in src/viewer/ui/ include curses; they name colours by the roles
 * below, never by curses colour numbers.
 *
 * The terminal is restored on every way out: crt_restore on the normal
 * path, an atexit handler for exit(), and for a crash (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGABRT) a handler that does only async-signal-safe work
 * (tcsetattr and write of strings prepared at crt_init), then dies of the
 * same signal.
 */
#ifndef HEAPTOP_UI_CRT_H
#define HEAPTOP_UI_CRT_H

#include "viewer/settings.h"

/* Roles that text is drawn in; crt.c maps each to colours and to a
 * monochrome attribute. */
enum crt_color {
	CRT_NORMAL,
	CRT_TITLE,        /* "heaptop" in the header */
	CRT_PROGRAM,      /* the program's command line */
	CRT_LABEL,        /* "Live", "Peak", ... */
	CRT_VALUE,        /* their numbers */
	CRT_SPARK,        /* the sparkline */
	CRT_BADGE,        /* PAUSED, FILTERS */
	CRT_BADGE_MARK,   /* MARK, DIFF */
	CRT_BADGE_ALERT,  /* EXITED, AGENT LOST */
	CRT_TABLE_HEADER, /* column titles */
	CRT_TABLE_SORT,   /* the sort column's title */
	CRT_SELECTED,     /* the selected row */
	CRT_GROW,         /* diff mode: a row that grew */
	CRT_SHRINK,       /* diff mode: a row that shrank */
	CRT_LOCATION,
	CRT_FUNCTION,
	CRT_SOURCE,       /* source lines */
	CRT_DIM,          /* line numbers, rules, secondary text */
	CRT_KEY,          /* a key in the footer */
	CRT_KEY_LABEL,    /* what it does */
	CRT_MESSAGE,      /* a transient message */
	CRT_ERROR,
	CRT_NCOLORS
};

/* Glyphs with an ASCII stand-in. */
enum crt_glyph {
	CRT_G_DOWN,     /* sorted largest first */
	CRT_G_UP,       /* sorted smallest first */
	CRT_G_ELLIPSIS, /* text cut short */
	CRT_G_HLINE,
	CRT_G_VLINE,
	CRT_G_DOT,      /* separator in the header */
	CRT_G_DELTA,    /* the Δ of column titles */
	CRT_G_BRANCH,   /* stack view: a frame with more below */
	CRT_G_LAST,     /* stack view: the outermost frame */
	CRT_G_CHECK,    /* filter on */
	CRT_NGLYPHS
};

/* Levels of the sparkline: crt_spark(0) is the lowest. */
#define CRT_SPARK_LEVELS 8

/* Take the terminal (curses, keypad, raw input, no echo, hidden cursor,
 * colours as COLOR asks and NO_COLOR allows).  -1 with *CAUSE set when it
 * is not a terminal curses can drive. */
int crt_init(enum settings_color color, char **cause);
/* Give the terminal back as it was; safe to call twice. */
void crt_restore(void);
/* Ctrl-Z: give the terminal back, stop the job (heaptop and the program
 * it started, its process group), and take the terminal again once the
 * shell continues it: 0.  -1, doing nothing, when no shell could resume
 * heaptop (its process group is the session's, not a job's). */
int crt_suspend(void);
/* 0 when stdin and stdout are a terminal; -1 with *CAUSE set otherwise. */
int crt_check(char **cause);

/* 1 once the terminal's size changed (SIGWINCH); curses then knows the
 * new size.  Clears the flag. */
int crt_resized(void);
/* Screen size in lines and columns. */
int crt_lines(void);
int crt_cols(void);
/* Start a frame (everything blank) and show it. */
void crt_begin(void);
void crt_end(void);

int crt_has_utf8(void);
const char *crt_glyph(enum crt_glyph g);
const char *crt_spark(int level);

/* Draw TEXT (UTF-8; invalid bytes and controls shown as '?', tabs as
 * spaces) at line Y, column X in at most WIDTH columns, cut with an
 * ellipsis when it does not fit (CUT set) or plainly.  Returns the columns
 * used. */
int crt_put(int y, int x, const char *text, int width, enum crt_color c);
int crt_put_cut(int y, int x, const char *text, int width, enum crt_color c);
/* The same, right-aligned within WIDTH. */
int crt_put_right(int y, int x, const char *text, int width, enum crt_color c);
/* WIDTH blanks in colour C. */
void crt_fill(int y, int x, int width, enum crt_color c);
/* Columns TEXT takes on the screen. */
int crt_width(const char *text);

#endif
