/* A string pool: an open-addressing set over strings carved from chunks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/strpool.h"
#include "common/xalloc.h"

#define CHUNK_SIZE (64 * 1024)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct slot {
	uint64_t hash;
	const char *str; /* NULL marks an empty slot */
	size_t len;
};

struct strpool {
	struct slot *slots; /* power of two, at most half full */
	size_t nslots, capslots, bytes;
	struct chunk *chunks; /* the one being filled first */
};

struct strpool *strpool_new(void)
{
	return xcalloc(1, sizeof(struct strpool));
}

void strpool_free(struct strpool *p)
{
	if (!p)
		return;
	while (p->chunks) {
		struct chunk *next = p->chunks->next;
		free(p->chunks);
		p->chunks = next;
	}
	free(p->slots);
	free(p);
}

static char *carve(struct strpool *p, size_t n)
{
	struct chunk *c = p->chunks;
	if (c && c->cap - c->used >= n) {
		c->used += n;
		return c->data + c->used - n;
	}
	size_t cap = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
	c = xmalloc(sizeof *c + cap);
	c->cap = cap;
	c->used = n;
	/* A big string gets a chunk of its own, behind the one being filled. */
	if (cap != CHUNK_SIZE && p->chunks) {
		c->next = p->chunks->next;
		p->chunks->next = c;
	} else {
		c->next = p->chunks;
		p->chunks = c;
	}
	return c->data;
}

static void grow(struct strpool *p)
{
	size_t cap = p->capslots ? p->capslots * 2 : 256;
	struct slot *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < p->capslots; i++) {
		if (!p->slots[i].str)
			continue;
		size_t j = p->slots[i].hash & (cap - 1);
		while (t[j].str)
			j = (j + 1) & (cap - 1);
		t[j] = p->slots[i];
	}
	free(p->slots);
	p->slots = t;
	p->capslots = cap;
}

const char *strpool_intern(struct strpool *p, const char *s, size_t len)
{
	if ((p->nslots + 1) * 2 > p->capslots)
		grow(p);
	uint64_t h = hash_bytes(s, len);
	size_t mask = p->capslots - 1, i = h & mask;
	for (; p->slots[i].str; i = (i + 1) & mask) {
		const struct slot *e = &p->slots[i];
		if (e->hash == h && e->len == len && memcmp(e->str, s, len) == 0)
			return e->str;
	}
	char *copy = carve(p, len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	p->slots[i] = (struct slot){ h, copy, len };
	p->nslots++;
	p->bytes += len + 1;
	return copy;
}

size_t strpool_count(const struct strpool *p)
{
	return p->nslots;
}

size_t strpool_bytes(const struct strpool *p)
{
	return p->bytes;
}
