/* The live view's loop: snapshots, keys, screens. */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/live.h"
#include "viewer/snapfile.h"
#include "viewer/ui/crt.h"
#include "viewer/ui/filters.h"
#include "viewer/ui/header.h"
#include "viewer/ui/help.h"
#include "viewer/ui/keys.h"
#include "viewer/ui/prompt.h"
#include "viewer/ui/stackview.h"
#include "viewer/ui/table.h"
#include "viewer/ui/view.h"

/* Below this the screen only says it is too small. */
#define MIN_LINES 6
#define MIN_COLS 30
/* The sparkline needs this many lines on the screen. */
#define SPARK_LINES 16
/* Wake at least this often (ms) while a launched program runs. */
#define MAX_WAIT_MS 1000

enum view_screen { SCREEN_TABLE, SCREEN_SEARCH, SCREEN_STACK, SCREEN_FILTERS, SCREEN_HELP, NSCREENS };

struct view {
	const struct settings *s;
	struct session *ss;
	struct live *lv;
	volatile sig_atomic_t *stop;
	enum view_screen screen;
	struct stackview *sv;
	struct filters *fl;
	struct prompt *pr;
	struct help *hp;
	uint64_t next_fetch; /* ms, monotonic */
	long fetches;
	int ended; /* the launched program ended and was reaped */
	int lost;  /* the agent stopped answering */
	int gave_up; /* and cannot come back: no more reconnecting */
};

static volatile sig_atomic_t child_changed, hung_up;

static void view_on_child(int sig)
{
	child_changed = 1;
}

/* The terminal went away: leave as on q (set too when stdin hangs up). */
static void view_on_hangup(int sig)
{
	hung_up = 1;
}

/* --- screens: a table of how each draws and takes keys ------------------------- */

static void draw_table(struct view *v, int y, int h, int w)
{
	table_draw(v->lv, y, h, w);
}

static void draw_stack(struct view *v, int y, int h, int w)
{
	stackview_draw(v->sv, v->lv, y, h, w);
}

static void draw_filters(struct view *v, int y, int h, int w)
{
	filters_draw(v->fl, v->lv, y, h, w);
}

static void draw_help(struct view *v, int y, int h, int w)
{
	help_draw(v->hp, y, h, w);
}

static void footer_table(struct view *v, int y, int w)
{
	keys_draw_footer(y, w);
}

static void footer_search(struct view *v, int y, int w)
{
	prompt_draw(v->pr, y, w);
}

static void footer_stack(struct view *v, int y, int w)
{
	stackview_footer(y, w);
}

static void footer_filters(struct view *v, int y, int w)
{
	filters_footer(y, w);
}

static void footer_help(struct view *v, int y, int w)
{
	help_footer(y, w);
}

static unsigned key_table(struct view *v, int key)
{
	return keys_dispatch(v->lv, key);
}

static unsigned key_search(struct view *v, int key)
{
	return prompt_key(v->pr, v->lv, key);
}

static unsigned key_stack(struct view *v, int key)
{
	return stackview_key(v->sv, v->lv, key);
}

static unsigned key_filters(struct view *v, int key)
{
	return filters_key(v->fl, v->lv, key);
}

static unsigned key_help(struct view *v, int key)
{
	return help_key(v->hp, key);
}

static const struct view_screen_ops {
	void (*draw)(struct view *v, int y, int h, int w);
	void (*footer)(struct view *v, int y, int w);
	unsigned (*key)(struct view *v, int key);
	int prompt; /* the footer is an input line: messages wait */
} screens[NSCREENS] = {
	[SCREEN_TABLE] = { draw_table, footer_table, key_table, 0 },
	[SCREEN_SEARCH] = { draw_table, footer_search, key_search, 1 },
	[SCREEN_STACK] = { draw_stack, footer_stack, key_stack, 0 },
	[SCREEN_FILTERS] = { draw_filters, footer_filters, key_filters, 0 },
	[SCREEN_HELP] = { draw_help, footer_help, key_help, 0 },
};

