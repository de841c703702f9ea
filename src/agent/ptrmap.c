/* Pointer map: sharded open addressing with Robin Hood linear probing,
 * backward-shift deletion, no tombstones, tables in anonymous mappings.
 *
 * Robin Hood keeps every probe run sorted by home slot, so a lookup stops
 * as soon as it meets an entry that lies nearer its home than the key
 * would, and a removal stops shifting at the first entry that sits at its
 * home: both stop early instead of scanning to the end of the cluster,
 * and the backward shift moves fewer entries.
 *
 * Memory: 16 bytes an entry; a shard grows by 5/4 when an insert would
 * take it past 85% full, so its load stays between 68% and 85%: at most
 * 23.5 bytes per live block just after a growth, 18.8 just before, about
 * 21.0 on average over the cycle.  (90% and 4/3 would have the same bound
 * but cost twice the instructions per pair on a table in cache.)  Shards
 * under SMALL_SLOTS (256 KiB) are kept at most half full and double
 * instead: at 85% the clustered runs made a small live set (10 000 blocks)
 * cost 50-70 ns more per malloc/free pair than the old sparse tables, for
 * at most 32 bytes a block while a 64 MiB region holds under ~130 000. */
#include "config.h"

#include <string.h>

#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/ptrmap.h"

/* Shards come in groups of 16; the group is picked by the block's 64 MiB
 * region and the shard within it by the hash.  glibc gives each thread's
 * arena its own 64 MiB-aligned heaps, usually next to one another, so two
 * threads' blocks land in different groups and their locks and table lines
 * stay in their own cores' caches; a single-threaded heap still spreads
 * over 16 shards (more when it spans several regions). */
#define GROUP_BITS 4
#define SHARD_BITS 4
#define SHARDS (1u << (GROUP_BITS + SHARD_BITS))
#define REGION_SHIFT 26
#define INITIAL_SLOTS 256 /* one page of entries */
/* Grow when more than MAX_LOAD_NUM / MAX_LOAD_DEN full, by GROW_NUM / GROW_DEN. */
#define MAX_LOAD_NUM 17
#define MAX_LOAD_DEN 20
#define GROW_NUM 5
#define GROW_DEN 4
/* Below this many slots a shard is kept at most half full and doubles. */
#define SMALL_SLOTS (1u << 14)

struct entry {
	uint64_t key; /* tag << 56 | distance << 48 | block address; 0 marks an
			 empty slot */
	uint64_t val; /* size << 24 | stack id */
};

/* An entry keeps how far it lies from its home slot, which probes and
 * shifts compare at every step: stored, it costs a shift and a mask where
 * working it out from the address costs two multiplications.  The field
 * saturates: FAR says "FAR or more, work it out".  A table at 85% never
 * comes near it, but blocks packed closer than 16 bytes (two or more to a
 * grain, below) make runs that long, and then only their probes slow. */
#define ADDR_MASK PTRMAP_MAX_ADDR
#define DIST_SHIFT 48
#define DIST_ONE (UINT64_C(1) << DIST_SHIFT)
#define DIST_MASK (UINT64_C(0xff) << DIST_SHIFT)
#define FAR 255u

static uint32_t stored_dist(uint64_t key)
{
	return (uint32_t)(key >> DIST_SHIFT) & 0xff;
}

/* KEY (its distance bits clear or not) at distance D. */
static uint64_t with_dist(uint64_t key, uint32_t d)
{
	return (key & ~DIST_MASK) | (uint64_t)(d < FAR ? d : FAR) << DIST_SHIFT;
}

struct shard {
	uintptr_t lock;
	uint32_t slots; /* capacity; any number, indexes come from fastrange */
	uint32_t used;
	struct entry *table;
} __attribute__((aligned(64)));

static struct shard shards[SHARDS];
/* The shards whose locks the fork handlers hold: all but one the thread
 * held already when a signal handler forked. */
static uint8_t fork_held[SHARDS];

/* How insert and remove take the shard's lock. */
enum { GATED, HELD };

/* Where a block's entry goes keeps some of the address order: each chunk
 * of addresses (1 KiB) is hashed to a shard and a home slot there, and the
 * 16-byte grains within the chunk take the slots from that home on (64).
 * Neighbouring blocks, which the allocator hands out one after the other,
 * then share table lines and pages instead of each costing a cache and TLB
 * miss (on python this halved the map's time).  glibc's blocks are 32
 * bytes apart at least, so a chunk fills at most half its run.  Allocators
 * with slabs of 16-byte blocks (jemalloc, tcmalloc) fill all of it, and
 * 8-byte blocks put two in a grain, which lengthens probes but never
 * breaks lookups; where such full runs overlap, every insert shifts the
 * rest of the pile (tcmalloc's inserts shifted 16 entries each on
 * cppcheck).  For those, ptrmap_dense makes the chunks 256 bytes, 16 slots
 * a run: cppcheck traced 20 % faster on either.  glibc's programs keep
 * the longer runs: python ran 5 % slower with 16 (doc/performance.md). */
