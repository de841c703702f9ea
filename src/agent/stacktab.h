/*
 * Stack table: every distinct call stack, interned once and named by a
 * 32-bit id, append-only so the server reads it without locks.  Lookups are
 * lock-free; only inserting a new stack takes the table lock, and nobody
 * unwinds while holding it.
 *
 * Per-stack counters are striped: each thread writes the stripe it was
 * given, so threads do not share the cache lines they write, and a snapshot
 * sums the stripes.  Counters only ever grow (bytes and blocks allocated and
 * freed); live figures are their differences.  The process's totals are
 * the sums over the stacks, which a snapshot adds up anyway: an allocation
 * writes its stack's counters and nothing else.
 */
#ifndef HEAPTOP_STACKTAB_H
#define HEAPTOP_STACKTAB_H

#include <stdint.h>

#define STACKTAB_OVERFLOW 0 /* the id of allocations whose stack was not stored */
#define STACKTAB_FORKING UINT32_MAX /* not an id: see stacktab_intern */
#define STACKTAB_STRIPES 16

/* Set the capacity (ids 0..max-1); call before the first stacktab_intern. */
void stacktab_configure(uint32_t max_stacks);
/* The id of the stack PCS[0..DEPTH), interning it if new; the overflow id
 * when the table is full or cannot grow; STACKTAB_FORKING when it is new
 * and a fork is in progress (forklog.h). */
uint32_t stacktab_intern(const uintptr_t *pcs, unsigned depth);
/* The same for the fork handlers between stacktab_lock and
 * stacktab_unlock (the overflow id when they could not take the lock). */
uint32_t stacktab_intern_held(const uintptr_t *pcs, unsigned depth);
/* Number of ids handed out, the overflow id included (acquire: every id
 * below it is readable). */
uint32_t stacktab_count(void);
/* The pcs of stack ID (< stacktab_count()). */
const uintptr_t *stacktab_pcs(uint32_t id, unsigned *depth);
/* How many of stack ID's outermost frames are those of stack *BASE (an
 * earlier one), which a snapshot need not send again; 0 for none. */
unsigned stacktab_shared(uint32_t id, uint32_t *base);

/* Charge an allocation to stack ID on stripe STRIPE: BYTES and BLOCKS (in
 * sampling mode, estimates), and to born slot BORN (0 or 1; -1: none). */
void stacktab_charge(unsigned stripe, uint32_t id, uint64_t bytes, uint64_t blocks,
		     int born);
/* Credit a free the same way. */
void stacktab_credit(unsigned stripe, uint32_t id, uint64_t bytes, uint64_t blocks,
		     int born);
/* Zero born slot SLOT of every stack (before the mark switches to it). */
void stacktab_born_reset(int slot);

struct stack_counts {
	uint64_t alloc_bytes, alloc_blocks;
	uint64_t freed_bytes, freed_blocks;
	int64_t born_bytes, born_blocks;
};
/* Sum the stripes of stack ID; born figures from slot BORN (-1: zero). */
void stacktab_read(uint32_t id, int born, struct stack_counts *out);
/* The same for ids FIRST..FIRST+N-1 into OUT[0..N), a chunk of ids at a
 * time: what a snapshot uses, since most stripes of most chunks are empty. */
void stacktab_read_range(uint32_t first, uint32_t n, int born, struct stack_counts *out);

/* Allocations the agent could not record, counted apart (striped the
 * same way). */
struct untracked_counts {
	uint64_t bytes, blocks;
};
/* Count an allocation the agent could not record. */
void stacktab_untracked(unsigned stripe, uint64_t size, uint64_t blocks);
/* Sum the untracked stripes. */
void stacktab_read_untracked(struct untracked_counts *out);

/* Take and release the insert lock around fork (in the parent and the
 * child; not when this thread holds it already, in a signal handler). */
void stacktab_lock(void);
void stacktab_unlock(void);
/* Release the insert lock if another thread holds it (see
 * ptrmap_release_foreign). */
void stacktab_release_foreign(void);

#endif