static unsigned open_stack(struct view *v)
{
	stackview_open(v->sv, v->lv);
	return LIVE_REDRAW;
}

static unsigned open_search(struct view *v)
{
	return prompt_open(v->pr, v->lv);
}

static unsigned open_filters(struct view *v)
{
	filters_open(v->fl);
	return LIVE_REDRAW;
}

static unsigned open_help(struct view *v)
{
	help_open(v->hp);
	return LIVE_REDRAW;
}

/* Which key flag opens which screen. */
static const struct {
	unsigned flag;
	enum view_screen screen;
	unsigned (*open)(struct view *v);
} opens[] = {
	{ KEYS_OPEN_STACK, SCREEN_STACK, open_stack },
	{ KEYS_OPEN_SEARCH, SCREEN_SEARCH, open_search },
	{ KEYS_OPEN_FILTERS, SCREEN_FILTERS, open_filters },
	{ KEYS_OPEN_HELP, SCREEN_HELP, open_help },
};

static void view_draw(struct view *v)
{
	int h = crt_lines(), w = crt_cols();
	crt_begin();
	if (h < MIN_LINES || w < MIN_COLS) {
		crt_put(0, 0, "heaptop: the terminal is too small", w, CRT_ERROR);
		crt_end();
		return;
	}
	int y = header_draw(v->lv, 0, w, h >= SPARK_LINES ? 3 : 2);
	const struct view_screen_ops *sc = &screens[v->screen];
	sc->draw(v, y, h - y - 1, w);
	struct live_status st;
	live_status(v->lv, &st);
	if (st.message && !sc->prompt)
		crt_put_cut(h - 1, 0, st.message, w, CRT_MESSAGE);
	else
		sc->footer(v, h - 1, w);
	crt_end();
}

static unsigned view_key(struct view *v, int key)
{
	unsigned f = screens[v->screen].key(v, key);
	if (f & KEYS_CLOSE)
		v->screen = SCREEN_TABLE;
	for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
		if (f & opens[i].flag) {
			v->screen = opens[i].screen;
			f |= opens[i].open(v);
		}
	}
	if (f & KEYS_SUSPEND) {
		if (crt_suspend() < 0)
			f |= live_set_message(v->lv, "Ctrl-Z: no shell to return to (heaptop was "
						     "not started as a job); q quits");
		f |= LIVE_REDRAW;
	}
	if (f & KEYS_REPAINT) {
		clearok(curscr, TRUE);
		f |= LIVE_REDRAW;
	}
	return f;
}

/* --- the program and its agent ------------------------------------------------------ */

/* The launched program ended with STATUS: show what was live at exit. */
static unsigned view_end(struct view *v, int status)
{
	char *cause = NULL;
	v->ended = 1;
	struct heap *fin = session_final(v->ss, &cause);
	unsigned f = live_set_exited(v->lv, fin, status);
	char *msg = fin ? xstrdup("the program ended: this is what was live at exit; q quits")
		    : WIFSIGNALED(status)
			? xasprintf("killed by signal %d (%s), the program left no live-at-exit "
				    "snapshot: this is the last table", WTERMSIG(status),
				    strsignal(WTERMSIG(status)))
			: xasprintf("no live-at-exit snapshot (%s): this is the last table", cause);
	live_set_message(v->lv, msg);
	free(msg);
	free(cause);
	return f;
}

static unsigned view_check_ended(struct view *v)
{
	int status;
	if (v->ended || !session_launched(v->ss) || !session_ended(v->ss, &status))
		return 0;
	return view_end(v, status);
}

static unsigned view_fetch_failed(struct view *v, const char *cause)
{
	unsigned f = view_check_ended(v);
	if (v->ended)
		return f;
	v->lost = 1;
	char *msg = xasprintf("lost the agent: %s", cause);
	f |= live_set_lost(v->lv, cause) | live_set_message(v->lv, msg);
	free(msg);
	return f;
}

