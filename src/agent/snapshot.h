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
};

/* Encode the answer to REQ into B, grown to fit it before encoding.  FINAL
 * marks the live-at-exit snapshot with EXIT_STATUS.  Returns its length, or
 * 0 when no memory could be had. */
size_t snapshot_encode(struct snap_buf *b, const struct ht_request *req,
		       int final, int exit_status);
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
