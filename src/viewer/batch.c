/* The batch front end: the model's tables printed in a chosen format. */
#include "config.h"

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
#include "viewer/batch.h"
#include "viewer/format.h"
#include "viewer/linecache.h"
#include "viewer/model.h"
#include "viewer/snapfile.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define DEFAULT_LIMIT 10

/* What every table of one run shares. */
struct printer {
	const struct settings *s;
	struct model_options opts;
	struct strv include, exclude, skip;
	struct model *model;
	struct linecache *lc;
};

static void printer_init(struct printer *p, const struct settings *s)
{
	*p = (struct printer){ .s = s };
	settings_model_options(s, &p->opts, &p->include, &p->exclude, &p->skip);
	/* --diff and report --base: the tables are sorted by the change unless
	 * -s says otherwise (heaptop(1)), as the live view sorts its diff mode. */
	if ((s->diff || s->base_file) && !s->sort_given)
		p->opts.sort = SORT_DELTA;
	p->model = model_new();
	p->lc = settings_linecache(s);
}

static void printer_free(struct printer *p)
{
	model_free(p->model);
	linecache_free(p->lc);
	strv_clear(&p->include);
	strv_clear(&p->exclude);
	strv_clear(&p->skip);
}

/* Print a table of H (against BASE); 0, or -1 with errno set when
 * standard output cannot be written (a closed pipe: EPIPE). */
static int print_heap(struct printer *p, struct heap *h, struct heap *base)
{
	model_compute(p->model, &p->opts, h, base);
	struct format_table t = {
		.info = heap_info(h),
		.m = p->model,
		.opts = &p->opts,
		.limit = p->s->limit ? p->s->limit : DEFAULT_LIMIT,
		.has_base = base != NULL,
		.header = 1,
		.lc = p->lc,
	};
	format_print(p->s->format, stdout, &t);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	/* errno may be a later call's by now (a source file looked for while
	 * printing): a pipe whose reader is gone says so itself. */
	int err = errno ? errno : EIO;
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		err = EPIPE;
	errno = err;
	return -1;
}

/* Standard output failed with ERR: nobody reads the tables any more.  A
 * reader that went away (heaptop -b | head) is a normal end, as for any
 * filter; anything else is said.  Returns the exit code it adds. */
static int output_failed(int err)
{
	if (err == EPIPE)
		return 0;
	fprintf(stderr, "heaptop: cannot write the tables: %s\n", strerror(err));
	return 1;
}

static int save(const struct settings *s, struct heap *h)
{
	char *cause = NULL;
	if (!s->save || !h)
		return 0;
	if (snapfile_save(s->save, h, &cause) == 0)
		return 0;
	fprintf(stderr, "heaptop: cannot save the snapshot: %s\n", cause);
	free(cause);
	return -1;
}

static void on_child(int sig)
{
	(void)sig; /* only to end ppoll: waitpid reaps */
}

/* Sleep up to SECONDS, waking as soon as asked to stop or the program
 * ends: SIGCHLD, SIGINT and SIGTERM are blocked but in ppoll, so none
 * comes between a check and the sleep.  When the agent's connection hangs
 * up (an exec), the process's new image is tried every 10 ms until it
 * answers or the interval ends (not for reconnect's RECONNECT_MS: the
 * next fetch's failure is what says the agent is lost): an exec without
 * the agent is then seen while the program runs, however soon it ends. */
static void wait_interval(double seconds, struct session *ss, volatile sig_atomic_t *stop,
			  const sigset_t *waitmask)
{
	int status, retry = 0;
	struct pollfd pfd = { .fd = session_fd(ss), .events = POLLIN };
	uint64_t end = clock_ms() + (uint64_t)(seconds * 1000), now;
	while (!*stop && !session_ended(ss, &status) && (now = clock_ms()) < end) {
		uint64_t left = end - now;
		if (retry && left > 10)
			left = 10;
		struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000 };
		if (ppoll(&pfd, 1, &ts, waitmask) > 0 && pfd.revents) {
			session_hung_up(ss);
			retry = 1;
		}
		if (retry) {
			char *why = NULL;
			int r = session_reconnect(ss, &why);
			free(why);
			retry = r == -1; /* -2: no point; 0: reached */
			pfd.fd = r == 0 ? session_fd(ss) : -1;
		}
	}
}

/* How long a process has to answer again after a connection ends: enough
 * for a program image exec'd by a wrapper (a shell, env, a version
 * manager's shim) to start its agent. */
#define RECONNECT_MS 2000

/* The agent stopped answering: reach it again if the process is still
 * there, as after an exec.  0 when reconnected. */
static int reconnect(struct session *ss, volatile sig_atomic_t *stop, const sigset_t *waitmask)
{
	int status;
	uint64_t end = clock_ms() + RECONNECT_MS;
	for (;;) {
		char *why = NULL;
		int r = session_reconnect(ss, &why);
		if (r == 0) {
			free(why);
			return 0;
		}
		free(why); /* the fetch's cause says more than "refused" */
		if (r == -2 || *stop || session_ended(ss, &status) || clock_ms() >= end)
			return -1;
		struct timespec ts = { 0, 10 * 1000000 };
		ppoll(NULL, 0, &ts, waitmask);
	}
}

