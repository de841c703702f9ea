/* The terminal: curses, colours by role, glyphs, text by columns. */
#include "config.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "common/xalloc.h"
#include "viewer/ui/crt.h"

/* Last: its capability macros (columns, lines, ...) would rename fields
 * declared above. */
#include <term.h>

/* Longest text drawn in one call, in columns. */
#define CRT_MAX_COLS 1024
#define CRT_TAB 8

/* One role: its colours (-1: the terminal's default), the attributes that
 * go with them, and the attributes that stand for them in monochrome. */
static const struct crt_role {
	short fg, bg;
	attr_t attrs, mono;
} roles[CRT_NCOLORS] = {
	[CRT_NORMAL] = { -1, -1, A_NORMAL, A_NORMAL },
	[CRT_TITLE] = { COLOR_CYAN, -1, A_BOLD, A_BOLD },
	[CRT_PROGRAM] = { -1, -1, A_BOLD, A_BOLD },
	[CRT_LABEL] = { COLOR_CYAN, -1, A_NORMAL, A_NORMAL },
	[CRT_VALUE] = { -1, -1, A_BOLD, A_BOLD },
	[CRT_SPARK] = { COLOR_GREEN, -1, A_NORMAL, A_NORMAL },
	[CRT_BADGE] = { COLOR_BLACK, COLOR_YELLOW, A_NORMAL, A_REVERSE },
	[CRT_BADGE_MARK] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE },
	[CRT_BADGE_ALERT] = { COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD },
	[CRT_TABLE_HEADER] = { COLOR_BLACK, COLOR_GREEN, A_NORMAL, A_REVERSE },
	[CRT_TABLE_SORT] = { COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD | A_UNDERLINE },
	[CRT_SELECTED] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE },
	[CRT_GROW] = { COLOR_RED, -1, A_BOLD, A_BOLD },
	[CRT_SHRINK] = { COLOR_GREEN, -1, A_NORMAL, A_DIM },
	[CRT_LOCATION] = { -1, -1, A_NORMAL, A_NORMAL },
	[CRT_FUNCTION] = { COLOR_CYAN, -1, A_NORMAL, A_NORMAL },
	[CRT_SOURCE] = { COLOR_YELLOW, -1, A_NORMAL, A_DIM },
	[CRT_DIM] = { COLOR_BLUE, -1, A_BOLD, A_DIM },
	[CRT_KEY] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE },
	[CRT_KEY_LABEL] = { -1, -1, A_NORMAL, A_NORMAL },
	[CRT_MESSAGE] = { COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[CRT_ERROR] = { COLOR_RED, -1, A_BOLD, A_BOLD },
};

static const struct {
	const char *utf8, *ascii;
} glyphs[CRT_NGLYPHS] = {
	[CRT_G_DOWN] = { "\u25bc", "v" },
	[CRT_G_UP] = { "\u25b2", "^" },
	[CRT_G_ELLIPSIS] = { "\u2026", "~" },
	[CRT_G_HLINE] = { "\u2500", "-" },
	[CRT_G_VLINE] = { "\u2502", "|" },
	[CRT_G_DOT] = { "\u00b7", "|" },
	[CRT_G_DELTA] = { "\u0394", "d" },
	[CRT_G_BRANCH] = { "\u251c\u2500", "|-" },
	[CRT_G_LAST] = { "\u2514\u2500", "`-" },
	[CRT_G_CHECK] = { "x", "x" },
};

static const char *const spark_utf8[CRT_SPARK_LEVELS] = {
	"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588",
};
static const char *const spark_ascii[CRT_SPARK_LEVELS] = {
	"_", ".", "-", "=", "+", "*", "#", "@",
};

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

static struct {
	int active;
	int utf8;
	int color;
	attr_t attr[CRT_NCOLORS];
	struct termios saved;      /* the terminal before curses */
	int have_saved;
	char reset[256];           /* leave the alternate screen, show the cursor */
	size_t reset_len;
	struct sigaction old_winch, old_fatal[NFATAL];
	int atexit_done;
} crt;

static volatile sig_atomic_t resized;

static void crt_on_winch(int sig)
{
	resized = 1;
}

/* A crash: only async-signal-safe calls to give the terminal back, then
 * the handler that was there before (a sanitizer's, or the default) gets
 * the signal: raised again, or met again when the faulting instruction
 * runs once more. */
static void crt_on_fatal(int sig)
{
	if (crt.active) {
		if (crt.reset_len)
			(void)!write(STDOUT_FILENO, crt.reset, crt.reset_len);
		if (crt.have_saved)
			tcsetattr(STDIN_FILENO, TCSANOW, &crt.saved);
	}
	for (size_t i = 0; i < NFATAL; i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &crt.old_fatal[i], NULL);
	raise(sig);
}

static void crt_atexit(void)
{
	crt_restore();
}

