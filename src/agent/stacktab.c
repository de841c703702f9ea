/* Stack table: lock-free lookups, append-only records, striped counters. */
#include "config.h"

#include <string.h>

#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/stacktab.h"

#define CHUNK_SHIFT 12
#define CHUNK_IDS (1u << CHUNK_SHIFT) /* ids per record or counter chunk */
#define MAX_CHUNKS 4096               /* so at most 16M stacks */
#define POOL_BYTES (1u << 20)         /* pcs are bump-allocated in 1 MiB pools */

struct record {
	const uintptr_t *pcs;
	uint32_t hash;
	uint16_t depth;
	uint16_t shared; /* outer frames the same as stack base's (0: none) */
	uint32_t base;   /* an earlier stack, for snapshots to send less */
};

/* The hash index maps a hash to ids; 0 marks an empty slot (the overflow
 * id is never indexed).  When it fills up a bigger one replaces it; old
 * ones are kept because a lock-free reader may still be probing them. */
struct index {
	uint32_t mask;
	uint32_t slots[];
};

/* One stripe's counters for one stack: one cache line. */
struct counts {
	uint64_t alloc_bytes, alloc_blocks, freed_bytes, freed_blocks;
	int64_t born_bytes[2], born_blocks[2]; /* per mark parity, net */
};

struct untracked_stripe {
	uint64_t bytes, blocks;
} __attribute__((aligned(64)));

static uint32_t max_ids = 1u << 20;
static uintptr_t insert_lock;
static int fork_held; /* the fork handlers hold insert_lock */
static uint32_t count = 1;           /* ids handed out; id 0 exists from the start */
static struct record *records[MAX_CHUNKS];
static struct index *index_now;
static uint32_t indexed;             /* ids in index_now */
static uint8_t *pool;
static size_t pool_used = POOL_BYTES;
static struct counts *counters[STACKTAB_STRIPES][MAX_CHUNKS];
static struct untracked_stripe untracked[STACKTAB_STRIPES];

void stacktab_configure(uint32_t max_stacks)
{
	if (max_stacks < 2)
		max_stacks = 2;
	if (max_stacks > MAX_CHUNKS * CHUNK_IDS)
		max_stacks = MAX_CHUNKS * CHUNK_IDS;
	max_ids = max_stacks;
}

/* Four independent multiply-add chains, so the CPU overlaps them: a stack
 * is hashed in about the time of a quarter of its frames. */
static inline __attribute__((always_inline)) uint32_t hash_pcs(const uintptr_t *pcs,
							      unsigned depth)
{
	const uint64_t k = UINT64_C(0x9E3779B97F4A7C15);
	uint64_t a = depth, b = k, c = k << 1, d = k << 2;
	unsigned i = 0;
	for (; i + 4 <= depth; i += 4) {
		a = (a + pcs[i]) * k;
		b = (b + pcs[i + 1]) * k;
		c = (c + pcs[i + 2]) * k;
		d = (d + pcs[i + 3]) * k;
	}
	for (; i < depth; i++)
		a = (a + pcs[i]) * k;
	uint64_t x = a ^ (b >> 17) ^ (c >> 31) ^ (d >> 47);
	x ^= x >> 29;
	x *= k;
	return (uint32_t)(x >> 32);
}

static const struct record *record_of(uint32_t id)
{
	return &records[id >> CHUNK_SHIFT][id & (CHUNK_IDS - 1)];
}

/* Whether R holds PCS[0..DEPTH). */
static int holds(const struct record *r, const uintptr_t *pcs, unsigned depth)
{
	return r->depth == depth && memcmp(r->pcs, pcs, depth * sizeof *pcs) == 0;
}

static int same(const struct record *r, uint32_t hash, const uintptr_t *pcs,
		unsigned depth)
{
	return r->hash == hash && holds(r, pcs, depth);
}

