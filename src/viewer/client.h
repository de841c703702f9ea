/*
 * Client side of the agent's socket: connect, send a REQUEST, read the
 * answer's frames into a snapshot.  One connection serves any number of
 * fetches; fetching again into the same snapshot receives only the stacks
 * it lacks and the module list only when it changed.
 *
 * Errors come back as a one-line *CAUSE, xasprintf'd; the caller frees it.
 */
#ifndef HEAPTOP_CLIENT_H
#define HEAPTOP_CLIENT_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "viewer/snapshot.h"

struct client;

/* Where the agent of PID listens, xasprintf'd: $HEAPTOP_SOCKET with every
 * "%p" replaced by PID when set, else $XDG_RUNTIME_DIR/heaptop/PID.sock
 * when that is set, else /tmp/heaptop-UID/PID.sock.  Empty variables count
 * as unset. */
char *client_default_socket_path(pid_t pid);

/* Make the directory the agents of this user put their sockets in (the
 * default one, not $HEAPTOP_SOCKET's) as the agent would, so that a
 * program about to be launched finds it: 0, or -1 with *CAUSE set when it
 * cannot be made or is not this user's alone. */
int client_prepare_socket_dir(char **cause);

/* Connect to the agent listening at PATH; NULL with *CAUSE set on failure. */
struct client *client_connect(const char *path, char **cause);

/* Request one snapshot (FLAGS: HT_REQ_*) and apply it to S, which holds
 * what earlier fetches on any connection to the same agent received.  Waits
 * at most TIMEOUT_MS milliseconds in all (negative: no limit).  Returns 0
 * with S holding the new snapshot, or -1 with *CAUSE set; S then still
 * shows the previous complete snapshot, and C can only be closed. */
int client_fetch(struct client *c, struct snapshot *s, uint32_t flags, int timeout_ms,
		 char **cause);

/* While C waits for its agent, unblock the signals as MASK says (ppoll's
 * mask: the caller blocks them the rest of the time) and end the wait, the
 * fetch failing, as soon as one of them has set *STOP; without this the
 * wait ignores signals until its timeout.  MASK and STOP must outlive C. */
void client_set_interrupt(struct client *c, const sigset_t *mask, volatile sig_atomic_t *stop);

/* Whether C's last fetch failed because the agent's end went away (it
 * closed the connection, or its process ended or ran exec), rather than a
 * timeout or bad data. */
int client_peer_closed(const struct client *c);

/* The connection's descriptor, to wait on: between answers the agent sends
 * nothing, so it turns readable only when the agent's end goes away. */
int client_fd(const struct client *c);

/* Close the connection and free C; NULL is allowed. */
void client_close(struct client *c);

#endif
