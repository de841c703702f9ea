/*
 * Running a program under the agent: fork, preload libheaptop.so, exec,
 * and learn how it ended.  The agent writes what was live at exit to a file
 * in a private directory the launch owns; the launch removes it at the end.
 */
#ifndef HEAPTOP_LAUNCH_H
#define HEAPTOP_LAUNCH_H

#include <sys/types.h>

struct launch;

struct launch_options {
	const char *agent;       /* path of libheaptop.so */
	const char *output;      /* the program's stdout and stderr go here;
				    NULL: inherit */
	int stdout_to_stderr;    /* without output: keep the program's stdout
				    off ours (batch tables go there) */
	int stdin_null;          /* the program reads /dev/null, not our
				    standard input (the live view's keys) */
	const char *const *env;  /* extra NAME=VALUE settings, NULL-terminated */
};

/* Start ARGV[0] (searched in PATH) with ARGV.  NULL with *CAUSE set when it
 * could not be started (not found, not executable, no agent). */
struct launch *launch_start(char *const argv[], const struct launch_options *o,
			    char **cause);
/* The program's pid. */
pid_t launch_pid(const struct launch *l);
/* Where the agent writes the live-at-exit snapshot. */
const char *launch_final_path(const struct launch *l);
/* Reap the program if it ended: 1 with *STATUS (a wait status) set, 0 while
 * it runs.  Once reaped, further calls return 1 with the same status. */
int launch_poll(struct launch *l, int *status);
/* Wait for the program to end; returns its wait status. */
int launch_wait(struct launch *l);
/* End the program: SIGTERM, then SIGKILL after GRACE_MS; returns its wait
 * status. */
int launch_terminate(struct launch *l, int grace_ms);
/* Forget the launch, removing its private files.  Does not end the program. */
void launch_free(struct launch *l);
/* The exit code heaptop should end with for wait status STATUS, the way a
 * shell reports it (128 + signal number for a signal). */
int launch_exit_code(int status);

#endif
