/* The agent's snapshot server: a thread that answers REQUEST frames on a
 * Unix socket only this user can reach. */
#ifndef HEAPTOP_SERVER_H
#define HEAPTOP_SERVER_H

/* Create the socket at PATH (NULL: the default for this pid) and start the
 * thread.  Returns 0, or -1 when there is no server (tracing goes on). */
int server_start(const char *path);
/* Remove the socket file if this process created it (at exit). */
void server_unlink(void);
/* In the child after fork: forget the parent's server without touching it. */
void server_forget(void);

#endif
