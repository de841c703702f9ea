/*
 * A heap to analyse (see heap.h).  Two kinds share one representation:
 *  - from a snapshot: counters are copied at creation, frames are made on
 *    the first heap_frames of each stack by symbolizing its pcs, and their
 *    strings point into the symbolizer;
 *  - by hand (heap_new, heap_add_stack): frames are copied at once, their
 *    strings interned in the heap.
 * Frames and strings are carved from chunks that never move, which is what
 * keeps them at the same address for the heap's whole life.  Frames,
 * chunks and strings belong to a store that every heap over one snapshot
 * shares (struct heap_shared): a stack is symbolized once, however many
 * heaps a live view makes of it, and the store lives as long as the last
 * heap or holder that references it.
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

/* The frames of one stack, by stack index. */
struct heap_stack_frames {
	const struct heap_frame *frames; /* NULL while not symbolized or none */
	uint32_t nframes;
	int ready; /* frames are final; 0 only for snapshot stacks not yet asked */
};

struct heap_shared {
	unsigned refs;
	uint64_t id;                /* heap_store_id: unique in the process */
	/* Where frames come from for stacks not ready yet; NULL by hand. */
	const struct snapshot *snap;
	struct symbolizer *sym;
	struct heap_stack_frames *index;
	size_t nindex;
	struct heap_frame *scratch; /* frames of one stack being symbolized */
	size_t capscratch;
	struct heap_chunk *chunks;  /* newest first */
	struct strpool *strings;    /* every string of info and frames, once */
};

struct heap {
	struct heap_info info;
	struct heap_counter *counters; /* by stack index */
	uint32_t nstacks;
	size_t capstacks;
	struct heap_shared *sh;        /* one reference */
};

/* --- chunks (frames) and interned strings ---------------------------- */

/* N bytes aligned to ALIGN (a power of two, at most max_align_t's), valid
 * as long as the store. */
static void *heap_alloc(struct heap_shared *h, size_t n, size_t align)
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
	return strpool_intern(h->sh->strings, s, len);
}

/* heap_intern for a C string that may be NULL (and stays NULL). */
static const char *heap_intern_opt(struct heap *h, const char *s)
{
	return s != NULL ? heap_intern(h, s, strlen(s)) : NULL;
}

/* --- the shared store ----------------------------------------------- */

struct heap_shared *heap_shared_new(const struct snapshot *s, struct symbolizer *sym)
{
	/* Atomic only so that two threads making stores never share an id;
	 * the rest of a store is not for concurrent use. */
	static _Atomic uint64_t last_id;
	struct heap_shared *sh = xcalloc(1, sizeof *sh);
	sh->refs = 1;
	sh->id = ++last_id;
	sh->snap = s;
	sh->sym = sym;
	sh->strings = strpool_new();
	return sh;
}

void heap_shared_unref(struct heap_shared *sh)
{
	if (sh == NULL || --sh->refs > 0)
		return;
	while (sh->chunks != NULL) {
		struct heap_chunk *next = sh->chunks->next;
		free(sh->chunks);
		sh->chunks = next;
	}
	strpool_free(sh->strings);
	free(sh->index);
	free(sh->scratch);
	free(sh);
}

/* Room in the frame index for stacks 0 .. N-1. */
static void shared_reserve(struct heap_shared *sh, size_t n)
{
	if (n <= sh->nindex)
		return;
	size_t cap = sh->nindex ? sh->nindex : 64;
	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	sh->index = xreallocarray(sh->index, cap, sizeof *sh->index);
	memset(sh->index + sh->nindex, 0, (cap - sh->nindex) * sizeof *sh->index);
	sh->nindex = cap;
}

/* --- building -------------------------------------------------------- */

/* Room for N stacks in all. */
static void heap_reserve(struct heap *h, size_t n)
{
	shared_reserve(h->sh, n);
	if (n <= h->capstacks)
		return;
	size_t cap = h->capstacks ? h->capstacks : 64;
	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	h->counters = xreallocarray(h->counters, cap, sizeof *h->counters);
	h->capstacks = cap;
}