/* Append the terminfo string CAP (if the terminal has it) to crt.reset. */
static void crt_reset_add(const char *cap)
{
	char *s = tigetstr((char *)cap);
	if (s == NULL || s == (char *)-1)
		return;
	size_t n = strlen(s);
	if (crt.reset_len + n < sizeof crt.reset) {
		memcpy(crt.reset + crt.reset_len, s, n);
		crt.reset_len += n;
	}
}

static void crt_signals(void)
{
	struct sigaction sa = { .sa_handler = crt_on_winch };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &crt.old_winch);
	struct sigaction fa = { .sa_handler = crt_on_fatal };
	sigemptyset(&fa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &fa, &crt.old_fatal[i]);
}

static void crt_colors(enum settings_color want)
{
	const char *no_color = getenv("NO_COLOR");
	crt.color = has_colors() && want != SETTINGS_COLOR_NEVER &&
		    (want == SETTINGS_COLOR_ALWAYS || !no_color || !*no_color);
	if (crt.color && (start_color() == ERR || use_default_colors() == ERR))
		crt.color = 0;
	for (int i = 0; i < CRT_NCOLORS; i++) {
		const struct crt_role *r = &roles[i];
		if (!crt.color || (r->fg < 0 && r->bg < 0)) {
			crt.attr[i] = crt.color ? r->attrs : r->mono;
			continue;
		}
		init_pair((short)(i + 1), r->fg, r->bg);
		crt.attr[i] = COLOR_PAIR(i + 1) | r->attrs;
	}
}

int crt_check(char **cause)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		*cause = xstrdup("the live view needs a terminal; use -b for tables on "
				 "standard output");
		return -1;
	}
	/* Before a program is started for it: a terminal the live view cannot
	 * draw on (unknown, or one that cannot move the cursor, as TERM=dumb)
	 * is refused now, not after. */
	const char *term = getenv("TERM");
	int err = 0;
	if (!term || !*term || setupterm(NULL, STDOUT_FILENO, &err) != OK) {
		*cause = xasprintf("cannot drive the terminal '%s'; use -b for tables on "
				   "standard output", term && *term ? term : "(TERM not set)");
		return -1;
	}
	const char *cup = tigetstr("cup");
	int can_move = cup != NULL && cup != (char *)-1;
	del_curterm(cur_term);
	cur_term = NULL;
	if (!can_move) {
		*cause = xasprintf("the terminal '%s' cannot move the cursor; use -b for tables "
				   "on standard output", term);
		return -1;
	}
	return 0;
}

int crt_init(enum settings_color color, char **cause)
{
	if (crt_check(cause) < 0)
		return -1;
	setlocale(LC_ALL, "");
	setlocale(LC_NUMERIC, "C"); /* numbers look the same in every locale */
	crt.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	crt.have_saved = tcgetattr(STDIN_FILENO, &crt.saved) == 0;
	crt_signals();
	if (newterm(NULL, stdout, stdin) == NULL) {
		*cause = xasprintf("cannot drive the terminal '%s'",
				   getenv("TERM") ? getenv("TERM") : "(TERM not set)");
		crt_restore();
		return -1;
	}
	crt.active = 1;
	if (!crt.atexit_done)
		atexit(crt_atexit);
	crt.atexit_done = 1;
	crt.reset_len = 0;
	crt_reset_add("sgr0");
	crt_reset_add("cnorm");
	crt_reset_add("rmkx");
	crt_reset_add("rmcup");
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	crt_colors(color);
	return 0;
}

void crt_restore(void)
{
	if (crt.active) {
		crt.active = 0;
		curs_set(1);
		endwin();
		fflush(stdout);
	}
	if (crt.have_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &crt.saved);
	sigaction(SIGWINCH, &crt.old_winch, NULL);
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &crt.old_fatal[i], NULL);
	crt.have_saved = 0;
	memset(&crt.old_winch, 0, sizeof crt.old_winch);
	memset(crt.old_fatal, 0, sizeof crt.old_fatal);
}

static int crt_can_suspend(void)
{
	/* A shell with job control puts each job in a process group of its
	 * own, apart from the session's (its own), and resumes it with fg:
	 * heaptop, or a script or make that runs it, is such a job.  In the
	 * session's own group (a terminal's or a tmux pane's command, or a
	 * script that one runs) there is nobody to resume it. */
	return getpgrp() != getsid(0);
}

int crt_suspend(void)
{
	if (!crt.active || !crt_can_suspend())
		return -1;
	curs_set(1);
	endwin(); /* the terminal as the shell had it */
	fflush(stdout);
	/* SIGTSTP to the whole job, as the terminal sends it in a shell: the
	 * program heaptop started stops too.  Returns once continued. */
	kill(0, SIGTSTP);
	reset_prog_mode();
	curs_set(0);
	clearok(curscr, TRUE);
	resized = 1; /* the size may have changed meanwhile */
	return 0;
}

