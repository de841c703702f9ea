/* Pointer map: sharded open addressing, backward-shift deletion, no
 * tombstones, tables in anonymous mappings. */
#include "config.h"

#include <string.h>

#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/ptrmap.h"

#define SHARDS 256
#define INITIAL_SLOTS 256 /* one page of entries */

struct entry {
	uint64_t key; /* tag << 56 | block address; 0 marks an empty slot */
	uint64_t val; /* size << 24 | stack id */
};

#define ADDR_MASK ((UINT64_C(1) << 56) - 1)

struct shard {
	int lock;
	uint32_t slots; /* capacity; any number, indexes come from fastrange */
	uint32_t used;
	struct entry *table;
} __attribute__((aligned(64)));

static struct shard shards[SHARDS];

static uint64_t mix(uint64_t p)
{
	p &= ADDR_MASK;
	/* Blocks are 16-byte aligned: the low bits carry nothing. */
	return (uint64_t)(p >> 4) * UINT64_C(0x9E3779B97F4A7C15);
}

static struct shard *shard_of(uint64_t h)
{
	return &shards[h >> 56];
}

static uint32_t home_slot(uint64_t h, uint32_t slots)
{
	return (uint32_t)(((h >> 24) & 0xffffffffu) * (uint64_t)slots >> 32);
}

/* Insert into a table known to have room and not to hold KEY. */
static void place(struct entry *t, uint32_t slots, uint64_t key, uint64_t val)
{
	uint32_t i = home_slot(mix(key), slots);
	while (t[i].key)
		i = i + 1 == slots ? 0 : i + 1;
	t[i].key = key;
	t[i].val = val;
}

static int shard_grow(struct shard *s)
{
	uint64_t want = s->slots ? (uint64_t)s->slots * 5 / 4 + 1 : INITIAL_SLOTS;
	/* Use the whole of the last page. */
	size_t bytes = ((want * sizeof(struct entry)) + 4095) & ~(size_t)4095;
	uint32_t slots = (uint32_t)(bytes / sizeof(struct entry));
	if (bytes / sizeof(struct entry) > UINT32_MAX)
		return -1;
	struct entry *t = mem_map(bytes);
	if (!t)
		return -1;
	for (uint32_t i = 0; i < s->slots; i++)
		if (s->table[i].key)
			place(t, slots, s->table[i].key, s->table[i].val);
	mem_unmap(s->table, (size_t)s->slots * sizeof(struct entry));
	s->table = t;
	s->slots = slots;
	return 0;
}

static int find(const struct shard *s, uint64_t addr, uint64_t h, uint32_t *at)
{
	if (!s->slots)
		return 0;
	uint32_t i = home_slot(h, s->slots);
	while (s->table[i].key) {
		if ((s->table[i].key & ADDR_MASK) == addr) {
			*at = i;
			return 1;
		}
		i = i + 1 == s->slots ? 0 : i + 1;
	}
	return 0;
}

static void unpack(const struct entry *e, struct ptrmap_rec *r)
{
	r->size = e->val >> 24;
	r->stack = (uint32_t)(e->val & PTRMAP_MAX_STACK);
	r->tag = (unsigned)(e->key >> 56);
}

int ptrmap_insert(uintptr_t p, const struct ptrmap_rec *r, struct ptrmap_rec *old)
{
	uint64_t h = mix(p);
	uint64_t key = (uint64_t)p | (uint64_t)(r->tag & 0xff) << 56;
	uint64_t val = r->size << 24 | r->stack;
	struct shard *s = shard_of(h);
	int ret = 0;
	uint32_t at;

	lock_acquire(&s->lock);
	if (find(s, p, h, &at)) {
		unpack(&s->table[at], old);
		s->table[at].key = key;
		s->table[at].val = val;
		ret = 1;
	} else if ((uint64_t)(s->used + 1) * 100 > (uint64_t)s->slots * 85 &&
		   shard_grow(s) < 0 && s->used + 1 >= s->slots) {
		ret = -1; /* full and cannot grow: leave one slot empty */
	} else {
		place(s->table, s->slots, key, val);
		s->used++;
	}
	lock_release(&s->lock);
	return ret;
}

int ptrmap_remove(uintptr_t p, struct ptrmap_rec *r)
{
	uint64_t h = mix(p);
	struct shard *s = shard_of(h);
	uint32_t i;

	lock_acquire(&s->lock);
	if (!find(s, p, h, &i)) {
		lock_release(&s->lock);
		return 0;
	}
	unpack(&s->table[i], r);
	/* Backward-shift deletion: pull later entries of the probe run into
	 * the hole when the hole lies between their home and where they are. */
	struct entry *t = s->table;
	uint32_t n = s->slots, j = i;
	for (;;) {
		j = j + 1 == n ? 0 : j + 1;
		if (!t[j].key)
			break;
		uint32_t k = home_slot(mix(t[j].key), n);
		int movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
		if (movable) {
			t[i] = t[j];
			i = j;
		}
	}
	t[i].key = 0;
	t[i].val = 0;
	s->used--;
	lock_release(&s->lock);
	return 1;
}

void ptrmap_lock_all(void)
{
	for (int i = 0; i < SHARDS; i++)
		lock_acquire(&shards[i].lock);
}

void ptrmap_unlock_all(void)
{
	for (int i = 0; i < SHARDS; i++)
		lock_release(&shards[i].lock);
}

void ptrmap_reset_locks(void)
{
	for (int i = 0; i < SHARDS; i++)
		shards[i].lock = 0;
}