/* Take a snapshot with request flags REQ (HT_REQ_*). */
static unsigned view_fetch(struct view *v, uint32_t req)
{
	struct live_status st;
	live_status(v->lv, &st);
	if (st.diff && !st.marked)
		req |= HT_REQ_MARK; /* --diff: the first snapshot is the mark */
	if (v->ended || v->lost) {
		if (req & HT_REQ_MARK)
			return live_set_mark(v->lv, NULL);
		return req ? live_set_message(v->lv, v->ended ? "the program has ended"
							     : "the agent is out of reach")
			   : 0;
	}
	char *cause = NULL;
	unsigned f = 0;
	if (session_fetch_flags(v->ss, req, &cause) == 0) {
		struct heap *h = session_heap(v->ss);
		if (h)
			f = req & HT_REQ_MARK ? live_set_mark(v->lv, h) : live_set_heap(v->lv, h);
		if (req & HT_REQ_RESET_PEAK)
			f |= live_set_message(v->lv, "peak reset to what is live now");
		v->fetches++;
		f |= view_check_ended(v);
	} else {
		f = view_fetch_failed(v, cause);
	}
	free(cause);
	v->next_fetch = clock_ms() + (uint64_t)(st.interval * 1000);
	return f;
}

static unsigned view_save(struct view *v)
{
	char *path = live_save_path(v->lv), *cause = NULL, *msg;
	if (snapfile_save(path, live_latest(v->lv), &cause) == 0)
		msg = xasprintf("wrote %s (heaptop report %s)", path, path);
	else
		msg = xasprintf("cannot write the snapshot: %s", cause);
	unsigned f = live_set_message(v->lv, msg);
	free(msg);
	free(cause);
	free(path);
	return f;
}

/* What the flags ask of the session. */
static unsigned view_effects(struct view *v, unsigned f)
{
	if (f & LIVE_MARK)
		f |= view_fetch(v, HT_REQ_MARK);
	if (f & LIVE_RESET_PEAK)
		f |= view_fetch(v, HT_REQ_RESET_PEAK);
	if (f & LIVE_REFETCH)
		f |= view_fetch(v, 0);
	if (f & LIVE_SAVE)
		f |= view_save(v);
	return f & ~(unsigned)(LIVE_MARK | LIVE_RESET_PEAK | LIVE_REFETCH | LIVE_SAVE);
}

/* The agent stopped answering while the process runs on: try to reach
 * it again, as after an exec (a new program image starts an agent of its
 * own at the same socket).  Tried at every refresh, every 100 ms at most. */
static unsigned view_reconnect(struct view *v, uint64_t now)
{
	if (now < v->next_fetch)
		return 0;
	char *cause = NULL;
	int r = session_reconnect(v->ss, &cause);
	free(cause);
	struct live_status st;
	live_status(v->lv, &st);
	uint64_t wait = (uint64_t)(st.interval * 1000);
	v->next_fetch = now + (wait < 100 ? wait : 100);
	if (r == -2)
		v->gave_up = 1; /* trying again is no use: stay lost */
	if (r != 0)
		return 0;
	v->lost = 0;
	unsigned f = live_set_lost(v->lv, NULL) |
		     live_set_message(v->lv, "reconnected to the agent; after an exec, the "
					     "rows are the new program's");
	return f | view_fetch(v, 0);
}

/* Is the next refresh due?  With -n N, the N-th was the last. */
static unsigned view_timer(struct view *v, uint64_t now)
{
	if (v->lost && !v->ended && !v->gave_up)
		return view_reconnect(v, now);
	if (v->ended || v->lost || now < v->next_fetch)
		return 0;
	if (v->s->iterations && v->fetches >= v->s->iterations)
		return LIVE_QUIT;
	return view_fetch(v, 0);
}

/* --- waiting ---------------------------------------------------------------------- */

static int view_timeout(const struct view *v, uint64_t now)
{
	long t = MAX_WAIT_MS;
	if (!v->ended && !(v->lost && v->gave_up))
		t = v->next_fetch > now ? (long)(v->next_fetch - now) : 0;
	long lt = live_timeout(v->lv);
	if (lt >= 0 && lt < t)
		t = lt;
	return t < MAX_WAIT_MS ? (int)t : MAX_WAIT_MS;
}