int crt_resized(void)
{
	if (!resized)
		return 0;
	resized = 0;
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	return 1;
}

int crt_lines(void)
{
	return LINES;
}

int crt_cols(void)
{
	return COLS;
}

void crt_begin(void)
{
	erase();
}

void crt_end(void)
{
	refresh();
}

int crt_has_utf8(void)
{
	return crt.utf8;
}

const char *crt_glyph(enum crt_glyph g)
{
	return crt.utf8 ? glyphs[g].utf8 : glyphs[g].ascii;
}

const char *crt_spark(int level)
{
	if (level < 0)
		return " ";
	if (level >= CRT_SPARK_LEVELS)
		level = CRT_SPARK_LEVELS - 1;
	return crt.utf8 ? spark_utf8[level] : spark_ascii[level];
}

/* The next character of *S as a wide character of *WIDTH columns; '?' for
 * what cannot be shown.  Advances *S. */
static wchar_t crt_next(const char **s, mbstate_t *st, int *width)
{
	unsigned char c = (unsigned char)**s;
	wchar_t wc = '?';
	size_t n = 1;
	if (c >= 0x80 && crt.utf8) {
		n = mbrtowc(&wc, *s, MB_CUR_MAX, st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(st, 0, sizeof *st);
			wc = '?';
			n = 1;
		}
	} else if (c >= 0x20 && c < 0x7f) {
		wc = c;
	}
	*s += n;
	int w = wcwidth(wc);
	if (w < 0) {
		wc = '?';
		w = 1;
	}
	*width = w;
	return wc;
}

/* TEXT decoded into OUT (room for CRT_MAX_COLS + 1) up to WIDTH columns;
 * *COLS gets the columns used, *MORE whether text was left.  Returns the
 * number of wide characters. */
static size_t crt_decode(const char *text, int width, wchar_t *out, int *cols, int *more)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t n = 0;
	int used = 0;
	if (width > CRT_MAX_COLS)
		width = CRT_MAX_COLS;
	const char *s = text;
	while (*s && n < CRT_MAX_COLS) {
		if (*s == '\t') {
			int to = (used / CRT_TAB + 1) * CRT_TAB;
			if (to > width)
				break;
			while (used < to)
				out[n++] = ' ', used++;
			s++;
			continue;
		}
		const char *at = s;
		int w;
		wchar_t wc = crt_next(&s, &st, &w);
		if (used + w > width) {
			s = at;
			break;
		}
		out[n++] = wc;
		used += w;
	}
	out[n] = 0;
	*cols = used;
	*more = *s != '\0';
	return n;
}

static void crt_draw(int y, int x, const wchar_t *w, size_t n, enum crt_color c)
{
	if (n == 0 || y < 0 || y >= LINES || x < 0 || x >= COLS)
		return;
	attrset(crt.attr[c]);
	mvaddnwstr(y, x, w, (int)n);
	attrset(A_NORMAL);
}

/* WIDTH cut to what is left of the line from X. */
static int crt_clip(int x, int width)
{
	return x + width > COLS ? COLS - x : width;
}

int crt_put(int y, int x, const char *text, int width, enum crt_color c)
{
	wchar_t w[CRT_MAX_COLS + 1];
	int cols, more;
	width = crt_clip(x, width);
	if (width <= 0 || !text)
		return 0;
	size_t n = crt_decode(text, width, w, &cols, &more);
	crt_draw(y, x, w, n, c);
	return cols;
}

int crt_put_cut(int y, int x, const char *text, int width, enum crt_color c)
{
	wchar_t w[CRT_MAX_COLS + 1];
	int cols, more;
	width = crt_clip(x, width);
	if (width <= 0 || !text)
		return 0;
	size_t n = crt_decode(text, width, w, &cols, &more);
	if (!more || width < 2) {
		crt_draw(y, x, w, n, c);
		return cols;
	}
	n = crt_decode(text, width - 1, w, &cols, &more);
	crt_draw(y, x, w, n, c);
	return cols + crt_put(y, x + cols, crt_glyph(CRT_G_ELLIPSIS), 1, c);
}

int crt_put_right(int y, int x, const char *text, int width, enum crt_color c)
{
	int w = crt_width(text);
	if (w > width)
		return crt_put(y, x, text, width, c);
	return crt_put(y, x + width - w, text, w, c);
}

void crt_fill(int y, int x, int width, enum crt_color c)
{
	width = crt_clip(x, width);
	if (width <= 0 || y < 0 || y >= LINES || x < 0 || x >= COLS)
		return;
	attrset(crt.attr[c]);
	mvhline(y, x, ' ', width);
	attrset(A_NORMAL);
}

int crt_width(const char *text)
{
	wchar_t w[CRT_MAX_COLS + 1];
	int cols, more;
	crt_decode(text, CRT_MAX_COLS, w, &cols, &more);
	return cols;
}