static uint32_t probe(const struct index *ix, uint32_t hash,
		      const uintptr_t *pcs, unsigned depth)
{
	if (!ix)
		return 0;
	for (uint32_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
		uint32_t id = __atomic_load_n(&ix->slots[i], __ATOMIC_ACQUIRE);
		if (id == 0 || same(record_of(id), hash, pcs, depth))
			return id;
	}
}

static void index_put(struct index *ix, uint32_t hash, uint32_t id)
{
	uint32_t i = hash & ix->mask;
	while (ix->slots[i])
		i = (i + 1) & ix->mask;
	__atomic_store_n(&ix->slots[i], id, __ATOMIC_RELEASE);
}

/* Make room for one more id in the index; under the insert lock. */
static int index_reserve(void)
{
	if (index_now && (uint64_t)(indexed + 1) * 2 <= (uint64_t)index_now->mask + 1)
		return 0;
	uint32_t slots = index_now ? (index_now->mask + 1) * 2 : 1024;
	struct index *ix = mem_map(sizeof *ix + (size_t)slots * sizeof(uint32_t));
	if (!ix)
		return -1;
	ix->mask = slots - 1;
	for (uint32_t id = 1; id < count; id++)
		index_put(ix, record_of(id)->hash, id);
	__atomic_store_n(&index_now, ix, __ATOMIC_RELEASE);
	return 0;
}

static const uintptr_t *pool_copy(const uintptr_t *pcs, unsigned depth)
{
	size_t bytes = depth * sizeof *pcs;
	if (POOL_BYTES - pool_used < bytes) {
		uint8_t *p = mem_map(POOL_BYTES);
		if (!p)
			return NULL;
		pool = p;
		pool_used = 0;
	}
	uintptr_t *dst = (uintptr_t *)(pool + pool_used);
	memcpy(dst, pcs, bytes);
	pool_used += bytes;
	return dst;
}

static uint32_t insert(uint32_t hash, const uintptr_t *pcs, unsigned depth, uint32_t base,
		       unsigned shared)
{
	uint32_t id = probe(index_now, hash, pcs, depth);
	if (id)
		return id; /* another thread got here first */
	id = count;
	if (id >= max_ids || index_reserve() < 0)
		return STACKTAB_OVERFLOW;
	struct record **chunk = &records[id >> CHUNK_SHIFT];
	if (!*chunk && !(*chunk = mem_map(CHUNK_IDS * sizeof(struct record))))
		return STACKTAB_OVERFLOW;
	const uintptr_t *copy = pool_copy(pcs, depth);
	if (!copy)
		return STACKTAB_OVERFLOW;
	struct record *r = &(*chunk)[id & (CHUNK_IDS - 1)];
	r->pcs = copy;
	r->hash = hash;
	r->depth = (uint16_t)depth;
	r->shared = (uint16_t)shared;
	r->base = base;
	/* Publish the record before the index slot and the count name it. */
	index_put(index_now, hash, id);
	indexed++;
	__atomic_store_n(&count, id + 1, __ATOMIC_RELEASE);
	return id;
}

/* The stack this thread interned last: programs allocate in loops, and
 * about two stacks in five of cppcheck's are the one before.  Its record
 * and pcs are still in the cache, where the index probe would miss three
 * times (slot, record, pcs).  Ids are never reused, so it stays valid (in
 * a forked child too). */
static __thread uint32_t last_id __attribute__((tls_model("initial-exec")));

/* How many outermost frames PCS[0..DEPTH) has in common with stack ID. */
static unsigned common_outer(uint32_t id, const uintptr_t *pcs, unsigned depth)
{
	const struct record *r = record_of(id);
	unsigned n = 0, max = r->depth < depth ? r->depth : depth;
	while (n < max && r->pcs[r->depth - 1 - n] == pcs[depth - 1 - n])
		n++;
	return n;
}

