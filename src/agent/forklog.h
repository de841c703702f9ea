/*
 * The fork gate and log.  Around fork the agent's handlers hold its locks
 * (the child must get its tables whole), and a thread that allocates must
 * not wait for them then: it may hold a lock the fork waits for (a
 * library's mutex its fork handler takes, a FILE's that fflush(NULL) waits
 * for under the lock fork takes after the handlers, glibc's own around
 * handler registration).  So the prepare handler raises the gate before it
 * takes the locks, and a hook that finds a lock taken while the gate is up
 * writes what it would have done into this log, without a lock, and goes
 * on.  After the fork the parent and child handlers close the log and
 * apply it, in the order the entries were taken, before they release the
 * locks; hooks that arrive then wait for them (the fork is done: nothing
 * they hold can stop the handlers).
 */
#ifndef HEAPTOP_FORKLOG_H
#define HEAPTOP_FORKLOG_H

#include <stdint.h>

enum forklog_kind {
	FORKLOG_ALLOC = 1, /* block p of size bytes, stack, tag */
	FORKLOG_FREE,      /* forget p; applied: found, with its record */
	FORKLOG_RETRACT,   /* take back p's record as if never made */
	FORKLOG_UNFREE,    /* put back what the FREE entry numbered size took */
};

/* The stack field of an entry whose stack was new: its pcs are in the log. */
#define FORKLOG_NEW_STACK UINT32_MAX

struct forklog_entry {
	uint64_t p;
	uint64_t size;   /* ALLOC, applied FREE: bytes; UNFREE: the FREE's number */
	uint32_t stack;  /* ALLOC, applied FREE: stack id, or FORKLOG_NEW_STACK */
	uint32_t pcs_at; /* FORKLOG_NEW_STACK: where its pcs are */
	uint16_t depth;  /* FORKLOG_NEW_STACK: how many */
	uint8_t tag;     /* ALLOC, applied FREE: the mark tag */
	uint8_t found;   /* applied FREE: the block was tracked */
	uint32_t kind;   /* the fork's number << 8 | the kind, once written */
};

/* The gate's state word: phase in the top bits, entries taken below. */
extern uint64_t forklog_state;
#define FORKLOG_PHASE_SHIFT 62
enum { FORKLOG_OPEN, FORKLOG_FORKING, FORKLOG_APPLYING };

/* Whether a fork is between its prepare handler and the fork itself: a
 * hook must not wait for the agent's locks. */
static inline int forklog_forking(void)
{
	return __atomic_load_n(&forklog_state, __ATOMIC_ACQUIRE) >> FORKLOG_PHASE_SHIFT ==
	       FORKLOG_FORKING;
}

/* Whether the gate is up at all (forking or applying). */
static inline int forklog_raised(void)
{
	return __atomic_load_n(&forklog_state, __ATOMIC_ACQUIRE) >> FORKLOG_PHASE_SHIFT !=
	       FORKLOG_OPEN;
}

/* The prepare handler: raise the gate (before it takes the locks). */
void forklog_begin(void);
/* A new entry of this thread's, numbered *NUM, to fill in and publish;
 * NULL when the gate is not up for a fork (take the locks: they are
 * released soon) with *FULL 0, or when the log is full, *FULL 1. */
struct forklog_entry *forklog_reserve(uint32_t *num, int *full);
/* Room in the log for entry E's new stack of DEPTH pcs; NULL when full. */
uintptr_t *forklog_pcs(struct forklog_entry *e, unsigned depth);
/* Entry E is written: it is a KIND. */
void forklog_publish(struct forklog_entry *e, enum forklog_kind kind);
/* The parent or child handler: take no more entries; how many there are. */
uint32_t forklog_stop(void);
/* Entry NUM, once written (its kind in *KIND); NULL when it never will be for the handler:
 * its writer is this thread, interrupted by the signal handler that
 * forked, or (WAIT 0, in the child) a thread the child does not have. */
struct forklog_entry *forklog_entry(uint32_t num, int wait, enum forklog_kind *kind);
/* The pcs of entry E's new stack. */
const uintptr_t *forklog_entry_pcs(const struct forklog_entry *e);
/* The handlers are done: open the gate. */
void forklog_end(void);

#endif
