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

/* Encode the answer to REQ into B.  FINAL marks the live-at-exit snapshot
 * with EXIT_STATUS.  Returns its length, or 0 when no memory could be had. */
size_t snapshot_encode(struct snap_buf *b, const struct ht_request *req,
		       int final, int exit_status);
/* Give B's memory back. */
void snapshot_buf_free(struct snap_buf *b);

#endif
