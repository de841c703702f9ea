/*
 * The live view: the loop that takes snapshots at the refresh interval,
 * reads keys, and draws the screen that is open (the table, the search
 * prompt, the stack view, the filter list or the help) with the header and
 * the footer.  It waits in ppoll() on the terminal with the refresh timer;
 * SIGWINCH, SIGCHLD, SIGINT and SIGTERM wake it (SIGHUP too: a terminal
 * that goes away counts as q).  It draws only when a
 * refresh or a key changed something.
 */
#ifndef HEAPTOP_UI_VIEW_H
#define HEAPTOP_UI_VIEW_H

#include <signal.h>

#include "viewer/session.h"
#include "viewer/settings.h"

/* 0 when the live view can run here (stdin and stdout are a terminal);
 * -1 with *CAUSE set otherwise. */
int view_check(char **cause);
/* Show SS live until the user quits or *STOP is set; ends a program that
 * heaptop launched (SIGTERM) and returns heaptop's exit code (the
 * program's status; for -p, 0).  The terminal is restored on return. */
int view_run(const struct settings *s, struct session *ss, volatile sig_atomic_t *stop);

#endif
