/*
 * The viewer's copy of one agent's heap: what the agent said about itself
 * (HELLO), its modules, its stack table and, for the latest complete
 * snapshot, the per-stack counters and the globals.
 *
 * Frames are applied one by one as they arrive (snapshot_apply_frame).
 * Stacks are append-only and kept across snapshots, so a client that asks
 * again on the same connection receives only the stacks it lacks.  Hello,
 * modules, counters and globals of a snapshot in progress are held aside
 * and only replace the visible ones when its END arrives: the accessors
 * always describe the last complete snapshot, even after a fetch failed
 * half-way.
 *
 * Ownership: a snapshot owns every string, array and struct its accessors
 * return; they stay valid until the next snapshot_apply_frame or
 * snapshot_free on the same snapshot.
 */
#ifndef HEAPTOP_SNAPSHOT_H
#define HEAPTOP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct snapshot;

/* The agent's HELLO, strings copied and NUL-terminated. */
struct snapshot_hello {
	uint32_t pid, ppid;
	uint64_t start_ns;     /* CLOCK_REALTIME when the agent started */
	uint32_t depth;        /* deepest stack the agent records */
	uint32_t flags;        /* HT_AGENT_* */
	uint64_t sample_bytes; /* mean sampling interval; 0 when not sampling */
	uint64_t max_stacks;   /* capacity of the agent's stack table */
	const char *exe;       /* never NULL; "" when unknown */
	const char *cmdline;   /* never NULL; arguments joined by spaces */
};

/* One loaded module of the target. */
struct snapshot_module {
	const char *path;        /* never NULL */
	const uint8_t *build_id; /* build_id_len bytes; NULL when 0 */
	size_t build_id_len;
	uint64_t bias;           /* load bias: pc - bias is the file address */
	uint64_t lo, hi;         /* [lo, hi) covered in the target */
};

/* Counters of one stack.  Live values are signed: with sampling they are
 * estimates that may dip below zero. */
struct snapshot_counter {
	int64_t live_bytes, live_blocks;
	uint64_t total_bytes, total_blocks;
	int64_t born_bytes, born_blocks; /* since the agent's mark, still live */
};

/* An empty snapshot: no stacks, no modules, module generation 0. */
struct snapshot *snapshot_new(void);
/* Free S and everything it owns; NULL is allowed. */
void snapshot_free(struct snapshot *s);

/* Apply one decoded frame.  Returns 1 when it was the END that completes a
 * snapshot, 0 when more frames are needed, and -1 with *CAUSE set
 * (xasprintf'd, caller frees) when the frame is invalid or out of order.
 * After an error the partial snapshot is dropped (see snapshot_abort). */
int snapshot_apply_frame(struct snapshot *s, const struct ht_frame *f, char **cause);
/* Drop a partially applied snapshot, so that the next frame must be a HELLO.
 * Stacks already received are kept: they stay valid for that agent. */
void snapshot_abort(struct snapshot *s);
/* 1 when a snapshot is being applied (a HELLO arrived, its END not yet). */
int snapshot_in_progress(const struct snapshot *s);

/* Apply every frame of the BUF (LEN bytes), a stream of whole snapshots.
 * Returns 0 when the stream ends with a complete snapshot, -1 with *CAUSE
 * set otherwise.  NAME prefixes the cause ("NAME: truncated at byte N"). */
int snapshot_load_buffer(struct snapshot *s, const void *buf, size_t len,
			 const char *name, char **cause);
/* A new snapshot from the LEN bytes at BUF, a complete frame stream; NULL
 * with *CAUSE set (prefixed with NAME) otherwise. */
struct snapshot *snapshot_from_buffer(const void *buf, size_t len, const char *name,
				      char **cause);
/* Read the frame-stream file PATH (such as the agent's live-at-exit file)
 * into a new snapshot; NULL with *CAUSE set when it cannot be read or does
 * not hold a complete snapshot. */
struct snapshot *snapshot_load_file(const char *path, char **cause);

/* How many snapshots were completed so far; 0 means nothing to show yet. */
uint64_t snapshot_completed(const struct snapshot *s);
/* HELLO of the last complete snapshot (zeros and "" before the first). */
const struct snapshot_hello *snapshot_hello(const struct snapshot *s);
/* GLOBALS of the last complete snapshot (zeros before the first). */
const struct ht_globals *snapshot_globals(const struct snapshot *s);

/* Generation of the module list held (0 before any MODULES frame). */
uint32_t snapshot_module_generation(const struct snapshot *s);
size_t snapshot_module_count(const struct snapshot *s);
/* The I-th module, I < snapshot_module_count. */
const struct snapshot_module *snapshot_module(const struct snapshot *s, size_t i);
/* The module whose [lo, hi) holds PC, or NULL. */
const struct snapshot_module *snapshot_module_at(const struct snapshot *s, uint64_t pc);

/* Stacks held, overflow stack 0 included; ids are 0 .. count-1. */
uint32_t snapshot_stack_count(const struct snapshot *s);
/* The pcs of stack ID, innermost first, into PCS (room for HT_MAX_DEPTH);
 * returns how many, 0 for an id not held (or a stack of depth 0). */
unsigned snapshot_stack(const struct snapshot *s, uint32_t id, uint64_t *pcs);
/* Counters of stack ID in the last complete snapshot; zeros for a stack
 * that snapshot did not count or an id not held. */
struct snapshot_counter snapshot_counter(const struct snapshot *s, uint32_t id);

#endif