int batch_run(const struct settings *s, struct session *ss, volatile sig_atomic_t *stop)
{
	struct printer p;
	printer_init(&p, s);
	struct heap *base = NULL, *last = NULL;
	char *cause = NULL;
	long shown = 0;
	int status, lost = 0, out_err = 0;
	struct sigaction sa = { .sa_handler = on_child }, old_child;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, &old_child);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	session_set_interrupt(ss, &waitmask, stop);
	/* A program just launched holds nothing yet: its first table comes
	 * after one interval, as top's second screen would. */
	if (session_launched(ss))
		wait_interval(s->delay, ss, stop, &waitmask);
	while (!*stop && (!s->iterations || shown < s->iterations)) {
		if (session_fetch(ss, &cause) < 0) {
			if (*stop)
				break; /* SIGINT, SIGTERM: as -n, not a lost agent */
			if (!session_ended(ss, &status) && reconnect(ss, stop, &waitmask) == 0) {
				/* A new program image: its first table after an
				 * interval, as for a program just launched. */
				free(cause);
				cause = NULL;
				wait_interval(s->delay, ss, stop, &waitmask);
				continue;
			}
			lost = 1;
			break;
		}
		struct heap *h = session_heap(ss);
		if (print_heap(&p, h, s->diff ? base : NULL) < 0)
			out_err = errno;
		shown++;
		if (s->diff && !base)
			base = h;
		else if (last != base)
			heap_free(last);
		last = h;
		if (out_err || (s->iterations && shown >= s->iterations))
			break;
		if (session_ended(ss, &status))
			break;
		wait_interval(s->delay, ss, stop, &waitmask);
	}
	session_set_interrupt(ss, NULL, NULL);
	sigprocmask(SIG_SETMASK, &waitmask, NULL);
	sigaction(SIGCHLD, &old_child, NULL);
	int code = 0;
	if (session_launched(ss)) {
		int ended = session_ended(ss, &status);
		/* Out of reach while the program runs on: say so now, not when
		 * it ends; with -n there are no more tables to wait for. */
		if (lost && !ended)
			fprintf(stderr, "heaptop: lost the agent: %s; %s\n", cause,
				s->iterations ? "ending the program (-n)"
					      : "waiting for the program to end");
		/* Done early (-n, a signal, the agent lost under -n): end the
		 * program; else it ended. */
		code = session_finish(ss, !ended && (!lost || s->iterations || out_err));
		free(cause);
		cause = NULL;
		struct heap *fin = out_err ? NULL : session_final(ss, &cause);
		if (fin) {
			if (print_heap(&p, fin, s->diff ? base : NULL) < 0)
				out_err = errno;
			if (last != base)
				heap_free(last);
			last = fin;
		} else if (!out_err && (!s->iterations || shown < s->iterations)) {
			/* A program killed by a signal writes nothing: say so rather
			 * than which file is missing. */
			if (session_ended(ss, &status) && WIFSIGNALED(status))
				fprintf(stderr, "heaptop: no live-at-exit snapshot: the program was "
					"killed by signal %d (%s)%s\n", WTERMSIG(status),
					strsignal(WTERMSIG(status)),
					shown ? "; the last table above is the latest" : "");
			else
				fprintf(stderr, "heaptop: no live-at-exit snapshot (%s)%s\n", cause,
					shown ? "; the last table above is the latest" : "");
		}
	} else if (lost) {
		fprintf(stderr, "heaptop: lost the agent: %s\n", cause);
		code = shown ? 0 : 1;
	}
	if (out_err && output_failed(out_err) && code == 0)
		code = 1;
	if (save(s, last) < 0 && code == 0)
		code = 1;
	if (last != base)
		heap_free(last);
	heap_free(base);
	free(cause);
	printer_free(&p);
	return code;
}

/* A snapshot file or an agent's live-at-exit file. */
struct loaded {
	struct heap *heap;
	struct snapshot *raw;
};

static int load(const char *path, struct symbolizer *sym, struct loaded *out)
{
	char *cause = NULL;
	out->heap = snapfile_load_any(path, sym, &out->raw, &cause);
	if (out->heap)
		return 0;
	fprintf(stderr, "heaptop: %s\n", cause);
	free(cause);
	return -1;
}

int batch_report(const struct settings *s)
{
	struct symbolizer *sym = symbolizer_new();
	struct loaded now = { 0 }, base = { 0 };
	int code = 1;
	if (load(s->report_file, sym, &now) == 0 &&
	    (!s->base_file || load(s->base_file, sym, &base) == 0)) {
		/* Allowed (a rebuilt binary at another path), but worth a word. */
		if (base.heap && strcmp(heap_info(now.heap)->exe, heap_info(base.heap)->exe) != 0)
			fprintf(stderr, "heaptop: note: the snapshots are of different programs "
				"(%s, then %s)\n", heap_info(base.heap)->exe,
				heap_info(now.heap)->exe);
		struct printer p;
		printer_init(&p, s);
		code = print_heap(&p, now.heap, base.heap) < 0 ? output_failed(errno) : 0;
		printer_free(&p);
		if (save(s, now.heap) < 0)
			code = 1;
	}
	heap_free(now.heap);
	heap_free(base.heap);
	snapshot_free(now.raw);
	snapshot_free(base.raw);
	symbolizer_free(sym);
	return code;
}
