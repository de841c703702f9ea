/* The fork gate and log (forklog.h).  Entries are numbered by the state
 * word, which a hook bumps with a compare-and-swap only while the phase is
 * FORKING, so the handler that swaps the phase knows every entry that
 * will ever be taken. */
#include "config.h"

#include <sched.h>

#include "agent/forklog.h"
#include "agent/mem.h"

/* A fork lasts from its prepare handler to its parent handler, which
 * may be long: the kernel copies the page tables (tens of milliseconds
 * for a large process), and glibc waits for its stream list lock, which
 * a thread in fflush(NULL) may hold for a while.  So the log grows by
 * chunks of 65 536 entries (2 MiB), mapped by the hook that first needs
 * one (mmap in a fork only waits in the kernel for the copy to end), up
 * to 16 M entries; new stacks' pcs share 4 MiB.  Chunks past the first
 * are unmapped after each fork. */
#define CHUNK_SHIFT 16
#define CHUNK (1u << CHUNK_SHIFT)
#define CHUNKS 256
#define PCS (1u << 19)
#define CHUNK_FAILED ((struct forklog_entry *)1) /* the kernel said no */

uint64_t forklog_state;
uintptr_t forklog_owner;
__thread uint64_t forklog_seen __attribute__((tls_model("initial-exec")));

static struct forklog_entry *chunks[CHUNKS];
static uintptr_t *pcs_pool;
static uint32_t pcs_used;
/* Entries are kept from fork to fork: the number of this one tells a
 * written entry from one of an earlier fork (kind: gen << 8 | kind). */
static uint32_t gen;

static uint64_t state(unsigned phase, uint32_t n)
{
	return (uint64_t)phase << FORKLOG_PHASE_SHIFT | (uint64_t)gen << FORKLOG_GEN_SHIFT | n;
}

uint32_t forklog_gen(void)
{
	return __atomic_load_n(&gen, __ATOMIC_RELAXED);
}

void forklog_begin(uintptr_t owner)
{
	__atomic_store_n(&forklog_owner, owner, __ATOMIC_RELAXED);
	if (!pcs_pool)
		pcs_pool = mem_map(PCS * sizeof *pcs_pool);
	__atomic_store_n(&pcs_used, 0, __ATOMIC_RELAXED);
	/* Never 0, the kind of an entry of a chunk just mapped. */
	__atomic_store_n(&gen, gen % 0xffffff + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&forklog_state, state(FORKLOG_FORKING, 0), __ATOMIC_SEQ_CST);
}

/* Chunk C, mapped now if it is not yet; CHUNK_FAILED when it cannot be. */
static struct forklog_entry *chunk(unsigned c)
{
	struct forklog_entry *have = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
	if (have)
		return have;
	struct forklog_entry *fresh = mem_map(CHUNK * sizeof *fresh);
	if (__atomic_compare_exchange_n(&chunks[c], &have, fresh ? fresh : CHUNK_FAILED, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fresh ? fresh : CHUNK_FAILED;
	if (fresh)
		mem_unmap(fresh, CHUNK * sizeof *fresh);
	return have;
}

struct forklog_entry *forklog_reserve(uint32_t *num, int *full)
{
	uint64_t s = __atomic_load_n(&forklog_state, __ATOMIC_ACQUIRE);
	*full = 0;
	for (;;) {
		/* The fork whose handlers held the lock, still before the
		 * fork itself; not a later one, whose handlers may not hold
		 * that lock yet. */
		if (s >> FORKLOG_GEN_SHIFT != forklog_seen >> FORKLOG_GEN_SHIFT)
			return NULL;
		uint32_t n = (uint32_t)s;
		if (!pcs_pool || n >= CHUNKS * CHUNK) {
			*full = 1;
			return NULL;
		}
		if (__atomic_compare_exchange_n(&forklog_state, &s, s + 1, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			/* The handler waits for the chunk and then the entry:
			 * both come, or CHUNK_FAILED says neither will. */
			struct forklog_entry *c = chunk(n >> CHUNK_SHIFT);
			if (c == CHUNK_FAILED) {
				*full = 1;
				return NULL;
			}
			struct forklog_entry *e = &c[n & (CHUNK - 1)];
			e->stack = 0;
			e->depth = 0;
			e->found = 0;
			*num = n;
			return e;
		}
	}
}

uintptr_t *forklog_pcs(struct forklog_entry *e, unsigned depth)
{
	uint32_t at = __atomic_fetch_add(&pcs_used, depth, __ATOMIC_RELAXED);
	if (at > PCS || depth > PCS - at)
		return NULL;
	e->pcs_at = at;
	e->depth = (uint16_t)depth;
	return pcs_pool + at;
}

void forklog_publish(struct forklog_entry *e, enum forklog_kind kind)
{
	uint32_t g = __atomic_load_n(&gen, __ATOMIC_RELAXED);
	__atomic_store_n(&e->kind, g << 8 | (uint32_t)kind, __ATOMIC_RELEASE);
}

uint32_t forklog_stop(void)
{
	uint64_t s = __atomic_exchange_n(&forklog_state, state(FORKLOG_APPLYING, 0),
					 __ATOMIC_ACQ_REL);
	/* Not when no fork raised it (a prepare that took nothing). */
	return s >> FORKLOG_PHASE_SHIFT == FORKLOG_FORKING ? (uint32_t)s : 0;
}

struct forklog_entry *forklog_entry(uint32_t num, int wait, enum forklog_kind *kind)
{
	struct forklog_entry *c, *e;
	/* Its writer runs, and never waits on anything while it maps the
	 * chunk or writes the entry.  (Not this thread, in a signal handler
	 * that interrupted it writing: that fork goes on without the agent's
	 * handlers, as the writer was inside a hook while another fork was
	 * in progress.) */
	while (!(c = __atomic_load_n(&chunks[num >> CHUNK_SHIFT], __ATOMIC_ACQUIRE))) {
		if (!wait)
			return NULL;
		sched_yield();
	}
	if (c == CHUNK_FAILED)
		return NULL;
	e = &c[num & (CHUNK - 1)];
	uint32_t k;
	while ((k = __atomic_load_n(&e->kind, __ATOMIC_ACQUIRE)) >> 8 != gen) {
		if (!wait)
			return NULL;
		sched_yield();
	}
	*kind = (enum forklog_kind)(k & 0xff);
	return e;
}

const uintptr_t *forklog_entry_pcs(const struct forklog_entry *e)
{
	return pcs_pool + e->pcs_at;
}

void forklog_abandon(void)
{
	__atomic_store_n(&forklog_state, state(FORKLOG_OPEN, 0), __ATOMIC_RELEASE);
}

void forklog_end(void)
{
	/* The first chunk stays for the next fork; a failed one may map then. */
	for (unsigned c = 0; c < CHUNKS; c++) {
		struct forklog_entry *have = chunks[c];
		if (have == CHUNK_FAILED || (c > 0 && have)) {
			chunks[c] = NULL;
			if (have != CHUNK_FAILED)
				mem_unmap(have, CHUNK * sizeof *have);
		}
	}
	forklog_abandon();
}
