/*
 * The fork gate and log.  Around fork the agent's handlers hold its locks
 * (the child must get its tables whole), and a thread that allocates must
 * not wait for them then: it may hold a lock the fork waits for (a
 * library's mutex its fork handler takes, a FILE's that fflush(NULL) waits
 * for under the lock fork takes after the handlers, glibc's own around
 * handler registration).  So the prepare handler raises the gate before it
 * takes the locks, and a hook that finds a lock the fork holds while the
 * gate is up writes what it would have done into this log, without a
 * lock, and goes on.  After the fork the parent and child handlers close
 * the log and apply it, in the order the entries were taken, before they
 * release the locks; hooks that arrive then wait for them (the fork is
 * done, and the handlers wait only for entries being written).  A lock
 * another hook holds is waited for as ever: hooks never wait for anything
 * else while they hold one.
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

/* The gate's state word: the phase in the top two bits, the fork's number
 * (as in entries' kinds) from bit 32, entries taken below. */
extern uint64_t forklog_state;
#define FORKLOG_PHASE_SHIFT 62
#define FORKLOG_GEN_SHIFT 32
enum { FORKLOG_OPEN, FORKLOG_FORKING, FORKLOG_APPLYING };
/* The forking thread's lock tag (lock.h), while the gate is up: only a
 * lock it holds is one a hook must not wait for (one another hook holds
 * is released soon, whatever the fork does). */
extern uintptr_t forklog_owner;
/* The state word when this thread last found a lock the fork holds: its
 * entry must go to that fork's log, or none (forklog_reserve). */
extern __thread uint64_t forklog_seen __attribute__((tls_model("initial-exec")));

/* Whether a fork is between its prepare handler and the fork itself. */
static inline int forklog_forking(void)
{
	return __atomic_load_n(&forklog_state, __ATOMIC_ACQUIRE) >> FORKLOG_PHASE_SHIFT ==
	       FORKLOG_FORKING;
}

/* Whether lock L, which held HELD, is one the forking thread holds while
 * the hooks must not wait: then remember the state, for forklog_reserve.
 * L is read again after the state: HELD may have been the forking
 * thread's own hook's, released before its fork began. */
static inline int forklog_holds(const uintptr_t *l, uintptr_t held)
{
	uint64_t s = __atomic_load_n(&forklog_state, __ATOMIC_SEQ_CST);
	if (s >> FORKLOG_PHASE_SHIFT != FORKLOG_FORKING ||
	    held != __atomic_load_n(&forklog_owner, __ATOMIC_RELAXED) ||
	    __atomic_load_n(l, __ATOMIC_SEQ_CST) != held)
		return 0;
	forklog_seen = s;
	return 1;
}

/* Whether the gate is up at all (forking or applying). */
static inline int forklog_raised(void)
{
	return __atomic_load_n(&forklog_state, __ATOMIC_ACQUIRE) >> FORKLOG_PHASE_SHIFT !=
	       FORKLOG_OPEN;
}

/* The prepare handler of the thread whose lock tag is OWNER: raise the
 * gate (before it takes the locks). */
void forklog_begin(uintptr_t owner);
/* A new entry of this thread's, numbered *NUM, to fill in and publish;
 * NULL when the fork forklog_seen names is no longer before the fork
 * itself (take the locks again) with *FULL 0, or when the log is full,
 * *FULL 1. */
struct forklog_entry *forklog_reserve(uint32_t *num, int *full);
/* Room in the log for entry E's new stack of DEPTH pcs; NULL when full. */
uintptr_t *forklog_pcs(struct forklog_entry *e, unsigned depth);
/* Entry E is written: it is a KIND. */
void forklog_publish(struct forklog_entry *e, enum forklog_kind kind);
/* The parent or child handler: take no more entries; how many there are. */
uint32_t forklog_stop(void);
/* The number of the fork now or last in progress. */
uint32_t forklog_gen(void);
/* Entry NUM, once written (its kind in *KIND); NULL when it never will
 * be: its chunk could not be mapped, or (WAIT 0, in the child or once the
 * gate is open) its writer is a thread the child does not have. */
struct forklog_entry *forklog_entry(uint32_t num, int wait, enum forklog_kind *kind);
/* The pcs of entry E's new stack. */
const uintptr_t *forklog_entry_pcs(const struct forklog_entry *e);
/* The handlers are done: open the gate. */
void forklog_end(void);
/* Open the gate, the log left as it is (a child that records nothing,
 * where a call a signal handler interrupted may still be writing to it). */
void forklog_abandon(void);

#endif
