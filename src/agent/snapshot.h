/* Snapshots as the agent sends them: the frame sequence of doc/protocol.md,
 * encoded into a buffer the agent maps itself. */
#ifndef HEAPTOP_SNAPSHOT_H
#define HEAPTOP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* A growable output buffer in the agent's own mappings. */
struct snap_buf {
	uint8_t *data;
	size_t cap;
	size_t tail; /* bytes of the last answer's counters, GLOBALS and END */
};

/* An answer on the socket, encoded a piece at a time. */
struct snap_stream {
	struct ht_request req;
	uint32_t nstacks; /* the stacks it covers: those interned at its start */
	uint32_t next;    /* the next stack to encode */
	uint64_t number;  /* its sequence number */
	int stage;
};
/* Begin the answer to REQ. */
void snapshot_start(struct snap_stream *st, const struct ht_request *req);
/* Encode the next piece of ST into B (from its start; B grows to fit):
 * returns its length, 0 when the answer is complete, -1 when no memory
 * could be had.  Send each piece before asking for the next. */
long snapshot_next(struct snap_stream *st, struct snap_buf *b);
/* Write the answer to REQ to FD a piece at a time, through a small buffer
 * of its own (no malloc: safe at exit).  0, or -1 when memory or a write
 * failed (what was written is then incomplete). */
int snapshot_write(int fd, const struct ht_request *req, int final, int exit_status);
/* After an answer was sent: cut B back to what a refresh (counters, no
 * stacks) needs when it grew well past that for a full answer. */
void snapshot_buf_trim(struct snap_buf *b);
/* Give B's memory back. */
void snapshot_buf_free(struct snap_buf *b);

#endif