uint32_t stacktab_intern(const uintptr_t *pcs, unsigned depth)
{
	uint32_t last = last_id, id;
	if (last && holds(record_of(last), pcs, depth))
		return last;
	uint32_t hash = hash_pcs(pcs, depth);
	id = probe(__atomic_load_n(&index_now, __ATOMIC_ACQUIRE), hash, pcs, depth);
	if (!id) {
		/* A new stack: it is sent as the frames where it leaves the
		 * thread's last one, which it mostly shares its outer ones
		 * with (a stack is never its own base: ids only grow). */
		unsigned shared = last ? common_outer(last, pcs, depth) : 0;
		if (lock_acquire_gated(&insert_lock) < 0)
			return STACKTAB_FORKING;
		id = insert(hash, pcs, depth, shared ? last : 0, shared);
		lock_release(&insert_lock);
	}
	last_id = id;
	return id;
}

uint32_t stacktab_intern_held(const uintptr_t *pcs, unsigned depth)
{
	if (!fork_held)
		return STACKTAB_OVERFLOW;
	uint32_t hash = hash_pcs(pcs, depth);
	uint32_t id = probe(index_now, hash, pcs, depth);
	return id ? id : insert(hash, pcs, depth, 0, 0);
}

uint32_t stacktab_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_ACQUIRE);
}

const uintptr_t *stacktab_pcs(uint32_t id, unsigned *depth)
{
	if (id == STACKTAB_OVERFLOW) {
		*depth = 0;
		return NULL;
	}
	const struct record *r = record_of(id);
	*depth = r->depth;
	return r->pcs;
}

unsigned stacktab_shared(uint32_t id, uint32_t *base)
{
	if (id == STACKTAB_OVERFLOW) {
		*base = 0;
		return 0;
	}
	const struct record *r = record_of(id);
	*base = r->base;
	return r->shared;
}

/* Map the counter chunk at SLOT (another thread may be doing the same). */
static __attribute__((noinline)) struct counts *counts_map(struct counts **slot)
{
	struct counts *chunk = NULL, *fresh = mem_map(CHUNK_IDS * sizeof *fresh);
	if (!fresh)
		return NULL;
	if (__atomic_compare_exchange_n(slot, &chunk, fresh, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return fresh;
	mem_unmap(fresh, CHUNK_IDS * sizeof *fresh);
	return chunk;
}

/* The counters of stack ID in STRIPE, mapping their chunk on first use. */
static inline struct counts *counts_of(unsigned stripe, uint32_t id)
{
	struct counts **slot = &counters[stripe][id >> CHUNK_SHIFT];
	struct counts *chunk = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!chunk, 0) && !(chunk = counts_map(slot)))
		return NULL;
	return &chunk[id & (CHUNK_IDS - 1)];
}

static void add(uint64_t *counter, uint64_t v)
{
	__atomic_add_fetch(counter, v, __ATOMIC_RELAXED);
}

void stacktab_charge(unsigned stripe, uint32_t id, uint64_t bytes, uint64_t blocks,
		     int born)
{
	struct counts *c = counts_of(stripe, id);
	if (!c) {
		/* No memory for counters: the block is tracked but cannot be
		 * charged to its stack; say so rather than lose it silently. */
		stacktab_untracked(stripe, bytes, blocks);
		return;
	}
	add(&c->alloc_bytes, bytes);
	add(&c->alloc_blocks, blocks);
	if (born >= 0) {
		add((uint64_t *)&c->born_bytes[born], bytes);
		add((uint64_t *)&c->born_blocks[born], blocks);
	}
}

void stacktab_credit(unsigned stripe, uint32_t id, uint64_t bytes, uint64_t blocks,
		     int born)
{
	struct counts *c = counts_of(stripe, id);
	if (!c)
		return;
	add(&c->freed_bytes, bytes);
	add(&c->freed_blocks, blocks);
	if (born >= 0) {
		add((uint64_t *)&c->born_bytes[born], -bytes);
		add((uint64_t *)&c->born_blocks[born], -blocks);
	}
}

