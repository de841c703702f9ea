/* Encoding a snapshot: HELLO, MODULES, new STACKS, COUNTERS, GLOBALS, END. */
#include "config.h"

#include <time.h>

#include "agent/agent.h"
#include "agent/mem.h"
#include "agent/modules.h"
#include "agent/snapshot.h"
#include "agent/stacktab.h"

#define STACKS_PER_FRAME 8192    /* 8192 x 2 KiB at most: under HT_MAX_FRAME */
#define COUNTERS_PER_FRAME 65536

static uint64_t seq;

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void encode_stacks(struct ht_writer *w, uint32_t from, uint32_t to)
{
	while (from < to) {
		uint32_t n = to - from < STACKS_PER_FRAME ? to - from : STACKS_PER_FRAME;
		size_t off = ht_frame_begin(w, HT_MSG_STACKS);
		ht_put_u32(w, from);
		ht_put_u32(w, n);
		for (uint32_t id = from; id < from + n; id++) {
			unsigned depth;
			const uintptr_t *pcs = stacktab_pcs(id, &depth);
			ht_put_u16(w, (uint16_t)depth);
			for (unsigned i = 0; i < depth; i++)
				ht_put_u64(w, pcs[i]);
		}
		ht_frame_end(w, off);
		from += n;
	}
}

/* Block counts as the protocol has them: whole (estimated) blocks. */
static int64_t blocks(int64_t units, uint64_t unit)
{
	int64_t half = (int64_t)unit / 2;
	return units >= 0 ? (units + half) / (int64_t)unit : -((-units + half) / (int64_t)unit);
}

/* Counters of every stack that ever allocated. */
static void encode_counters(struct ht_writer *w, uint32_t nstacks)
{
	uint64_t unit = agent_block_unit();
	unsigned tag = agent_mark_tag();
	int born = tag ? (int)(tag & 1) : -1;
	uint32_t id = 0;
	do {
		size_t off = ht_frame_begin(w, HT_MSG_COUNTERS);
		size_t count_at = w->len;
		uint32_t n = 0;
		ht_put_u32(w, 0);
		for (; id < nstacks && n < COUNTERS_PER_FRAME; id++) {
			struct stack_counts c;
			stacktab_read(id, born, &c);
			if (c.alloc_blocks == 0)
				continue;
			struct ht_counter rec = {
				.stack_id = id,
				.live_bytes = (int64_t)(c.alloc_bytes - c.freed_bytes),
				.live_blocks = blocks((int64_t)(c.alloc_blocks - c.freed_blocks), unit),
				.total_bytes = c.alloc_bytes,
				.total_blocks = (uint64_t)blocks((int64_t)c.alloc_blocks, unit),
				.born_bytes = c.born_bytes,
				.born_blocks = blocks(c.born_blocks, unit),
			};
			ht_put_counter(w, &rec);
			n++;
		}
		ht_patch_u32(w, count_at, n);
		ht_frame_end(w, off);
	} while (id < nstacks);
}

static void fill_globals(struct ht_globals *g, uint64_t number, uint32_t nstacks,
			 int reset_peak, int final, int status)
{
	struct global_counts c;
	uint64_t unit = agent_block_unit();
	stacktab_read_globals(&c);
	g->seq = number;
	g->realtime_ns = clock_ns(CLOCK_REALTIME);
	g->monotonic_ns = clock_ns(CLOCK_MONOTONIC);
	g->live_bytes = c.alloc_bytes - c.freed_bytes;
	g->live_blocks = (uint64_t)blocks((int64_t)(c.alloc_blocks - c.freed_blocks), unit);
	g->peak_bytes = agent_peak(g->live_bytes, reset_peak);
	g->allocs = (uint64_t)blocks((int64_t)c.alloc_blocks, unit);
	g->frees = (uint64_t)blocks((int64_t)c.freed_blocks, unit);
	g->total_bytes = c.alloc_bytes;
	g->agent_bytes = mem_mapped_bytes();
	g->untracked_blocks = (uint64_t)blocks((int64_t)c.untracked_blocks, unit);
	g->untracked_bytes = c.untracked_bytes;
	g->stacks = nstacks;
	g->flags = final ? HT_GLOBAL_FINAL : 0;
	g->exit_status = final ? (uint64_t)(unsigned)status : 0;
	g->mark_ns = agent_mark_ns();
}

static void encode(struct ht_writer *w, const struct ht_request *req, uint64_t number,
		   int final, int status)
{
	struct ht_hello hello;
	agent_hello(&hello);
	ht_encode_hello(w, &hello);
	if (req->have_modules_gen != modules_generation())
		modules_encode(w);
	uint32_t nstacks = stacktab_count();
	if (req->have_stacks < nstacks)
		encode_stacks(w, req->have_stacks, nstacks);
	encode_counters(w, nstacks);
	struct ht_globals g;
	fill_globals(&g, number, nstacks, req->flags & HT_REQ_RESET_PEAK, final, status);
	ht_encode_globals(w, &g);
	size_t off = ht_frame_begin(w, HT_MSG_END);
	ht_put_u64(w, g.seq);
	ht_frame_end(w, off);
}

size_t snapshot_encode(struct snap_buf *b, const struct ht_request *req,
		       int final, int exit_status)
{
	if (req->flags & HT_REQ_MARK)
		agent_mark();
	/* One number per snapshot, however often it is encoded to fit. */
	uint64_t number = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	for (;;) {
		if (b->cap) {
			struct ht_writer w;
			ht_writer_init(&w, b->data, b->cap);
			encode(&w, req, number, final, exit_status);
			if (!w.overflow)
				return w.len;
		}
		size_t cap = b->cap ? b->cap * 2 : 1u << 20;
		uint8_t *p = b->cap ? mem_remap(b->data, b->cap, cap) : mem_map(cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
}

void snapshot_buf_free(struct snap_buf *b)
{
	mem_unmap(b->data, b->cap);
	b->data = NULL;
	b->cap = 0;
}
