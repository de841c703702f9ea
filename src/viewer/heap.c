/*
 * A heap to analyse (see heap.h).  Two kinds share one representation:
 *  - from a snapshot: counters are copied at creation, frames are made on
 *    the first heap_frames of each stack by symbolizing its pcs, and their
 *    strings point into the symbolizer;
 *  - by hand (heap_new, heap_add_stack): frames are copied at once, their
 *    strings interned in the heap.
 * Frames and strings are carved from chunks that never move, which is what
 * keeps them at the same address for the heap's whole life.
 */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/strpool.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/heap.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

/* Chunks are this big unless one allocation needs more. */
#define HEAP_CHUNK_SIZE 65536
/* Frames one pc may expand to: the symbolizer keeps no deeper inline chain. */
#define HEAP_MAX_INLINE 64

struct heap_chunk {
	struct heap_chunk *next;
	size_t used, cap;
	max_align_t data[]; /* cap bytes */
};

struct heap_stack {
	struct heap_counter counter;
	const struct heap_frame *frames; /* NULL while not symbolized or none */
	uint32_t nframes;
	int ready; /* frames are final; 0 only for snapshot stacks not yet asked */
};

/* One interned string; str NULL marks an empty slot. */
struct heap {
	struct heap_info info;
	struct heap_stack *stacks;
	uint32_t nstacks;
	size_t capstacks;

	/* Where frames come from for stacks not ready yet. */
	const struct snapshot *snap;
	struct symbolizer *sym;
	struct heap_frame *scratch; /* frames of one stack being symbolized */
	size_t capscratch;

	struct heap_chunk *chunks; /* newest first */
	struct strpool *strings; /* every string of info and frames, once */
};

/* --- chunks (frames) and interned strings ---------------------------- */

/* N bytes aligned to ALIGN (a power of two, at most max_align_t's), valid
 * until heap_free. */
static void *heap_alloc(struct heap *h, size_t n, size_t align)
{
	struct heap_chunk *c = h->chunks;
	if (c != NULL) {
		size_t at = (c->used + align - 1) & ~(align - 1);
		if (at <= c->cap && n <= c->cap - at) {
			c->used = at + n;
			return (char *)c->data + at;
		}
	}
	/* A big block gets a chunk of its own, kept behind the current one so
	 * that the current one's free space is not abandoned. */
	int own = n > HEAP_CHUNK_SIZE / 4;
	size_t cap = own ? n : HEAP_CHUNK_SIZE;
	c = xmalloc(sizeof *c + cap);
	c->cap = cap;
	c->used = n;
	if (own && h->chunks != NULL) {
		c->next = h->chunks->next;
		h->chunks->next = c;
	} else {
		c->next = h->chunks;
		h->chunks = c;
	}
	return c->data;
}

const char *heap_intern(struct heap *h, const char *s, size_t len)
{
	return strpool_intern(h->strings, s, len);
}

/* heap_intern for a C string that may be NULL (and stays NULL). */
static const char *heap_intern_opt(struct heap *h, const char *s)
{
	return s != NULL ? heap_intern(h, s, strlen(s)) : NULL;
}

/* --- building -------------------------------------------------------- */

/* Room for N stacks in all. */
static void heap_reserve(struct heap *h, size_t n)
{
	if (n <= h->capstacks)
		return;
	size_t cap = h->capstacks ? h->capstacks : 64;
	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	h->stacks = xreallocarray(h->stacks, cap, sizeof *h->stacks);
	h->capstacks = cap;
}

struct heap *heap_new(const struct heap_info *info)
{
	struct heap *h = xcalloc(1, sizeof *h);
	h->strings = strpool_new();
	h->info = *info;
	h->info.exe = heap_intern_opt(h, info->exe ? info->exe : "");
	h->info.cmdline = heap_intern_opt(h, info->cmdline ? info->cmdline : "");
	return h;
}

uint32_t heap_add_stack(struct heap *h, const struct heap_counter *counter,
			const struct heap_frame *frames, size_t n)
{
	heap_reserve(h, (size_t)h->nstacks + 1);
	struct heap_frame *copy = NULL;
	/* No overflow: FRAMES already holds n * sizeof *copy bytes. */
	if (n > 0)
		copy = heap_alloc(h, n * sizeof *copy, alignof(struct heap_frame));
	for (size_t i = 0; i < n; i++)
		copy[i] = (struct heap_frame){
			.function = heap_intern_opt(h, frames[i].function),
			.file = heap_intern_opt(h, frames[i].file),
			.line = frames[i].line,
			.module = heap_intern_opt(h, frames[i].module),
			.inlined = frames[i].inlined != 0,
		};
	uint32_t id = h->nstacks++;
	h->stacks[id] = (struct heap_stack){ .counter = *counter, .frames = copy,
					     .nframes = (uint32_t)n, .ready = 1 };
	return id;
}