#define GRAIN_SHIFT 4
static unsigned run_bits = 6;

int ptrmap_dense(void)
{
	/* The layout is fixed once a shard has a table (an insert made it). */
	for (unsigned i = 0; i < SHARDS; i++)
		if (__atomic_load_n(&shards[i].slots, __ATOMIC_RELAXED))
			return run_bits == 4;
	run_bits = 4;
	return 1;
}

/* The hash of P's chunk.  The hot paths below take the run's length as
 * RB, a constant in each of the two copies the public functions choose
 * from (a shift by a variable cost bench_alloc 40 instructions a
 * malloc/free pair). */
static inline uint64_t mix(uint64_t p, unsigned rb)
{
	p &= ADDR_MASK;
	return (uint64_t)(p >> (GRAIN_SHIFT + rb)) * UINT64_C(0x9E3779B97F4A7C15);
}

static struct shard *shard_of(uint64_t p, uint64_t h)
{
	unsigned group = (unsigned)(p >> REGION_SHIFT) & ((1u << GROUP_BITS) - 1);
	return &shards[group << SHARD_BITS | (unsigned)(h >> (64 - SHARD_BITS))];
}

static inline uint32_t home_slot(uint64_t p, uint64_t h, uint32_t slots, unsigned rb)
{
	uint32_t i = (uint32_t)(((h >> 24) & 0xffffffffu) * (uint64_t)slots >> 32);
	i += (uint32_t)(p >> GRAIN_SHIFT) & ((1u << rb) - 1);
	return i >= slots ? i - slots : i;
}

static uint32_t next_slot(uint32_t i, uint32_t slots)
{
	return i + 1 == slots ? 0 : i + 1;
}

/* How far the entry at I lies from its home, its stored distance FAR. */
static __attribute__((noinline, cold)) uint32_t distance_far(const struct entry *t,
							      uint32_t slots, uint32_t i)
{
	uint64_t addr = t[i].key & ADDR_MASK;
	uint32_t home = home_slot(addr, mix(addr, run_bits), slots, run_bits);
	return i >= home ? i - home : i + slots - home;
}

/* How far the entry at I (0 for an empty slot) lies from its home. */
static inline __attribute__((always_inline)) uint32_t distance(const struct entry *t,
								uint32_t slots, uint32_t i)
{
	uint32_t d = stored_dist(t[i].key);
	return __builtin_expect(d < FAR, 1) ? d : distance_far(t, slots, i);
}

/* Put KEY, VAL at I, D slots from its home and its place in the probe
 * order, moving the entries from I up to the next empty slot one slot
 * further from home.  The table has an empty slot. */
static void put_at(struct entry *t, uint32_t slots, uint32_t i, uint32_t d, uint64_t key,
		   uint64_t val)
{
	struct entry e = { with_dist(key, d), val };
	while (t[i].key) {
		struct entry tmp = t[i];
		t[i] = e;
		e.key = stored_dist(tmp.key) < FAR ? tmp.key + DIST_ONE : tmp.key;
		e.val = tmp.val;
		i = next_slot(i, slots);
	}
	t[i] = e;
}

/* Find where address ADDR (hash H) is or would go: 1 with *AT its slot
 * when present, else 0 with *AT the slot an insert takes and *D its
 * distance from home there.  Stops at the first empty slot or entry
 * nearer its home than the address would be. */
static inline __attribute__((always_inline)) int probe(const struct entry *t, uint32_t slots,
							 uint64_t addr, uint64_t h, uint32_t *at,
							 uint32_t *d, unsigned rb)
{
	uint32_t i = home_slot(addr, h, slots, rb), n = 0;
	for (uint64_t k; (k = t[i].key); n++) {
		if ((k & ADDR_MASK) == addr) {
			*at = i;
			return 1;
		}
		if (distance(t, slots, i) < n)
			break;
		i = next_slot(i, slots);
	}
	*at = i;
	*d = n;
	return 0;
}

/* Insert into a table known to have room and not to hold KEY. */
static void place(struct entry *t, uint32_t slots, uint64_t key, uint64_t val)
{
	uint32_t i, d = 0; /* probe sets d too: KEY is not in the table */
	uint64_t addr = key & ADDR_MASK;
	probe(t, slots, addr, mix(addr, run_bits), &i, &d, run_bits);
	put_at(t, slots, i, d, key, val);
}

