/*
 * Encoding a snapshot: HELLO, MODULES, new STACKS, COUNTERS, GLOBALS, END.
 *
 * An answer on the socket is encoded a piece at a time into the client's
 * buffer, and each piece is sent before the next is encoded: HELLO,
 * MODULES and about PIECE_BYTES of STACKS frames a piece, then COUNTERS,
 * GLOBALS and END together (the counters of one answer are read in one
 * go).  A first answer lists every stack (22 MiB at 100 000 stacks of 22
 * frames): encoded whole, its buffer cost a page fault every 4 KiB and
 * encoding could not overlap sending.  The buffer is cut back once the
 * answer is sent.  The live-at-exit file goes through a small buffer
 * flushed to the file between frames, so that exiting never maps memory
 * in proportion to the table.
 */
#include "config.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/mem.h"
#include "agent/modules.h"
#include "agent/snapshot.h"
#include "agent/stacktab.h"

#define STACKS_PER_FRAME 1024    /* 1024 x 2052 bytes at most: under HT_MAX_FRAME */
#define COUNTERS_PER_FRAME 8192 /* room for a frame is made for its longest
				   records: 475 KiB, where they take 50-150 */
#define PIECE_BYTES (1u << 20)   /* STACKS frames encoded before sending them */
/* Counter frames of the live-at-exit file: one fits FILE_BUF. */
#define FILE_COUNTERS_PER_FRAME 8192
#define FILE_BUF (1u << 20)
#define READ_BATCH 32            /* counters summed at a time: 1.5 KiB of stack,
				  which may be that of a thread calling exit() */
#define HEAD_ROOM (64u << 10)    /* first guess for HELLO and MODULES; what a
				    refresh's buffer keeps beyond counters */
#define BUF_ALIGN (64u << 10)    /* buffer sizes are multiples of this */
#define TRIM_MIN (1u << 20)      /* a buffer is cut back only by this much or more */
#define STACKS_HEAD (HT_HEADER_SIZE + 8)
#define COUNTERS_HEAD (HT_HEADER_SIZE + 4)
#define TAIL_BYTES (HT_HEADER_SIZE + 8 * HT_GLOBALS_FIELDS + HT_HEADER_SIZE + 8)

/* Where an encoding goes: B holds the whole answer, or (FD >= 0) B is a
 * bounded buffer emptied into FD whenever the next frame does not fit. */
struct out {
	struct ht_writer w; /* over B's memory; overflow: the encoding failed */
	struct snap_buf *b;
	int fd;
	uint32_t stacks_per_frame, counters_per_frame;
};

static uint64_t seq;

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Make B hold at least SIZE bytes, keeping its contents (mremap moves page
 * tables, not bytes).  0, or -1 with B unchanged. */
static int buf_reserve(struct snap_buf *b, size_t size)
{
	if (b->cap >= size)
		return 0;
	size = (size + BUF_ALIGN - 1) & ~(size_t)(BUF_ALIGN - 1);
	uint8_t *p = b->cap ? mem_remap(b->data, b->cap, size) : mem_map(size);
	if (!p)
		return -1;
	b->data = p;
	b->cap = size;
	return 0;
}