/* Wait for a key, the timer or a signal (unblocked by ppoll only, so none
 * is missed); returns the keys' flags. */
static unsigned view_wait(struct view *v, const sigset_t *waitmask)
{
	int ms = view_timeout(v, clock_ms());
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int r = ppoll(&pfd, 1, &ts, waitmask);
	unsigned f = 0;
	live_set_time(v->lv, clock_ms());
	if (r > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
		hung_up = 1; /* the terminal went away; a SIGHUP may follow */
		return LIVE_QUIT;
	}
	for (int key; r > 0 && (key = keys_read()) >= 0;)
		f |= view_key(v, key);
	return f;
}

static void view_loop(struct view *v, const sigset_t *waitmask)
{
	live_set_time(v->lv, clock_ms());
	unsigned f = view_fetch(v, 0) | LIVE_REDRAW;
	while (!*v->stop && !hung_up && !(f & LIVE_QUIT)) {
		uint64_t now = clock_ms();
		live_set_time(v->lv, now);
		if (crt_resized())
			f |= LIVE_REDRAW;
		child_changed = 0;
		f |= view_check_ended(v) | view_timer(v, now) | live_tick(v->lv);
		f = view_effects(v, f);
		if (f & LIVE_QUIT)
			break;
		if (f & LIVE_RECOMPUTE)
			live_recompute(v->lv);
		if (f & (LIVE_REDRAW | LIVE_RECOMPUTE))
			view_draw(v);
		f = view_wait(v, waitmask);
	}
}

/* --- running -------------------------------------------------------------------------- */

int view_check(char **cause)
{
	return crt_check(cause);
}

static int view_finish(struct view *v)
{
	int code = 0;
	if (session_launched(v->ss))
		code = session_finish(v->ss, !v->ended);
	else if (v->lost && v->fetches == 0)
		code = 1;
	char *cause = NULL;
	struct heap *h = live_latest(v->lv);
	if (v->s->save && h && snapfile_save(v->s->save, h, &cause) < 0) {
		fprintf(stderr, "heaptop: cannot save the snapshot: %s\n", cause);
		code = code ? code : 1;
	}
	free(cause);
	return code;
}

int view_run(const struct settings *s, struct session *ss, volatile sig_atomic_t *stop)
{
	char *cause = NULL;
	if (crt_init(s->color, &cause) < 0) {
		fprintf(stderr, "heaptop: %s\n", cause);
		free(cause);
		if (session_launched(ss))
			session_finish(ss, 1);
		return 2; /* as for no terminal at all (heaptop(1)) */
	}
	struct view v = {
		.s = s, .ss = ss, .lv = live_new(s), .stop = stop, .sv = stackview_new(),
		.fl = filters_new(), .pr = prompt_new(), .hp = help_new(s),
	};
	struct sigaction sa = { .sa_handler = view_on_child }, old_child, old_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, &old_child);
	sa.sa_handler = view_on_hangup;
	sigaction(SIGHUP, &sa, &old_hup);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGWINCH);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	session_set_interrupt(ss, &waitmask, stop); /* SIGINT, SIGTERM end a fetch too */
	view_loop(&v, &waitmask);
	session_set_interrupt(ss, NULL, NULL);
	sigprocmask(SIG_SETMASK, &waitmask, NULL);
	crt_restore();
	sigaction(SIGCHLD, &old_child, NULL);
	/* A hangup comes more than once (the kernel, the terminal emulator):
	 * the next must not cut the cleanup short. */
	if (hung_up)
		signal(SIGHUP, SIG_IGN);
	else
		sigaction(SIGHUP, &old_hup, NULL);
	int code = view_finish(&v);
	stackview_close(v.sv, v.lv);
	stackview_free(v.sv);
	filters_free(v.fl);
	prompt_free(v.pr);
	help_free(v.hp);
	live_free(v.lv);
	return code;
}
