/*
 * heaptop: top for the heap of a native process.  Reads the settings, then
 * hands over to a front end; only this file exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/agents.h"
#include "viewer/batch.h"
#include "viewer/live.h"
#include "viewer/session.h"
#include "viewer/settings.h"
#include "viewer/snapfile.h"
#include "viewer/ui/view.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	stop_requested = sig;
}

/* The live view's default for the program's output: a log file, so that
 * it does not write over the screen (removed at the end when empty). */
static char *default_log(struct settings *s)
{
	if (s->batch || s->output || s->mode == MODE_PID)
		return NULL;
	s->output = live_log_path(getpid());
	return xstrdup(s->output);
}

static void finish_log(char *log)
{
	struct stat st;
	if (log && stat(log, &st) == 0) {
		if (st.st_size == 0)
			unlink(log);
		else
			fprintf(stderr, "heaptop: the program's output is in %s\n", log);
	}
	free(log);
}

static int run(struct settings *s)
{
	char *cause = NULL;
	int code = 0;
	if (!s->batch && view_check(&cause) < 0) {
		fprintf(stderr, "heaptop: %s\n", cause);
		free(cause);
		return 2;
	}
	if (s->save && snapfile_check_writable(s->save, &cause) < 0) {
		fprintf(stderr, "heaptop: cannot save the snapshot: %s\n", cause);
		free(cause);
		return 1;
	}
	char *log = default_log(s);
	struct session *ss = session_open(s, &cause, &code);
	if (!ss) {
		fprintf(stderr, "heaptop: %s\n", cause);
		free(cause);
		finish_log(log);
		return code;
	}
	if (s->batch)
		code = batch_run(s, ss, &stop_requested);
	else
		code = view_run(s, ss, &stop_requested);
	session_close(ss);
	finish_log(log);
	return code;
}

/* Give standard descriptors that were closed /dev/null, so that nothing
 * heaptop opens (a socket, a snapshot file) becomes one by accident and
 * receives the tables.  Returns a mask of those that were closed. */
static unsigned open_std_fds(void)
{
	unsigned closed = 0;
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		closed |= 1u << fd;
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
	return closed;
}

int main(int argc, char **argv)
{
	unsigned closed = open_std_fds();
	struct settings s;
	char *cause = NULL;
	int r = settings_load(&s, argc, argv, &cause);
	if (r != 0) {
		if (r < 0)
			fprintf(stderr, "heaptop: %s\n", cause);
		free(cause);
		settings_free(&s);
		return r < 0 ? 2 : 0;
	}
	/* Tables (and report, list) go to standard output: refuse to run a
	 * program only to throw them away. */
	if ((closed & 2u) && (s.batch || s.mode == MODE_LIST || s.mode == MODE_REPORT)) {
		fprintf(stderr, "heaptop: standard output is closed: nowhere to write the tables\n");
		settings_free(&s);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int code;
	switch (s.mode) {
	case MODE_LIST: code = agents_list(); break;
	case MODE_REPORT: code = batch_report(&s); break;
	default: code = run(&s); break;
	}
	settings_free(&s);
	return code;
}
