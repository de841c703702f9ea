/*
 * A heap to analyse: stacks, each with its symbolized frames and counters,
 * and what is known about the process.  Built from a live snapshot (frames
 * symbolized lazily, on first request, through a symbolizer) or loaded from
 * a snapshot file (frames stored in it), so the model and the front ends
 * never care which.
 *
 * Ownership: a heap owns every string and array it hands out; they live
 * until heap_free.  The one exception: the frame strings of a heap from a
 * snapshot belong to its symbolizer, which must outlive the heap.  Frames
 * of one stack stay valid (and at the same address) for the heap's whole
 * life.
 */
#ifndef HEAPTOP_HEAP_H
#define HEAPTOP_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;
struct symbolizer;

/* One source-level frame; inlined calls are frames of their own. */
/* Pointers first: 32 bytes, where the fields in reading order took 40 (a
 * store holds one per frame of every stack: 2.5 M for cppcheck). */
struct heap_frame {
	const char *function; /* NULL when unknown; C++ demangled; "0x..." (see
				 heap_address_name) in a stripped object */
	const char *file;     /* full path from the debug info; NULL when unknown */
	const char *module;   /* path of the object; NULL outside every module */
	unsigned line;        /* 0 when unknown */
	int inlined;          /* inlined into the next (outer) frame */
};

/* Whether NAME, a frame's function, is the address the symbolizer named
 * it by for want of a symbol ("0x1a2b", relative to its module): no
 * function's name starts so.  Such a name means something only with the
 * frame's module. */
static inline int heap_address_name(const char *name)
{
	return name != NULL && name[0] == '0' && name[1] == 'x';
}

struct heap_counter {
	int64_t live_bytes, live_blocks;
	uint64_t total_bytes, total_blocks;
	int64_t born_bytes, born_blocks; /* allocated since the agent's mark and
					    still live; 0 when no mark is set */
};

/* What the heap's process said about itself, and the snapshot's globals. */
struct heap_info {
	uint32_t pid;
	const char *exe;       /* never NULL */
	const char *cmdline;   /* never NULL */
	uint64_t start_ns;     /* CLOCK_REALTIME when the agent started */
	uint64_t time_ns;      /* CLOCK_REALTIME when the snapshot was taken */
	uint64_t seq;
	uint64_t live_bytes, live_blocks, peak_bytes;
	uint64_t allocs, frees, total_bytes;
	uint64_t agent_bytes, untracked_blocks, untracked_bytes;
	uint32_t agent_flags;  /* HT_AGENT_* (sampled, frame pointers) */
	uint64_t sample_bytes;
	uint64_t mark_ns;      /* CLOCK_REALTIME of the agent's mark; 0: none */
	int final;             /* what was live at exit */
	int exit_status;       /* with final */
};

struct heap;

/* A heap over the last complete snapshot of S, symbolized through SYM
 * (which must know S's modules; see heap_declare_modules).  S and SYM must
 * outlive the heap; later fetches into S are not seen by it. */
struct heap *heap_from_snapshot(const struct snapshot *s, struct symbolizer *sym);
/* What heaps over one snapshot share: each stack symbolized once, for
 * all of them.  A live view keeps one and makes a heap from it each
 * refresh, so only stacks new since the last refresh are symbolized. */
struct heap_shared;
/* A store for heaps over S symbolized through SYM (both must outlive it);
 * the caller holds one reference. */
struct heap_shared *heap_shared_new(const struct snapshot *s, struct symbolizer *sym);
/* Drop a reference; the store goes with the last one (heaps hold one each). */
void heap_shared_unref(struct heap_shared *sh);
/* A heap over the last complete snapshot of SH's snapshot. */
struct heap *heap_from_shared(struct heap_shared *sh);
/* Make S (which must outlive SH) the snapshot SH's heaps come from, when
 * S begins with every stack of SH's snapshot, as a later snapshot of the
 * same process does (its live-at-exit one): the stacks symbolized so far
 * are kept, only S's new ones will be.  Returns 0, or -1 with SH unchanged
 * when a stack differs. */
int heap_shared_extend(struct heap_shared *sh, const struct snapshot *s);

/* Tell SYM about every module S holds. */
void heap_declare_modules(struct symbolizer *sym, const struct snapshot *s);

/* An empty heap to fill by hand (snapshot files, tests). */
struct heap *heap_new(const struct heap_info *info);
/* Add a stack with COUNTER and frames FRAMES[0..N) (innermost first, copied);
 * returns its index. */
uint32_t heap_add_stack(struct heap *h, const struct heap_counter *counter,
			const struct heap_frame *frames, size_t n);
/* H's copy of the LEN bytes at S (which hold no NUL), NUL-terminated, one
 * per distinct string: frames whose strings came from here are added
 * without copying them again. */
const char *heap_intern(struct heap *h, const char *s, size_t len);

void heap_free(struct heap *h);

const struct heap_info *heap_info(const struct heap *h);
/* Stacks are indexed 0 .. heap_stack_count-1. */
uint32_t heap_stack_count(const struct heap *h);
struct heap_counter heap_counter(const struct heap *h, uint32_t i);
/* The frames of stack I, innermost first; symbolizes them on first use. */
size_t heap_frames(struct heap *h, uint32_t i, const struct heap_frame **frames);
/* Which store H's frames come from: equal for the heaps over one store
 * (heap_from_shared), so stack I has the same frames at the same address
 * in all of them; never the id of another store, even one made after this
 * one is gone.  Each hand-made heap has a store of its own. */
uint64_t heap_store_id(const struct heap *h);

#endif