/* The info of a snapshot heap: HELLO and GLOBALS of S's last complete snapshot. */
static void heap_info_from(struct heap *h, const struct snapshot *s)
{
	const struct snapshot_hello *he = snapshot_hello(s);
	const struct ht_globals *g = snapshot_globals(s);
	h->info = (struct heap_info){
		.pid = he->pid,
		/* S's strings change with its next snapshot: copy them. */
		.exe = heap_intern_opt(h, he->exe),
		.cmdline = heap_intern_opt(h, he->cmdline),
		.start_ns = he->start_ns,
		.time_ns = g->realtime_ns,
		.seq = g->seq,
		.live_bytes = g->live_bytes,
		.live_blocks = g->live_blocks,
		.peak_bytes = g->peak_bytes,
		.allocs = g->allocs,
		.frees = g->frees,
		.total_bytes = g->total_bytes,
		.agent_bytes = g->agent_bytes,
		.untracked_blocks = g->untracked_blocks,
		.untracked_bytes = g->untracked_bytes,
		.agent_flags = he->flags,
		.sample_bytes = he->sample_bytes,
		.final = (g->flags & HT_GLOBAL_FINAL) != 0,
		.exit_status = (int)g->exit_status,
		.mark_ns = g->mark_ns,
	};
}

struct heap *heap_from_snapshot(const struct snapshot *s, struct symbolizer *sym)
{
	struct heap *h = xcalloc(1, sizeof *h);
	h->strings = strpool_new();
	heap_info_from(h, s);
	h->snap = s;
	h->sym = sym;
	/* Only counters are copied here: a live view makes a heap every
	 * refresh, and symbolizing waits for the rows that are shown. */
	uint32_t n = snapshot_stack_count(s);
	heap_reserve(h, n);
	for (uint32_t i = 0; i < n; i++) {
		struct snapshot_counter c = snapshot_counter(s, i);
		h->stacks[i] = (struct heap_stack){
			.counter = { .live_bytes = c.live_bytes, .live_blocks = c.live_blocks,
				     .total_bytes = c.total_bytes,
				     .total_blocks = c.total_blocks,
				     .born_bytes = c.born_bytes,
				     .born_blocks = c.born_blocks },
		};
	}
	h->nstacks = n;
	return h;
}

void heap_declare_modules(struct symbolizer *sym, const struct snapshot *s)
{
	size_t n = snapshot_module_count(s);
	for (size_t i = 0; i < n; i++) {
		const struct snapshot_module *m = snapshot_module(s, i);
		symbolizer_add_module(sym, m->path, m->build_id, m->build_id_len, m->bias,
				      m->lo, m->hi);
	}
}

void heap_free(struct heap *h)
{
	if (h == NULL)
		return;
	while (h->chunks != NULL) {
		struct heap_chunk *next = h->chunks->next;
		free(h->chunks);
		h->chunks = next;
	}
	strpool_free(h->strings);
	free(h->stacks);
	free(h->scratch);
	free(h);
}

/* --- reading --------------------------------------------------------- */

const struct heap_info *heap_info(const struct heap *h)
{
	return &h->info;
}

uint32_t heap_stack_count(const struct heap *h)
{
	return h->nstacks;
}

struct heap_counter heap_counter(const struct heap *h, uint32_t i)
{
	if (i >= h->nstacks)
		return (struct heap_counter){ 0 };
	return h->stacks[i].counter;
}

/* Append the frames of one return address to the scratch array at *N. */
static void heap_symbolize_pc(struct heap *h, uint64_t pc, size_t *n)
{
	struct sym_frame f[HEAP_MAX_INLINE];
	int k = symbolizer_lookup(h->sym, pc, 1, f, HEAP_MAX_INLINE);
	if (h->capscratch - *n < (size_t)k) {
		h->capscratch = h->capscratch * 2 + HEAP_MAX_INLINE;
		h->scratch = xreallocarray(h->scratch, h->capscratch, sizeof *h->scratch);
	}
	for (int j = 0; j < k; j++)
		h->scratch[(*n)++] = (struct heap_frame){
			.function = f[j].function, .file = f[j].file, .line = f[j].line,
			.module = f[j].module, .inlined = f[j].inlined != 0,
		};
}

/* Give snapshot stack I its frames: every pc (all are return addresses)
 * with its inline frames, innermost first. */
static void heap_symbolize(struct heap *h, uint32_t i)
{
	struct heap_stack *st = &h->stacks[i];
	unsigned depth;
	const uint64_t *pcs = snapshot_stack(h->snap, i, &depth);
	size_t n = 0;
	for (unsigned j = 0; j < depth; j++)
		heap_symbolize_pc(h, pcs[j], &n);
	if (n > 0) {
		struct heap_frame *v = heap_alloc(h, n * sizeof *v, alignof(struct heap_frame));
		memcpy(v, h->scratch, n * sizeof *v);
		st->frames = v;
	}
	st->nframes = (uint32_t)n;
	st->ready = 1;
}

size_t heap_frames(struct heap *h, uint32_t i, const struct heap_frame **frames)
{
	if (i >= h->nstacks) {
		*frames = NULL;
		return 0;
	}
	if (!h->stacks[i].ready)
		heap_symbolize(h, i);
	*frames = h->stacks[i].frames;
	return h->stacks[i].nframes;
}