/* An empty heap over store SH, taking a reference. */
static struct heap *heap_over(struct heap_shared *sh)
{
	struct heap *h = xcalloc(1, sizeof *h);
	sh->refs++;
	h->sh = sh;
	return h;
}

struct heap *heap_new(const struct heap_info *info)
{
	struct heap_shared *sh = heap_shared_new(NULL, NULL);
	struct heap *h = heap_over(sh);
	heap_shared_unref(sh);
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
		copy = heap_alloc(h->sh, n * sizeof *copy, alignof(struct heap_frame));
	for (size_t i = 0; i < n; i++)
		copy[i] = (struct heap_frame){
			.function = heap_intern_opt(h, frames[i].function),
			.file = heap_intern_opt(h, frames[i].file),
			.line = frames[i].line,
			.module = heap_intern_opt(h, frames[i].module),
			.inlined = frames[i].inlined != 0,
		};
	uint32_t id = h->nstacks++;
	h->counters[id] = *counter;
	h->sh->index[id] = (struct heap_stack_frames){ .frames = copy, .nframes = (uint32_t)n,
						       .ready = 1 };
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

int heap_shared_extend(struct heap_shared *sh, const struct snapshot *s)
{
	if (sh->snap == s)
		return 0;
	if (!sh->snap || !sh->sym)
		return -1; /* a store filled by hand has nothing to symbolize with */
	uint32_t n = snapshot_stack_count(sh->snap);
	if (snapshot_stack_count(s) < n)
		return -1;
	uint64_t a[HT_MAX_DEPTH], b[HT_MAX_DEPTH];
	for (uint32_t i = 0; i < n; i++) {
		unsigned da = snapshot_stack(sh->snap, i, a), db = snapshot_stack(s, i, b);
		if (da != db || memcmp(a, b, da * sizeof *a) != 0)
			return -1;
	}
	sh->snap = s;
	return 0;
}

struct heap *heap_from_shared(struct heap_shared *sh)
{
	struct heap *h = heap_over(sh);
	const struct snapshot *s = sh->snap;
	heap_info_from(h, s);
	/* Only counters are copied here: a live view makes a heap every
	 * refresh, and frames come from the store, made on first use. */
	uint32_t n = snapshot_stack_count(s);
	heap_reserve(h, n);
	for (uint32_t i = 0; i < n; i++) {
		struct snapshot_counter c = snapshot_counter(s, i);
		h->counters[i] = (struct heap_counter){
			.live_bytes = c.live_bytes, .live_blocks = c.live_blocks,
			.total_bytes = c.total_bytes, .total_blocks = c.total_blocks,
			.born_bytes = c.born_bytes, .born_blocks = c.born_blocks,
		};
	}
	h->nstacks = n;
	return h;
}

struct heap *heap_from_snapshot(const struct snapshot *s, struct symbolizer *sym)
{
	struct heap_shared *sh = heap_shared_new(s, sym);
	struct heap *h = heap_from_shared(sh);
	heap_shared_unref(sh);
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
	heap_shared_unref(h->sh);
	free(h->counters);
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
	return h->counters[i];
}

/* Append the frames of one return address to the scratch array at *N. */
static void heap_symbolize_pc(struct heap_shared *h, uint64_t pc, size_t *n)
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
static void heap_symbolize(struct heap_shared *h, uint32_t i)
{
	struct heap_stack_frames *st = &h->index[i];
	uint64_t pcs[HT_MAX_DEPTH];
	unsigned depth = snapshot_stack(h->snap, i, pcs);
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
	struct heap_stack_frames *st = &h->sh->index[i];
	if (!st->ready)
		heap_symbolize(h->sh, i);
	*frames = st->frames;
	return st->nframes;
}

uint64_t heap_store_id(const struct heap *h)
{
	return h->sh->id;
}
