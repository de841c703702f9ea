/*
 * The model: a heap (and optionally a base heap to compare with) turned into
 * the sorted table of sites that every front end shows.  Python tracemalloc's
 * semantics: Snapshot.statistics(key_type, cumulative), filters, compare_to.
 * No screen code here; the batch printer and the live view read the same
 * rows.
 *
 * Attribution: the attributed frame of a stack is its first frame, innermost
 * first, that is not skipped.  Skipped are system frames (in the C library,
 * the C++ runtime, libgcc, libm, the dynamic loader or the agent, or in the
 * sources of the C++ or Rust standard library compiled into the program,
 * or, without a source file, in their std::, core:: or alloc:: functions)
 * while skip_system is on and a frame outside them exists further out, and
 * frames matching a skip pattern.  When every frame would be skipped, the
 * innermost frame is the attributed one.
 *
 * Patterns are fnmatch(3) patterns, tested against a frame's function, its
 * file (full path and basename), its location FILE:LINE (likewise) and its
 * module (full path and basename).
 * Exclude patterns drop a stack when they match its attributed frame (any of
 * its frames with all_frames); when include patterns exist, a stack is kept
 * only if one of them matches.
 *
 * Keys, by grouping: line "FILE:LINE" (without a file "MODULE:FUNCTION",
 * "MODULE", "??:FUNCTION" or "??"); function "FUNCTION" ("MODULE:??" or "??"
 * when unknown); file "FILE" (else "MODULE" or "??"); module "MODULE" or
 * "??"; traceback the line keys of the frames from the attributed one
 * outwards, joined with "\n".  Files and modules are full paths.  The
 * overflow stack (no frames) is the row "[unrecorded stacks]".
 *
 * Ownership: the model owns its rows and their keys; frames in rows point
 * into the heaps, which must outlive the rows (until the next model_compute
 * or model_free).
 *
 * Between computes a model keeps its rows and what each stack of the heaps'
 * frame store (heap_store_id) maps to, as long as the options that make
 * rows (group, cumulative, all_frames, skip_system and the patterns, by
 * contents) and the store stay the same: a compute over a later heap of
 * the same store (a live view's refresh) only adds up counters and sorts.
 * Rows keep their key strings (at the same address) all that while.  A
 * base over another store is counted from its frames, and the next compute
 * starts from nothing.
 */
#ifndef HEAPTOP_MODEL_H
#define HEAPTOP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "viewer/heap.h"

enum model_group { GROUP_LINE, GROUP_FUNCTION, GROUP_FILE, GROUP_MODULE, GROUP_TRACEBACK };
enum model_sort { SORT_SIZE, SORT_COUNT, SORT_AVERAGE, SORT_ALLOCATED, SORT_DELTA };

struct model_options {
	enum model_group group;
	enum model_sort sort;
	int reverse;               /* smallest first */
	int cumulative;            /* every distinct frame's key gets the stack */
	int all_frames;            /* filters test every frame */
	int skip_system;           /* skip system frames (default on) */
	const char *const *include; /* NULL-terminated, may be NULL */
	const char *const *exclude;
	const char *const *skip;
};

struct model_row {
	const char *key;                /* identity: stable across refreshes */
	const struct heap_frame *frame; /* the attributed frame; NULL for the
					   overflow stack (no frames) */
	const struct heap_frame *frames; /* traceback: the frames from the
					    attributed one outwards */
	size_t nframes;
	int64_t size, count;            /* live bytes and blocks */
	uint64_t allocated;             /* bytes ever allocated (churn) */
	uint64_t allocations;           /* blocks ever allocated */
	int64_t size_diff, count_diff;  /* against the base; 0 without one */
	int64_t born, born_count;       /* live bytes and blocks allocated since
					   the agent's mark */
};

struct model;

/* Is PATH (a module's) a system object: the C library, the C++ runtime,
 * the loader, the agent, an allocator; see --no-skip-system. */
int model_system_module(const char *path);

/* Names of the enums as the options spell them ("line", "size", ...), and
 * back; the names are NULL and the parsers return -1 for unknown values. */
const char *model_group_name(enum model_group g);
int model_group_parse(const char *name);
const char *model_sort_name(enum model_sort s);
int model_sort_parse(const char *name);

struct model *model_new(void);
void model_free(struct model *m);

/* Compute the rows of HEAP under O, compared with BASE when it is not NULL
 * (rows only in BASE appear with size 0 and negative differences). */
void model_compute(struct model *m, const struct model_options *o, struct heap *heap,
		   struct heap *base);

size_t model_row_count(const struct model *m);
const struct model_row *model_row(const struct model *m, size_t i);
/* Row I's id (< model_row_ids): the same row (key, frame) has the same id
 * from one compute to the next, and an id names the same row, for as long
 * as model_generation does not change.  For caching what is worked out
 * from a row's key and frame. */
uint32_t model_row_id(const struct model *m, size_t i);
uint32_t model_row_ids(const struct model *m);
uint64_t model_generation(const struct model *m);
/* Live bytes and blocks of the stacks the filters kept (each stack once,
 * even when cumulative), and the same in the base. */
void model_total(const struct model *m, int64_t *size, int64_t *count);
void model_base_total(const struct model *m, int64_t *size, int64_t *count);
/* Index of the row with KEY, or -1. */
long model_find(const struct model *m, const char *key);

#endif