/*
 * Table memory.  A shard that grows needs its new table while it rehashes
 * the old one, and then drops the old one.  Fresh pages cost a page fault
 * each (about 2 us on a VM, where zeroing a page already mapped costs
 * 0.1 us), and growing by 5/4 maps about five times the final table over a
 * run: python3 took 90 000 more faults traced than not.  So the tables
 * shards drop are kept as spares, and the next shard to grow (the shards
 * of a group fill evenly, so they grow one after another) moves the pages
 * of the largest spare that fits into its new table with mremap, zeroes
 * them and faults only the part beyond.  A few spares, the largest ones:
 * about a twentieth of the map.
 */
#define SPARES 4
static uintptr_t spare_lock;
static struct {
	struct entry *t;
	size_t bytes;
} spares[SPARES];

static struct entry *table_map(size_t bytes)
{
	struct entry *t = NULL;
	size_t have = 0;
	/* A fork handler in a signal handler that interrupted this thread's
	 * growth of another shard: no spares. */
	if (lock_mine(&spare_lock))
		return mem_map(bytes);
	lock_acquire(&spare_lock);
	int best = -1;
	for (int i = 0; i < SPARES; i++)
		if (spares[i].t && spares[i].bytes <= bytes &&
		    (best < 0 || spares[i].bytes > spares[best].bytes))
			best = i;
	if (best >= 0) {
		t = spares[best].t;
		have = spares[best].bytes;
		spares[best].t = NULL;
		spares[best].bytes = 0;
	}
	lock_release(&spare_lock);
	if (t) {
		struct entry *q = mem_remap(t, have, bytes);
		if (q) {
			memset(q, 0, have);
			return q;
		}
		mem_unmap(t, have);
	}
	return mem_map(bytes);
}

static void table_unmap(struct entry *t, size_t bytes)
{
	if (!t)
		return;
	if (lock_mine(&spare_lock)) { /* as in table_map */
		mem_unmap(t, bytes);
		return;
	}
	lock_acquire(&spare_lock);
	int least = 0; /* an empty place, else the smallest spare */
	for (int i = 1; i < SPARES && spares[least].t; i++)
		if (!spares[i].t || spares[i].bytes < spares[least].bytes)
			least = i;
	if (!spares[least].t || spares[least].bytes < bytes) {
		struct entry *drop = spares[least].t;
		size_t drop_bytes = spares[least].bytes;
		spares[least].t = t;
		spares[least].bytes = bytes;
		t = drop;
		bytes = drop_bytes;
	}
	lock_release(&spare_lock);
	mem_unmap(t, bytes);
}

static int shard_grow(struct shard *s)
{
	uint64_t want = !s->slots		? INITIAL_SLOTS
			: s->slots < SMALL_SLOTS ? (uint64_t)s->slots * 2
						 : (uint64_t)s->slots * GROW_NUM / GROW_DEN + 1;
	/* Use the whole of the last page. */
	size_t bytes = ((want * sizeof(struct entry)) + 4095) & ~(size_t)4095;
	if (bytes / sizeof(struct entry) > UINT32_MAX)
		return -1;
	uint32_t slots = (uint32_t)(bytes / sizeof(struct entry));
	struct entry *t = table_map(bytes);
	if (!t)
		return -1;
	for (uint32_t i = 0; i < s->slots; i++)
		if (s->table[i].key)
			place(t, slots, s->table[i].key, s->table[i].val);
	table_unmap(s->table, (size_t)s->slots * sizeof(struct entry));
	/* Atomic only for ptrmap_prefetch, which reads them unlocked (each
	 * alone: it may pair this table with the last size). */
	__atomic_store_n(&s->table, t, __ATOMIC_RELAXED);
	__atomic_store_n(&s->slots, slots, __ATOMIC_RELAXED);
	return 0;
}

static int over_load(uint32_t used, uint32_t slots)
{
	if (slots < SMALL_SLOTS)
		return (uint64_t)used * 2 > slots;
	return (uint64_t)used * MAX_LOAD_DEN > (uint64_t)slots * MAX_LOAD_NUM;
}

static void unpack(const struct entry *e, struct ptrmap_rec *r)
{
	r->size = e->val >> 24;
	r->stack = (uint32_t)(e->val & PTRMAP_MAX_STACK);
	r->tag = (unsigned)(e->key >> 56);
}