/* Write what O holds to its file; failure fails the writer. */
static void out_flush(struct out *o)
{
	size_t off = 0;
	while (off < o->w.len && !o->w.overflow) {
		ssize_t n = write(o->fd, o->w.buf + off, o->w.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->w.overflow = 1;
		else
			off += (size_t)n;
	}
	o->w.len = 0;
}

/* Room for the next N bytes (a whole frame), at a frame boundary: the file
 * is written first if O has one, the buffer grows if that is not enough.
 * 0, or -1 with the writer failed. */
static int out_room(struct out *o, size_t n)
{
	if (o->w.overflow)
		return -1;
	if (o->w.cap - o->w.len >= n)
		return 0;
	if (o->fd >= 0)
		out_flush(o);
	if (!o->w.overflow && o->w.cap - o->w.len < n &&
	    buf_reserve(o->b, o->w.len + n) < 0)
		o->w.overflow = 1;
	o->w.buf = o->b->data;
	o->w.cap = o->b->cap;
	return o->w.overflow ? -1 : 0;
}

/* Bytes of the STACKS frames for ids FROM..TO-1, PER_FRAME stacks a frame. */
static size_t stacks_bytes(uint32_t from, uint32_t to, uint32_t per_frame)
{
	if (from >= to)
		return 0;
	size_t n = (size_t)((to - from - 1) / per_frame + 1) * STACKS_HEAD;
	for (uint32_t id = from; id < to; id++) {
		unsigned depth;
		uint32_t base;
		stacktab_pcs(id, &depth);
		unsigned shared = stacktab_shared(id, &base);
		n += ht_stack_head_size(shared) + (size_t)(depth - shared) * 8;
	}
	return n;
}

/* Bytes of the COUNTERS frames for NSTACKS ids at most. */
static size_t counters_bytes(uint32_t nstacks, uint32_t per_frame)
{
	size_t frames = nstacks ? (nstacks - 1) / per_frame + 1 : 1;
	return frames * COUNTERS_HEAD + (size_t)nstacks * HT_COUNTER_RECORD_MAX;
}

static void encode_head(struct out *o, const struct ht_request *req)
{
	for (;;) {
		size_t start = o->w.len;
		struct ht_hello hello;
		agent_hello(&hello);
		ht_encode_hello(&o->w, &hello);
		if (req->have_modules_gen != modules_generation())
			modules_encode(&o->w);
		if (!o->w.overflow)
			return;
		/* More modules than room: take these frames back and try
		 * again with twice the room (at a bound, so a frame that can
		 * never be valid ends the loop). */
		size_t room = (o->w.cap - start) * 2;
		o->w.len = start;
		o->w.overflow = 0;
		if (room > 2 * (size_t)HT_MAX_FRAME || out_room(o, room) < 0) {
			o->w.overflow = 1;
			return;
		}
	}
}

static void encode_stacks(struct out *o, uint32_t from, uint32_t to)
{
	struct ht_writer *w = &o->w;
	while (from < to) {
		uint32_t n = min_u32(to - from, o->stacks_per_frame);
		if (out_room(o, stacks_bytes(from, from + n, n)) < 0)
			return;
		size_t off = ht_frame_begin(w, HT_MSG_STACKS);
		ht_put_u32(w, from);
		ht_put_u32(w, n);
		for (uint32_t id = from; id < from + n; id++) {
			unsigned depth;
			uint32_t base;
			const uintptr_t *pcs = stacktab_pcs(id, &depth);
			unsigned shared = stacktab_shared(id, &base), own = depth - shared;
			size_t head = ht_stack_head_size(shared);
			uint8_t *p = ht_reserve(w, head + (size_t)own * 8);
			if (!p)
				return;
			ht_store_stack_head(p, depth, shared, base);
			for (unsigned i = 0; i < own; i++)
				ht_store_u64(p + head + (size_t)i * 8, pcs[i]);
		}
		ht_frame_end(w, off);
		from += n;
	}
}

/* Block counts as the protocol has them: whole (estimated) blocks. */
static int64_t blocks(int64_t units, uint64_t unit)
{
	if (unit == 1)
		return units; /* not sampling: spare three divisions per record */
	int64_t half = (int64_t)unit / 2;
	return units >= 0 ? (units + half) / (int64_t)unit : -((-units + half) / (int64_t)unit);
}

/* The records of ids FIRST..FIRST+N-1 that ever allocated, their counters
 * added to SUM; 0, or -1 when the writer failed. */
static int encode_counter_batch(struct ht_writer *w, uint32_t first, uint32_t n,
				int born, uint64_t unit, uint32_t *written, uint64_t *next_id,
				struct stack_counts *sum)
{
	struct stack_counts batch[READ_BATCH];
	stacktab_read_range(first, n, born, batch);
	for (uint32_t i = 0; i < n; i++) {
		const struct stack_counts *c = &batch[i];
		if (c->alloc_blocks == 0)
			continue;
		sum->alloc_bytes += c->alloc_bytes;
		sum->alloc_blocks += c->alloc_blocks;
		sum->freed_bytes += c->freed_bytes;
		sum->freed_blocks += c->freed_blocks;
		uint8_t *p = ht_reserve(w, HT_COUNTER_RECORD_MAX);
		if (!p)
			return -1;
		struct ht_counter rec = {
			.stack_id = first + i,
			.live_bytes = (int64_t)(c->alloc_bytes - c->freed_bytes),
			.live_blocks = blocks((int64_t)(c->alloc_blocks - c->freed_blocks), unit),
			.total_bytes = c->alloc_bytes,
			.total_blocks = (uint64_t)blocks((int64_t)c->alloc_blocks, unit),
			.born_bytes = c->born_bytes,
			.born_blocks = blocks(c->born_blocks, unit),
		};
		w->len -= HT_COUNTER_RECORD_MAX - ht_store_counter(p, &rec, next_id);
		(*written)++;
	}
	return 0;
}

/* Counters of every stack that ever allocated, a frame per range of ids;
 * their sums, the process's totals, in SUM. */
static void encode_counters(struct out *o, uint32_t nstacks, struct stack_counts *sum)
{
	struct ht_writer *w = &o->w;
	uint64_t unit = agent_block_unit();
	unsigned tag = agent_mark_tag();
	int born = tag ? (int)(tag & 1) : -1;
	uint32_t id = 0;
	do {
		uint32_t end = id + min_u32(nstacks - id, o->counters_per_frame);
		if (out_room(o, counters_bytes(end - id, o->counters_per_frame)) < 0)
			return;
		size_t off = ht_frame_begin(w, HT_MSG_COUNTERS);
		size_t count_at = w->len;
		uint32_t n = 0;
		uint64_t next_id = 0;
		ht_put_u32(w, 0);
		for (; id < end; id += min_u32(end - id, READ_BATCH))
			if (encode_counter_batch(w, id, min_u32(end - id, READ_BATCH), born,
						 unit, &n, &next_id, sum) < 0)
				return;
		ht_patch_u32(w, count_at, n);
		ht_frame_end(w, off);
	} while (id < nstacks);
}

/* GLOBALS for the stacks 0..NSTACKS-1, whose counters add up to C. */
static void fill_globals(struct ht_globals *g, const struct stack_counts *c, uint64_t number,
			 uint32_t nstacks, int reset_peak, int final, int status)
{
	struct untracked_counts u;
	uint64_t unit = agent_block_unit();
	stacktab_read_untracked(&u);
	g->seq = number;
	g->realtime_ns = clock_ns(CLOCK_REALTIME);
	g->monotonic_ns = clock_ns(CLOCK_MONOTONIC);
	g->live_bytes = c->alloc_bytes - c->freed_bytes;
	g->live_blocks = (uint64_t)blocks((int64_t)(c->alloc_blocks - c->freed_blocks), unit);
	g->peak_bytes = agent_peak(g->live_bytes, reset_peak);
	g->allocs = (uint64_t)blocks((int64_t)c->alloc_blocks, unit);
	g->frees = (uint64_t)blocks((int64_t)c->freed_blocks, unit);
	g->total_bytes = c->alloc_bytes;
	g->agent_bytes = mem_mapped_bytes();
	g->untracked_blocks = (uint64_t)blocks((int64_t)u.blocks, unit);
	g->untracked_bytes = u.bytes;
	g->stacks = nstacks;
	g->flags = final ? HT_GLOBAL_FINAL : 0;
	g->exit_status = final ? (uint64_t)(unsigned)status : 0;
	g->mark_ns = agent_mark_ns();
}

/* What starting an answer to REQ does; returns the answer's number. */
static uint64_t begin(const struct ht_request *req)
{
	if (req->flags & HT_REQ_MARK)
		agent_mark();
	return __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
}

/* COUNTERS, GLOBALS and END of answer NUMBER to REQ for stacks
 * 0..NSTACKS-1. */
static void encode_tail(struct out *o, const struct ht_request *req, uint64_t number,
			uint32_t nstacks, int final, int status)
{
	struct stack_counts sum = { 0 };
	encode_counters(o, nstacks, &sum);
	struct ht_globals g;
	fill_globals(&g, &sum, number, nstacks, req->flags & HT_REQ_RESET_PEAK, final, status);
	if (out_room(o, TAIL_BYTES) < 0)
		return;
	ht_encode_globals(&o->w, &g);
	ht_encode_end(&o->w, g.seq);
}

/* The whole answer to REQ for the stacks 0..NSTACKS-1; failure leaves the
 * writer failed. */
static void encode(struct out *o, const struct ht_request *req, uint32_t nstacks,
		   int final, int status)
{
	uint64_t number = begin(req);
	encode_head(o, req);
	if (req->have_stacks < nstacks)
		encode_stacks(o, req->have_stacks, nstacks);
	encode_tail(o, req, number, nstacks, final, status);
}

enum { STAGE_HEAD, STAGE_STACKS, STAGE_DONE };

void snapshot_start(struct snap_stream *st, const struct ht_request *req)
{
	st->req = *req;
	/* The stack count is read once: the frames and GLOBALS agree on
	 * it, and stacks interned meanwhile go in the next answer. */
	st->nstacks = stacktab_count();
	st->next = req->have_stacks;
	st->stage = STAGE_HEAD;
}

long snapshot_next(struct snap_stream *st, struct snap_buf *b)
{
	if (st->stage == STAGE_DONE)
		return 0;
	struct out o = { .b = b, .fd = -1, .stacks_per_frame = STACKS_PER_FRAME,
			 .counters_per_frame = COUNTERS_PER_FRAME };
	if (buf_reserve(b, HEAD_ROOM) < 0)
		return -1;
	ht_writer_init(&o.w, b->data, b->cap);
	if (st->stage == STAGE_HEAD) {
		st->number = begin(&st->req);
		encode_head(&o, &st->req);
		st->stage = STAGE_STACKS;
	}
	while (st->next < st->nstacks && o.w.len < PIECE_BYTES && !o.w.overflow) {
		uint32_t n = min_u32(st->nstacks - st->next, STACKS_PER_FRAME);
		encode_stacks(&o, st->next, st->next + n);
		st->next += n;
	}
	if (st->next >= st->nstacks && o.w.len < PIECE_BYTES) {
		size_t before = o.w.len;
		encode_tail(&o, &st->req, st->number, st->nstacks, 0, 0);
		b->tail = o.w.len - before;
		st->stage = STAGE_DONE;
	}
	return o.w.overflow ? -1 : (long)o.w.len;
}

int snapshot_write(int fd, const struct ht_request *req, int final, int exit_status)
{
	struct snap_buf b = { 0 };
	if (buf_reserve(&b, FILE_BUF) < 0)
		return -1;
	struct out o = { .b = &b, .fd = fd, .stacks_per_frame = STACKS_PER_FRAME,
			 .counters_per_frame = FILE_COUNTERS_PER_FRAME };
	ht_writer_init(&o.w, b.data, b.cap);
	encode(&o, req, stacktab_count(), final, exit_status);
	if (!o.w.overflow)
		out_flush(&o);
	int failed = o.w.overflow;
	snapshot_buf_free(&b);
	return failed ? -1 : 0;
}

void snapshot_buf_trim(struct snap_buf *b)
{
	/* What the next refresh needs: counters for every stack, no stacks:
	 * as many bytes as last time and room for one more frame. */
	size_t keep = HEAD_ROOM + b->tail + counters_bytes(COUNTERS_PER_FRAME, COUNTERS_PER_FRAME);
	keep = (keep + BUF_ALIGN - 1) & ~(size_t)(BUF_ALIGN - 1);
	if (b->cap < keep + keep / 2 || b->cap - keep < TRIM_MIN)
		return;
	uint8_t *p = mem_remap(b->data, b->cap, keep);
	if (!p)
		return; /* keeping a big buffer is no error */
	b->data = p;
	b->cap = keep;
}

void snapshot_buf_free(struct snap_buf *b)
{
	mem_unmap(b->data, b->cap);
	b->data = NULL;
	b->cap = 0;
	b->tail = 0;
}
