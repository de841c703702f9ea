/*
 * heaptop: top for the heap of a native process.  Reads the settings, then
 * hands over to a front end; only this file exits.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "viewer/agents.h"
#include "viewer/batch.h"
#include "viewer/session.h"
#include "viewer/settings.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	stop_requested = sig;
}

static int run(const struct settings *s)
{
	char *cause = NULL;
	int code = 0;
	struct session *ss = session_open(s, &cause, &code);
	if (!ss) {
		fprintf(stderr, "heaptop: %s\n", cause);
		free(cause);
		return code;
	}
	/* The live view is a later front end; until then, tables. */
	code = batch_run(s, ss, &stop_requested);
	session_close(ss);
	return code;
}

int main(int argc, char **argv)
{
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
