/*
 * A session: one traced process, launched by heaptop or attached to with
 * -p, its connection, its latest snapshot and its symbolizer.  Both front
 * ends (batch, live view) drive one; neither knows how the process started.
 *
 * Ownership: heaps returned by session_heap and session_final belong to the
 * caller (heap_free) but point into the session: free them first.
 */
#ifndef HEAPTOP_SESSION_H
#define HEAPTOP_SESSION_H

#include <signal.h>
#include <stdint.h>

#include "viewer/heap.h"
#include "viewer/settings.h"

struct session;

/* Launch the program (or the demo) of S, or attach to S->pid.  NULL with
 * *CAUSE set; *EXIT_CODE is then what heaptop should exit with. */
struct session *session_open(const struct settings *s, char **cause, int *exit_code);
/* While a fetch waits for the agent, unblock signals as MASK says and give
 * up as soon as one has set *STOP (see client_set_interrupt); NULL, NULL:
 * not.  MASK and STOP must outlive their use. */
void session_set_interrupt(struct session *ss, const sigset_t *mask, volatile sig_atomic_t *stop);
/* Take a snapshot.  0 on success; -1 with *CAUSE set when the agent could
 * not be reached (it exited, or the connection broke): the last snapshot
 * stays available. */
int session_fetch(struct session *ss, char **cause);
/* The same, with request flags HT_REQ_* (HT_REQ_MARK sets the agent's mark
 * at this snapshot; HT_REQ_RESET_PEAK resets the peak). */
int session_fetch_flags(struct session *ss, uint32_t flags, char **cause);
/* After a failed fetch: try once to reach the process's agent again, as
 * after the process ran exec (a new program image, a new agent at the same
 * socket).  0 when connected: the next fetch starts a new snapshot, so the
 * next heap is the new image's (heaps made before stay valid).  -1 with
 * *CAUSE set when nobody answers yet; -2 when trying again is no use: the
 * fetch failed otherwise than by the agent's end going away (a timeout,
 * bad data), the process has ended (or, with -p, its pid is another
 * process's), or reconnections keep failing to give a snapshot. */
int session_reconnect(struct session *ss, char **cause);
/* A heap over the latest snapshot; NULL before the first one. */
struct heap *session_heap(struct session *ss);
/* 1 when a launched program has ended (sets *STATUS, a wait status). */
int session_ended(struct session *ss, int *status);
/* 1 when heaptop launched the program. */
int session_launched(const struct session *ss);
/* The agent's connection, to wait on (see client_fd); -1 when none. */
int session_fd(const struct session *ss);
/* The connection hung up between fetches (an exec): session_reconnect may
 * be called at once, as after a fetch that failed so. */
void session_hung_up(struct session *ss);
/* Wait for a launched program to end, or end it (SIGTERM) when STOP is set;
 * returns heaptop's exit code: the program's status, but 0 when the program
 * died of the signal heaptop sent it. */
int session_finish(struct session *ss, int stop);
/* What was live when the launched program exited; NULL with *CAUSE set when
 * it wrote nothing (killed by a signal) or was not launched.  Its frames
 * come from the same store as session_heap's when the file holds the same
 * stacks (it does, written by the same process), so only stacks new since
 * the last fetch are symbolized; session_heap is not for use after it. */
struct heap *session_final(struct session *ss, char **cause);
/* The symbolizer all heaps of this session use. */
struct symbolizer *session_symbolizer(struct session *ss);
void session_close(struct session *ss);

#endif