static inline __attribute__((always_inline)) int insert(uintptr_t p, const struct ptrmap_rec *r,
							  struct ptrmap_rec *old, unsigned rb,
							  int how)
{
	uint64_t h = mix(p, rb);
	uint64_t key = (uint64_t)p | (uint64_t)(r->tag & 0xff) << 56;
	uint64_t val = r->size << 24 | r->stack;
	struct shard *s = shard_of(p, h);
	int ret = 0;
	uint32_t at = 0, d = 0; /* what probe sets, where slots > 0 */

	if (p > ADDR_MASK)
		return -1; /* not a user-space address of 4-level paging */
	if (how == HELD ? !fork_held[s - shards] : lock_acquire_gated(&s->lock) < 0)
		return -2;
	if (s->slots && probe(s->table, s->slots, p, h, &at, &d, rb)) {
		unpack(&s->table[at], old);
		s->table[at].key = key | (s->table[at].key & DIST_MASK);
		s->table[at].val = val;
		ret = 1;
	} else if (!over_load(s->used + 1, s->slots)) {
		put_at(s->table, s->slots, at, d, key, val);
		s->used++;
	} else if (shard_grow(s) == 0 || s->used + 1 < s->slots) {
		/* The table moved or grew: find the place again. */
		place(s->table, s->slots, key, val);
		s->used++;
	} else {
		ret = -1; /* full and cannot grow: leave one slot empty */
	}
	if (how == GATED)
		lock_release(&s->lock);
	return ret;
}

int ptrmap_insert(uintptr_t p, const struct ptrmap_rec *r, struct ptrmap_rec *old)
{
	return run_bits == 4 ? insert(p, r, old, 4, GATED) : insert(p, r, old, 6, GATED);
}

int ptrmap_insert_held(uintptr_t p, const struct ptrmap_rec *r, struct ptrmap_rec *old)
{
	return insert(p, r, old, run_bits, HELD);
}

static inline __attribute__((always_inline)) void prefetch(uintptr_t p, unsigned rb)
{
	uint64_t h = mix(p, rb);
	const struct shard *s = shard_of(p, h);
	/* Unlocked: the table and its size may be read from two different
	 * growths, which only makes this useless (the address is worked out
	 * as an integer, and a prefetch of one not mapped does not fault). */
	const struct entry *t = __atomic_load_n(&s->table, __ATOMIC_RELAXED);
	uint32_t slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
	if (t && slots)
		__builtin_prefetch((const void *)((uintptr_t)t + home_slot(p, h, slots, rb) *
						  sizeof *t), 1);
}

void ptrmap_prefetch(uintptr_t p)
{
	if (run_bits == 4)
		prefetch(p, 4);
	else
		prefetch(p, 6);
}

static inline __attribute__((always_inline)) int remove_entry(uintptr_t p, struct ptrmap_rec *r,
								unsigned rb, int how)
{
	uint64_t h = mix(p, rb);
	struct shard *s = shard_of(p, h);
	uint32_t i, d;

	if (p > ADDR_MASK)
		return 0; /* never inserted */
	if (how == HELD ? !fork_held[s - shards] : lock_acquire_gated(&s->lock) < 0)
		return -1;
	if (!s->slots || !probe(s->table, s->slots, p, h, &i, &d, rb)) {
		if (how == GATED)
			lock_release(&s->lock);
		return 0;
	}
	unpack(&s->table[i], r);
	/* Backward-shift deletion: pull the rest of the run one slot nearer
	 * home, up to an empty slot or an entry already at its home. */
	struct entry *t = s->table;
	uint32_t n = s->slots;
	for (uint32_t j = next_slot(i, n), dj; (dj = distance(t, n, j)) > 0; j = next_slot(j, n)) {
		t[i].key = with_dist(t[j].key, dj - 1);
		t[i].val = t[j].val;
		i = j;
	}
	t[i].key = 0;
	t[i].val = 0;
	s->used--;
	if (how == GATED)
		lock_release(&s->lock);
	return 1;
}

int ptrmap_remove(uintptr_t p, struct ptrmap_rec *r)
{
	return run_bits == 4 ? remove_entry(p, r, 4, GATED) : remove_entry(p, r, 6, GATED);
}

int ptrmap_remove_held(uintptr_t p, struct ptrmap_rec *r)
{
	return remove_entry(p, r, run_bits, HELD);
}

void ptrmap_lock_all(void)
{
	for (unsigned i = 0; i < SHARDS; i++) {
		/* This thread's own, in a signal handler: its holder, the
		 * code interrupted, goes on after the handler returns. */
		fork_held[i] = !lock_mine(&shards[i].lock);
		if (fork_held[i])
			lock_acquire(&shards[i].lock);
	}
}

void ptrmap_release_foreign(void)
{
	for (unsigned i = 0; i < SHARDS; i++)
		if (!lock_mine(&shards[i].lock))
			lock_release(&shards[i].lock);
	if (!lock_mine(&spare_lock))
		lock_release(&spare_lock);
}

void ptrmap_unlock_all(void)
{
	for (unsigned i = 0; i < SHARDS; i++)
		if (fork_held[i]) {
			fork_held[i] = 0;
			lock_release(&shards[i].lock);
		}
}
