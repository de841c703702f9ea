/*
 * Pointer map: address of every live tracked block -> (stack id, size).
 * Sharded by address, each shard an open-addressing table with Robin Hood
 * linear probing in its own mapping, guarded by its own spin lock.  16
 * bytes per entry; large shards are kept between 68% and 85% full (about
 * 21 bytes per live block), small ones at most half full (ptrmap.c).
 * User-space addresses stop below bit 48 (4-level paging): the key's top
 * two bytes hold the tag and the entry's distance from its home slot.
 */
#ifndef HEAPTOP_PTRMAP_H
#define HEAPTOP_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

/* Largest address a block may have to be tracked (48 bits). */
#define PTRMAP_MAX_ADDR ((UINT64_C(1) << 48) - 1)
/* Largest size a block may have to be tracked (40 bits, 1 TiB). */
#define PTRMAP_MAX_SIZE ((UINT64_C(1) << 40) - 1)
/* Largest stack id an entry can hold (24 bits). */
#define PTRMAP_MAX_STACK ((UINT32_C(1) << 24) - 1)

/* What the map holds for one block. */
struct ptrmap_rec {
	uint64_t size;  /* bytes the program asked for */
	uint32_t stack; /* stack id of the allocation */
	unsigned tag;   /* the mark epoch the block was born in (8 bits) */
};

/* Record P with R.  Returns 0, or -1 when the table could not grow (the
 * block stays untracked).  If P was already present (a free the agent
 * never saw), *OLD gets its record and 1 is returned.  -2, with nothing
 * done, when a fork is in progress and the shard's lock is taken (the
 * fork handlers may hold it: forklog.h). */
int ptrmap_insert(uintptr_t p, const struct ptrmap_rec *r, struct ptrmap_rec *old);
/* Start loading the table line where P's entry would go, so that the cache
 * miss overlaps other work (the stack walk) before ptrmap_insert. */
void ptrmap_prefetch(uintptr_t p);
/* Remove P; 1 with its record in *R, 0 when P is not tracked, -1 as
 * ptrmap_insert's -2. */
int ptrmap_remove(uintptr_t p, struct ptrmap_rec *r);
/* The same for the fork handlers between ptrmap_lock_all and
 * ptrmap_unlock_all: -2 and -1 for a shard whose lock they do not hold. */
int ptrmap_insert_held(uintptr_t p, const struct ptrmap_rec *r, struct ptrmap_rec *old);
int ptrmap_remove_held(uintptr_t p, struct ptrmap_rec *r);
/* The allocator packs small blocks densely (slabs of 16- or 8-byte
 * blocks): give the map's runs of neighbouring addresses a fitting length.
 * Only before the first insert: 1 when the short runs are in use. */
int ptrmap_dense(void);
/* Take every shard lock (before fork: but those this thread holds, in a
 * signal handler) and release them (after, in the parent and the child). */
void ptrmap_lock_all(void);
void ptrmap_unlock_all(void);
/* Release every lock another thread holds: a child that records nothing
 * more, where this thread may go on with a call a signal handler
 * interrupted, but the others are gone. */
void ptrmap_release_foreign(void);

#endif