void stacktab_born_reset(int slot)
{
	for (unsigned s = 0; s < STACKTAB_STRIPES; s++) {
		for (unsigned ch = 0; ch < MAX_CHUNKS; ch++) {
			struct counts *chunk =
				__atomic_load_n(&counters[s][ch], __ATOMIC_ACQUIRE);
			if (!chunk)
				continue;
			for (unsigned i = 0; i < CHUNK_IDS; i++) {
				__atomic_store_n(&chunk[i].born_bytes[slot], 0, __ATOMIC_RELAXED);
				__atomic_store_n(&chunk[i].born_blocks[slot], 0, __ATOMIC_RELAXED);
			}
		}
	}
}

void stacktab_untracked(unsigned stripe, uint64_t size, uint64_t blocks)
{
	add(&untracked[stripe].bytes, size);
	add(&untracked[stripe].blocks, blocks);
}

static uint64_t get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void stacktab_read(uint32_t id, int born, struct stack_counts *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned s = 0; s < STACKTAB_STRIPES; s++) {
		const struct counts *chunk =
			__atomic_load_n(&counters[s][id >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
		if (!chunk)
			continue;
		const struct counts *c = &chunk[id & (CHUNK_IDS - 1)];
		out->alloc_bytes += get(&c->alloc_bytes);
		out->alloc_blocks += get(&c->alloc_blocks);
		out->freed_bytes += get(&c->freed_bytes);
		out->freed_blocks += get(&c->freed_blocks);
		if (born >= 0) {
			out->born_bytes += (int64_t)get((const uint64_t *)&c->born_bytes[born]);
			out->born_blocks += (int64_t)get((const uint64_t *)&c->born_blocks[born]);
		}
	}
}

/* Add one stripe's chunk of counters C[0..N) into OUT[0..N): a sequential
 * walk, where stacktab_read looks the chunk up again for every id. */
static void read_chunk(const struct counts *c, uint32_t n, int born,
		       struct stack_counts *out)
{
	for (uint32_t i = 0; i < n; i++) {
		out[i].alloc_bytes += get(&c[i].alloc_bytes);
		out[i].alloc_blocks += get(&c[i].alloc_blocks);
		out[i].freed_bytes += get(&c[i].freed_bytes);
		out[i].freed_blocks += get(&c[i].freed_blocks);
	}
	if (born < 0)
		return;
	for (uint32_t i = 0; i < n; i++) {
		out[i].born_bytes += (int64_t)get((const uint64_t *)&c[i].born_bytes[born]);
		out[i].born_blocks += (int64_t)get((const uint64_t *)&c[i].born_blocks[born]);
	}
}

void stacktab_read_range(uint32_t first, uint32_t n, int born, struct stack_counts *out)
{
	memset(out, 0, (size_t)n * sizeof *out);
	uint32_t id = first, end = first + n;
	while (id < end) {
		uint32_t in_chunk = id & (CHUNK_IDS - 1);
		uint32_t k = CHUNK_IDS - in_chunk < end - id ? CHUNK_IDS - in_chunk : end - id;
		for (unsigned s = 0; s < STACKTAB_STRIPES; s++) {
			const struct counts *chunk = __atomic_load_n(
				&counters[s][id >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
			if (chunk)
				read_chunk(chunk + in_chunk, k, born, out + (id - first));
		}
		id += k;
	}
}

void stacktab_read_untracked(struct untracked_counts *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned s = 0; s < STACKTAB_STRIPES; s++) {
		out->bytes += get(&untracked[s].bytes);
		out->blocks += get(&untracked[s].blocks);
	}
}

void stacktab_lock(void)
{
	/* Not when this thread holds it, in a signal handler: the code
	 * interrupted goes on after the handler returns. */
	fork_held = !lock_mine(&insert_lock);
	if (fork_held)
		lock_acquire(&insert_lock);
}

void stacktab_release_foreign(void)
{
	if (!lock_mine(&insert_lock))
		lock_release(&insert_lock);
}

void stacktab_unlock(void)
{
	if (fork_held) {
		fork_held = 0;
		lock_release(&insert_lock);
	}
}
