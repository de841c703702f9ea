/*
 * Unit tests for the wire protocol: every message round-trips, the writer
 * never writes past its buffer, and the parser and decoders turn every
 * truncated, oversized or corrupt input into an error, never a crash.
 *
 * Inputs handed to the parser and decoders are copied into heap blocks of
 * exactly their size, so that AddressSanitizer reports a read one byte past
 * the end.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define STREAM_CAP (64 * 1024)
#define S(lit) lit, (sizeof(lit) - 1) /* a literal and its length */

/* --- test data ---------------------------------------------------------- */

static const struct ht_hello test_hello = {
	.pid = 4242,
	.ppid = 1,
	.start_ns = 1700000000123456789ull,
	.depth = 64,
	.flags = HT_AGENT_SAMPLED | HT_AGENT_FRAME_POINTERS,
	.sample_bytes = 512 * 1024,
	.max_stacks = 1u << 20,
	.exe = S("/usr/bin/server"),
	.cmdline = S("server --port 8080"),
};

static const uint8_t bid_exe[20] = {
	0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6,
	7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff,
};
static const uint8_t bid_libc[HT_MAX_BUILD_ID] = { 0x11, [63] = 0x99 };

static const struct ht_module test_modules[] = {
	{ 0x555555554000, 0x555555554000, 0x55555555a000,
	  S("/usr/bin/server"), bid_exe, sizeof bid_exe },
	{ 0x7ffff7dd0000, 0x7ffff7df5000, 0x7ffff7f4a000,
	  S("/lib/x86_64-linux-gnu/libc.so.6"), bid_libc, sizeof bid_libc },
	/* no build-id, empty range */
	{ 0, 0x7ffff7fc1000, 0x7ffff7fc1000, S("[vdso]"), NULL, 0 },
};
#define N_MODULES (sizeof test_modules / sizeof test_modules[0])

static const uint64_t pcs_a[] = { 0x555555555123 };
static const uint64_t pcs_b[] = {
	0x7ffff7e4a1b0, 0x555555555abc, 0x8000000000000001ull,
};
static const uint64_t pcs_c[] = { 0xffffffffffffffffull, 0 };

struct test_stack {
	const uint64_t *pcs;
	unsigned depth;
};
/* Id 0 is the overflow stack, depth 0. */
static const struct test_stack test_stacks[] = {
	{ NULL, 0 }, { pcs_a, 1 }, { pcs_b, 3 }, { pcs_c, 2 },
};
#define N_STACKS (sizeof test_stacks / sizeof test_stacks[0])

static const struct ht_counter test_counters[] = {
	{ 0, 4096, 3, 8192, 6, 1024, 1 },
	{ 1, -16, -1, 0, 0, -16, -1 }, /* sampled estimates may go below zero */
	{ 2, INT64_MIN, INT64_MAX, UINT64_MAX, UINT64_MAX, INT64_MAX, INT64_MIN },
	{ 3, 1, 1, 1, 1, 0, 0 },
};
#define N_COUNTERS (sizeof test_counters / sizeof test_counters[0])

static const struct ht_globals test_globals = {
	.seq = 42, .realtime_ns = 2, .monotonic_ns = 3, .live_bytes = 4,
	.live_blocks = 5, .peak_bytes = 6, .allocs = 7, .frees = 8,
	.total_bytes = 9, .agent_bytes = 10, .untracked_blocks = 11,
	.untracked_bytes = 12, .stacks = 13, .flags = HT_GLOBAL_FINAL,
	.mark_ns = 15,
	.exit_status = UINT64_MAX,
};

/* --- helpers ------------------------------------------------------------ */

/* A heap copy of exactly N bytes: ASan flags any read past its end. */
static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n);
	ck_assert_ptr_nonnull(c);
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

/* Parse the one frame that W holds, from an exact heap copy in *MEM. */
static struct ht_frame frame_of(const struct ht_writer *w, uint8_t **mem)
{
	struct ht_frame f;
	const char *err = NULL;
	ck_assert_int_eq(w->overflow, 0);
	*mem = exact_copy(w->buf, w->len);
	ck_assert_int_eq(ht_frame_parse(*mem, w->len, &f, &err), (long)w->len);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(f.length, w->len - HT_HEADER_SIZE);
	ck_assert_ptr_eq(f.payload, *mem + HT_HEADER_SIZE);
	return f;
}

/* Fail unless N bytes at P lie inside F's payload. */
static void assert_inside(const struct ht_frame *f, const void *p, size_t n)
{
	const uint8_t *b = p;
	ck_assert_ptr_nonnull(b);
	ck_assert(b >= f->payload);
	ck_assert_uint_le(n, f->length);
	ck_assert_uint_le((size_t)(b - f->payload), f->length - n);
}

static void put_modules_frame(struct ht_writer *w, uint32_t gen)
{
	size_t off = ht_frame_begin(w, HT_MSG_MODULES);
	ht_put_u32(w, gen);
	ht_put_u32(w, N_MODULES);
	for (size_t i = 0; i < N_MODULES; i++)
		ht_put_module(w, &test_modules[i]);
	ht_frame_end(w, off);
}

/* Stacks FIRST .. FIRST+COUNT-1 of test_stacks, as one STACKS frame. */
static void put_stacks_frame(struct ht_writer *w, uint32_t first, uint32_t count)
{
	size_t off = ht_frame_begin(w, HT_MSG_STACKS);
	ht_put_u32(w, first);
	ht_put_u32(w, count);
	for (uint32_t i = first; i < first + count; i++)
		ht_put_stack(w, test_stacks[i].pcs, test_stacks[i].depth);
	ht_frame_end(w, off);
}

static void put_counters_frame(struct ht_writer *w, size_t first, size_t count)
{
	size_t off = ht_frame_begin(w, HT_MSG_COUNTERS);
	ht_put_u32(w, (uint32_t)count);
	uint64_t next_id = 0;
	for (size_t i = first; i < first + count; i++)
		ht_put_counter(w, &test_counters[i], &next_id);
	ht_frame_end(w, off);
}

/* A REQUEST and the full snapshot answering it, with STACKS and COUNTERS
 * each split over two frames as the agent may do. */
static size_t build_stream(uint8_t *buf, size_t cap)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, cap);
	ht_encode_request(&w, 0, 0, 0);
	ht_encode_hello(&w, &test_hello);
	put_modules_frame(&w, 7);
	put_stacks_frame(&w, 0, 2);
	put_stacks_frame(&w, 2, 2);
	put_counters_frame(&w, 0, 1);
	put_counters_frame(&w, 1, 3);
	ht_encode_globals(&w, &test_globals);
	ht_encode_end(&w, test_globals.seq);
	ck_assert_int_eq(w.overflow, 0);
	return w.len;
}
#define STREAM_FRAMES 9

static const char *decode_hello_checked(const struct ht_frame *f)
{
	struct ht_hello h;
	const char *err = ht_decode_hello(f, &h);
	if (!err) {
		assert_inside(f, h.exe, h.exe_len);
		assert_inside(f, h.cmdline, h.cmdline_len);
		ck_assert_uint_le(h.exe_len, HT_MAX_STR);
		ck_assert_uint_le(h.depth, HT_MAX_DEPTH);
	}
	return err;
}

static const char *decode_modules_checked(const struct ht_frame *f)
{
	struct ht_module_iter it;
	struct ht_module m;
	int rc;
	const char *err = ht_modules_begin(&it, f);
	if (err)
		return err;
	while ((rc = ht_modules_next(&it, &m)) == 1) {
		assert_inside(f, m.path, m.path_len);
		assert_inside(f, m.build_id, m.build_id_len);
		ck_assert_uint_le(m.path_len, HT_MAX_STR);
		ck_assert_uint_le(m.build_id_len, HT_MAX_BUILD_ID);
		ck_assert_uint_le(m.lo, m.hi);
		ck_assert_uint_le(it.index, it.count);
	}
	return rc == 0 ? NULL : it.r.error;
}

static const char *decode_stacks_checked(const struct ht_frame *f)
{
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	int rc;
	const char *err = ht_stacks_begin(&it, f);
	if (err)
		return err;
	while ((rc = ht_stacks_next(&it, &id, &depth, &pcs)) == 1) {
		ck_assert_uint_le(depth, HT_MAX_DEPTH);
		assert_inside(f, pcs, (size_t)depth * 8);
		for (unsigned i = 0; i < depth; i++)
			(void)ht_pc_at(pcs, i);
		ck_assert_uint_eq(id, it.first_id + it.index - 1);
	}
	return rc == 0 ? NULL : it.r.error;
}

static const char *decode_counters_checked(const struct ht_frame *f)
{
	struct ht_counter_iter it;
	struct ht_counter c;
	int rc;
	const char *err = ht_counters_begin(&it, f);
	if (err)
		return err;
	while ((rc = ht_counters_next(&it, &c)) == 1)
		ck_assert_uint_le(it.index, it.count);
	return rc == 0 ? NULL : it.r.error;
}

/* Decode any frame completely with the decoder for its type, checking that
 * every pointer handed out lies inside the payload.  Returns NULL or the
 * decoder's error. */
static const char *decode_frame(const struct ht_frame *f)
{
	struct ht_request q;
	struct ht_globals g;
	uint64_t seq;

	switch (f->type) {
	case HT_MSG_REQUEST:
		return ht_decode_request(f, &q);
	case HT_MSG_HELLO:
		return decode_hello_checked(f);
	case HT_MSG_MODULES:
		return decode_modules_checked(f);
	case HT_MSG_STACKS:
		return decode_stacks_checked(f);
	case HT_MSG_COUNTERS:
		return decode_counters_checked(f);
	case HT_MSG_GLOBALS:
		return ht_decode_globals(f, &g);
	case HT_MSG_END:
		return ht_decode_end(f, &seq);
	}
	ck_abort_msg("ht_frame_parse let type %u through", f->type);
	return NULL;
}

/* Parse and decode the frames of BUF until the end or the first error, as a
 * client would.  Returns the number of frames that decoded cleanly. */
static int decode_stream(const uint8_t *buf, size_t len)
{
	size_t off = 0;
	int good = 0;
	for (;;) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(buf + off, len - off, &f, &err);
		if (n < 0)
			ck_assert_ptr_nonnull(err);
		if (n <= 0)
			return good;
		ck_assert_int_ge(n, HT_HEADER_SIZE);
		ck_assert_uint_le((size_t)n, len - off);
		ck_assert_uint_le(f.length, HT_MAX_FRAME);
		if (decode_frame(&f))
			return good;
		good++;
		off += (size_t)n;
	}
}

/* The offsets at which the frames of a well-formed BUF start. */
static int frame_offsets(const uint8_t *buf, size_t len, size_t *offs, int max)
{
	size_t off = 0;
	int n = 0;
	while (off < len && n < max) {
		struct ht_frame f;
		const char *err = NULL;
		long sz = ht_frame_parse(buf + off, len - off, &f, &err);
		ck_assert_int_gt(sz, 0);
		offs[n++] = off;
		off += (size_t)sz;
	}
	ck_assert_uint_eq(off, len);
	return n;
}

/* Deterministic xorshift64, so a failing corruption case can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* --- round trips -------------------------------------------------------- */

START_TEST(test_request_roundtrip)
{
	/* The exact bytes pin down little-endian order and the header layout. */
	static const uint8_t want[] = {
		'H', 'T', 'O', 'P', HT_VERSION, 0, HT_MSG_REQUEST, 0, 12, 0, 0, 0,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 1, 0, 0, 0,
	};
	uint8_t buf[64], *mem;
	struct ht_writer w;
	struct ht_request q;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_request(&w, 0x04030201, 0x08070605, HT_REQ_RESET_PEAK);
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + HT_REQUEST_SIZE);
	ck_assert_mem_eq(buf, want, sizeof want);

	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_REQUEST);
	ck_assert_ptr_null(ht_decode_request(&f, &q));
	ck_assert_uint_eq(q.have_stacks, 0x04030201);
	ck_assert_uint_eq(q.have_modules_gen, 0x08070605);
	ck_assert_uint_eq(q.flags, HT_REQ_RESET_PEAK);
	free(mem);
}
END_TEST

static void check_hello_eq(const struct ht_hello *a, const struct ht_hello *b)
{
	ck_assert_uint_eq(a->pid, b->pid);
	ck_assert_uint_eq(a->ppid, b->ppid);
	ck_assert_uint_eq(a->start_ns, b->start_ns);
	ck_assert_uint_eq(a->depth, b->depth);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->sample_bytes, b->sample_bytes);
	ck_assert_uint_eq(a->max_stacks, b->max_stacks);
	ck_assert_uint_eq(a->exe_len, b->exe_len);
	ck_assert_mem_eq(a->exe, b->exe, a->exe_len);
	ck_assert_uint_eq(a->cmdline_len, b->cmdline_len);
	ck_assert_mem_eq(a->cmdline, b->cmdline, a->cmdline_len);
}

START_TEST(test_hello_roundtrip)
{
	uint8_t buf[256], *mem;
	struct ht_writer w;
	struct ht_hello h;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_hello(&w, &test_hello);
	/* 40 fixed bytes, then two strings with their u32 lengths. */
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + 40 + 4 + 15 + 4 + 18);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_HELLO);
	ck_assert_ptr_null(ht_decode_hello(&f, &h));
	check_hello_eq(&h, &test_hello);
	/* Strings point into the payload, not into a copy. */
	ck_assert_ptr_eq(h.exe, (const char *)f.payload + 40 + 4);
	free(mem);
}
END_TEST

START_TEST(test_hello_empty_strings)
{
	uint8_t buf[128], *mem;
	struct ht_writer w;
	struct ht_hello in = { .pid = 1, .depth = HT_MAX_DEPTH, .exe = "", .cmdline = NULL };
	struct ht_hello h;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_hello(&w, &in);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_decode_hello(&f, &h));
	ck_assert_uint_eq(h.exe_len, 0);
	ck_assert_uint_eq(h.cmdline_len, 0);
	ck_assert_uint_eq(h.depth, HT_MAX_DEPTH);
	free(mem);
}
END_TEST

START_TEST(test_hello_long_strings_cut)
{
	static char exe[HT_MAX_STR + 100];
	static uint8_t buf[2 * HT_MAX_STR + 256];
	struct ht_writer w;
	struct ht_hello in = test_hello, h;
	uint8_t *mem;

	memset(exe, 'x', sizeof exe);
	exe[0] = '/';
	in.exe = exe;
	in.exe_len = sizeof exe;
	in.cmdline = exe;
	in.cmdline_len = HT_MAX_STR;
	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_hello(&w, &in);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_decode_hello(&f, &h));
	ck_assert_uint_eq(h.exe_len, HT_MAX_STR);
	ck_assert_mem_eq(h.exe, exe, HT_MAX_STR);
	ck_assert_uint_eq(h.cmdline_len, HT_MAX_STR);
	free(mem);
}
END_TEST

START_TEST(test_modules_roundtrip)
{
	uint8_t buf[1024], *mem;
	struct ht_writer w;
	struct ht_module_iter it;
	struct ht_module m;

	ht_writer_init(&w, buf, sizeof buf);
	put_modules_frame(&w, 0xabcdef01);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_MODULES);
	ck_assert_ptr_null(ht_modules_begin(&it, &f));
	ck_assert_uint_eq(it.generation, 0xabcdef01);
	ck_assert_uint_eq(it.count, N_MODULES);
	for (size_t i = 0; i < N_MODULES; i++) {
		const struct ht_module *want = &test_modules[i];
		ck_assert_int_eq(ht_modules_next(&it, &m), 1);
		ck_assert_uint_eq(m.bias, want->bias);
		ck_assert_uint_eq(m.lo, want->lo);
		ck_assert_uint_eq(m.hi, want->hi);
		ck_assert_uint_eq(m.path_len, want->path_len);
		ck_assert_mem_eq(m.path, want->path, m.path_len);
		ck_assert_uint_eq(m.build_id_len, want->build_id_len);
		if (m.build_id_len)
			ck_assert_mem_eq(m.build_id, want->build_id, m.build_id_len);
		assert_inside(&f, m.path, m.path_len);
	}
	ck_assert_int_eq(ht_modules_next(&it, &m), 0);
	ck_assert_int_eq(ht_modules_next(&it, &m), 0); /* stays at the end */
	ck_assert_ptr_null(it.r.error);
	free(mem);
}
END_TEST

START_TEST(test_modules_empty)
{
	uint8_t buf[64], *mem;
	struct ht_writer w;
	struct ht_module_iter it;
	struct ht_module m;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 0);
	ht_frame_end(&w, off);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_modules_begin(&it, &f));
	ck_assert_int_eq(ht_modules_next(&it, &m), 0);
	free(mem);
}
END_TEST

START_TEST(test_put_module_limits)
{
	static char path[HT_MAX_STR + 10];
	static uint8_t buf[HT_MAX_STR + 256];
	static const uint8_t bid[HT_MAX_BUILD_ID + 1];
	struct ht_module in = { 1, 2, 3, path, sizeof path, bid, sizeof bid };
	struct ht_writer w;
	struct ht_module_iter it;
	struct ht_module m;
	uint8_t *mem;

	memset(path, 'p', sizeof path);
	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 1);
	ht_put_module(&w, &in);
	ht_frame_end(&w, off);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_modules_begin(&it, &f));
	ck_assert_int_eq(ht_modules_next(&it, &m), 1);
	/* The path is cut; a build-id that does not fit is dropped, not cut. */
	ck_assert_uint_eq(m.path_len, HT_MAX_STR);
	ck_assert_uint_eq(m.build_id_len, 0);
	ck_assert_int_eq(ht_modules_next(&it, &m), 0);
	free(mem);
}
END_TEST

START_TEST(test_stacks_roundtrip)
{
	uint8_t buf[512], *mem;
	struct ht_writer w;
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;

	ht_writer_init(&w, buf, sizeof buf);
	put_stacks_frame(&w, 0, N_STACKS);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_STACKS);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_uint_eq(it.first_id, 0);
	ck_assert_uint_eq(it.count, N_STACKS);
	for (uint32_t i = 0; i < N_STACKS; i++) {
		ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
		ck_assert_uint_eq(id, i);
		ck_assert_uint_eq(depth, test_stacks[i].depth);
		for (unsigned k = 0; k < depth; k++)
			ck_assert_uint_eq(ht_pc_at(pcs, k), test_stacks[i].pcs[k]);
	}
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 0);
	ck_assert_ptr_null(it.r.error);
	free(mem);
}
END_TEST

/* A frame starting at a later id, with one stack at the full depth. */
START_TEST(test_stacks_incremental_max_depth)
{
	static uint64_t deep[HT_MAX_DEPTH + 1];
	static uint8_t buf[HT_MAX_DEPTH * 8 + 128];
	struct ht_writer w;
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	uint8_t *mem;

	for (unsigned i = 0; i <= HT_MAX_DEPTH; i++)
		deep[i] = 0x1000 + i;
	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_STACKS);
	ht_put_u32(&w, 1000);
	ht_put_u32(&w, 1);
	ht_put_stack(&w, deep, HT_MAX_DEPTH + 1); /* cut to the innermost 256 */
	ht_frame_end(&w, off);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_uint_eq(id, 1000);
	ck_assert_uint_eq(depth, HT_MAX_DEPTH);
	ck_assert_uint_eq(ht_pc_at(pcs, 0), 0x1000);
	ck_assert_uint_eq(ht_pc_at(pcs, HT_MAX_DEPTH - 1), 0x1000 + HT_MAX_DEPTH - 1);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 0);
	free(mem);
}
END_TEST

START_TEST(test_counters_roundtrip)
{
	uint8_t buf[512], *mem;
	struct ht_writer w;
	struct ht_counter_iter it;
	struct ht_counter c;

	ht_writer_init(&w, buf, sizeof buf);
	put_counters_frame(&w, 0, N_COUNTERS);
	/* Each record is its 2 bytes of sizes and each field in the fewest of
	 * 0, 1, 4 or 8 bytes (the stack ids follow one another: 0 bytes). */
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + 4 + (2 + 4 + 1 + 4 + 1 + 4 + 1) +
					 (2 + 1 + 1 + 1 + 1) + (2 + 8 * 6) +
					 (2 + 1 + 1 + 1 + 1));
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_COUNTERS);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_uint_eq(it.count, N_COUNTERS);
	for (size_t i = 0; i < N_COUNTERS; i++) {
		ck_assert_int_eq(ht_counters_next(&it, &c), 1);
		ck_assert_uint_eq(c.stack_id, test_counters[i].stack_id);
		ck_assert_int_eq(c.live_bytes, test_counters[i].live_bytes);
		ck_assert_int_eq(c.live_blocks, test_counters[i].live_blocks);
		ck_assert_uint_eq(c.total_bytes, test_counters[i].total_bytes);
		ck_assert_uint_eq(c.total_blocks, test_counters[i].total_blocks);
		ck_assert_int_eq(c.born_bytes, test_counters[i].born_bytes);
		ck_assert_int_eq(c.born_blocks, test_counters[i].born_blocks);
	}
	ck_assert_int_eq(ht_counters_next(&it, &c), 0);
	free(mem);
}
END_TEST

START_TEST(test_counters_empty)
{
	uint8_t buf[64], *mem;
	struct ht_writer w;
	struct ht_counter_iter it;
	struct ht_counter c;

	ht_writer_init(&w, buf, sizeof buf);
	put_counters_frame(&w, 0, 0);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_int_eq(ht_counters_next(&it, &c), 0);
	free(mem);
}
END_TEST

START_TEST(test_globals_roundtrip)
{
	uint8_t buf[256], *mem;
	struct ht_writer w;
	struct ht_globals g;
	struct ht_reader r;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_globals(&w, &test_globals);
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + HT_GLOBALS_FIELDS * 8);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_uint_eq(f.type, HT_MSG_GLOBALS);

	/* Wire order is the order of struct ht_globals, as documented. */
	const uint64_t order[HT_GLOBALS_FIELDS] = {
		test_globals.seq, test_globals.realtime_ns,
		test_globals.monotonic_ns, test_globals.live_bytes,
		test_globals.live_blocks, test_globals.peak_bytes,
		test_globals.allocs, test_globals.frees,
		test_globals.total_bytes, test_globals.agent_bytes,
		test_globals.untracked_blocks, test_globals.untracked_bytes,
		test_globals.stacks, test_globals.flags,
		test_globals.exit_status, test_globals.mark_ns,
	};
	ht_reader_init(&r, f.payload, f.length);
	for (int i = 0; i < HT_GLOBALS_FIELDS; i++)
		ck_assert_uint_eq(ht_get_u64(&r), order[i]);
	ck_assert_ptr_null(ht_reader_finish(&r));

	ck_assert_ptr_null(ht_decode_globals(&f, &g));
	ck_assert_mem_eq(&g, &test_globals, sizeof g);
	free(mem);
}
END_TEST

START_TEST(test_end_roundtrip)
{
	static const uint8_t want[] = {
		'H', 'T', 'O', 'P', HT_VERSION, 0, HT_MSG_END, 0, 8, 0, 0, 0,
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	};
	uint8_t buf[64], *mem;
	struct ht_writer w;
	uint64_t seq = 0;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_end(&w, 0x1122334455667788ull);
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(buf, want, sizeof want);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_decode_end(&f, &seq));
	ck_assert_uint_eq(seq, 0x1122334455667788ull);
	free(mem);
}
END_TEST

/* The whole snapshot decodes frame by frame, in order. */
START_TEST(test_stream_roundtrip)
{
	static uint8_t buf[STREAM_CAP];
	static const uint16_t types[STREAM_FRAMES] = {
		HT_MSG_REQUEST, HT_MSG_HELLO, HT_MSG_MODULES, HT_MSG_STACKS,
		HT_MSG_STACKS, HT_MSG_COUNTERS, HT_MSG_COUNTERS, HT_MSG_GLOBALS,
		HT_MSG_END,
	};
	size_t len = build_stream(buf, sizeof buf);
	uint8_t *mem = exact_copy(buf, len);
	size_t off = 0;

	for (int i = 0; i < STREAM_FRAMES; i++) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(mem + off, len - off, &f, &err);
		ck_assert_int_gt(n, 0);
		ck_assert_uint_eq(f.type, types[i]);
		ck_assert_ptr_null(decode_frame(&f));
		off += (size_t)n;
	}
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(decode_stream(mem, len), STREAM_FRAMES);
	free(mem);
}
END_TEST

START_TEST(test_msg_name)
{
	ck_assert_str_eq(ht_msg_name(HT_MSG_REQUEST), "REQUEST");
	ck_assert_str_eq(ht_msg_name(HT_MSG_HELLO), "HELLO");
	ck_assert_str_eq(ht_msg_name(HT_MSG_MODULES), "MODULES");
	ck_assert_str_eq(ht_msg_name(HT_MSG_STACKS), "STACKS");
	ck_assert_str_eq(ht_msg_name(HT_MSG_COUNTERS), "COUNTERS");
	ck_assert_str_eq(ht_msg_name(HT_MSG_GLOBALS), "GLOBALS");
	ck_assert_str_eq(ht_msg_name(HT_MSG_END), "END");
	ck_assert_str_eq(ht_msg_name(0), "unknown");
	ck_assert_str_eq(ht_msg_name(HT_MSG_END + 1), "unknown");
	ck_assert_str_eq(ht_msg_name(0xffffffffu), "unknown");
}
END_TEST

/* --- writer ------------------------------------------------------------- */

/* Every buffer too small for a HELLO: overflow is set, nothing is written at
 * or past cap (checked by a guard pattern and by ASan on an exact block). */
START_TEST(test_writer_overflow)
{
	uint8_t full[256], guarded[256 + 16];
	struct ht_writer w;

	ht_writer_init(&w, full, sizeof full);
	ht_encode_hello(&w, &test_hello);
	ck_assert_int_eq(w.overflow, 0);
	size_t need = w.len;

	for (size_t cap = 0; cap < need; cap++) {
		memset(guarded, 0xa5, sizeof guarded);
		ht_writer_init(&w, guarded, cap);
		ht_encode_hello(&w, &test_hello);
		ck_assert_int_eq(w.overflow, 1);
		ck_assert_uint_le(w.len, cap);
		for (size_t i = cap; i < sizeof guarded; i++)
			ck_assert_uint_eq(guarded[i], 0xa5);
		/* What was written before the overflow is correct, except the
		 * frame length, which only ht_frame_end fills in. */
		ck_assert_mem_eq(guarded, full, w.len < 8 ? w.len : 8);
		if (w.len > HT_HEADER_SIZE)
			ck_assert_mem_eq(guarded + HT_HEADER_SIZE, full + HT_HEADER_SIZE,
					 w.len - HT_HEADER_SIZE);

		uint8_t *exact = malloc(cap);
		ck_assert_ptr_nonnull(exact);
		ht_writer_init(&w, exact, cap);
		ht_encode_hello(&w, &test_hello);
		ck_assert_int_eq(w.overflow, 1);
		free(exact);
	}
	ht_writer_init(&w, guarded, need);
	ht_encode_hello(&w, &test_hello);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_uint_eq(w.len, need);
}
END_TEST

/* Once overflowed, a writer stays so, even for a write that would fit. */
START_TEST(test_writer_overflow_sticky)
{
	uint8_t buf[8] = { 0 };
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	ht_put_u32(&w, 0x11111111);
	ht_put_u64(&w, 0x2222222222222222ull); /* does not fit */
	ck_assert_int_eq(w.overflow, 1);
	ck_assert_uint_eq(w.len, 4);
	ht_put_u16(&w, 0x3333);
	ht_put_bytes(&w, "x", 1);
	ck_assert_uint_eq(w.len, 4);
	ck_assert_uint_eq(buf[4], 0);
	ck_assert_uint_eq(buf[7], 0);
}
END_TEST

START_TEST(test_writer_exact_fit)
{
	uint8_t buf[HT_HEADER_SIZE + HT_REQUEST_SIZE];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_request(&w, 1, 2, 3);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_uint_eq(w.len, sizeof buf);
	ht_put_bytes(&w, NULL, 0); /* an empty write fits in a full buffer */
	ck_assert_int_eq(w.overflow, 0);
	ht_put_bytes(&w, "x", 1);
	ck_assert_int_eq(w.overflow, 1);
	ck_assert_uint_eq(w.len, sizeof buf);
}
END_TEST

/* A payload of HT_MAX_FRAME bytes is accepted; one byte more is refused at
 * ht_frame_end, so the agent never emits a frame the client must reject. */
START_TEST(test_writer_frame_too_large)
{
	static const uint8_t zeros[64 * 1024];
	size_t cap = HT_HEADER_SIZE + HT_MAX_FRAME + 1;
	uint8_t *buf = malloc(cap);
	struct ht_writer w;
	struct ht_frame f;
	const char *err = NULL;

	ck_assert_ptr_nonnull(buf);
	ht_writer_init(&w, buf, cap);
	size_t off = ht_frame_begin(&w, HT_MSG_COUNTERS);
	for (size_t n = 0; n < HT_MAX_FRAME; n += sizeof zeros)
		ht_put_bytes(&w, zeros, sizeof zeros);
	ht_frame_end(&w, off);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_int_eq(ht_frame_parse(buf, w.len, &f, &err),
			 (long)(HT_HEADER_SIZE + HT_MAX_FRAME));
	ck_assert_uint_eq(f.length, HT_MAX_FRAME);

	ht_put_bytes(&w, zeros, 1);
	ht_frame_end(&w, off);
	ck_assert_int_eq(w.overflow, 1);
	free(buf);
}
END_TEST

/* --- frame parsing ------------------------------------------------------ */

/* Every prefix of every frame of the stream is "need more", read from an
 * exact block so that ASan catches a look past LEN. */
START_TEST(test_parse_truncations)
{
	static uint8_t buf[STREAM_CAP];
	size_t offs[STREAM_FRAMES + 1];
	size_t len = build_stream(buf, sizeof buf);
	int n = frame_offsets(buf, len, offs, STREAM_FRAMES);

	offs[n] = len;
	for (int i = 0; i < n; i++) {
		size_t size = offs[i + 1] - offs[i];
		for (size_t cut = 0; cut < size; cut++) {
			uint8_t *mem = exact_copy(buf + offs[i], cut);
			struct ht_frame f;
			const char *err = NULL;
			ck_assert_int_eq(ht_frame_parse(mem, cut, &f, &err), 0);
			ck_assert_ptr_null(err);
			free(mem);
		}
		/* With the next frame behind it, only this frame is taken. */
		struct ht_frame f;
		const char *err = NULL;
		ck_assert_int_eq(ht_frame_parse(buf + offs[i], len - offs[i], &f, &err),
				 (long)size);
	}
}
END_TEST

START_TEST(test_parse_empty)
{
	struct ht_frame f;
	const char *err = NULL;
	uint8_t *mem = exact_copy("", 0);

	ck_assert_int_eq(ht_frame_parse(mem, 0, &f, &err), 0);
	ck_assert_int_eq(ht_frame_parse(NULL, 0, &f, &err), 0);
	ck_assert_ptr_null(err);
	free(mem);
}
END_TEST

/* A wrong magic byte is refused as soon as it has arrived, before the rest
 * of the header; until then the parser asks for more. */
START_TEST(test_parse_bad_magic)
{
	uint8_t buf[64];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_request(&w, 0, 0, 0);
	for (size_t pos = 0; pos < 4; pos++) {
		for (size_t len = 0; len <= w.len; len++) {
			uint8_t *mem = exact_copy(buf, len);
			struct ht_frame f;
			const char *err = NULL;
			if (pos < len)
				mem[pos] ^= 0x20; /* "htop" is not "HTOP" */
			long rc = ht_frame_parse(mem, len, &f, &err);
			if (pos < len) {
				ck_assert_int_eq(rc, -1);
				ck_assert_str_eq(err, "not a heaptop frame (bad magic)");
			} else {
				ck_assert_int_eq(rc, 0);
			}
			free(mem);
		}
	}
}
END_TEST

/* Parse the REQUEST in BUF after storing the u16 or u32 V at byte OFF. */
static long parse_patched(size_t off, uint32_t v, int width, const char **err)
{
	uint8_t buf[64];
	struct ht_writer w;
	struct ht_frame f;

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_request(&w, 0, 0, 0);
	for (int i = 0; i < width; i++)
		buf[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	*err = NULL;
	/* Only the header: a bad header must not wait for its payload. */
	uint8_t *mem = exact_copy(buf, HT_HEADER_SIZE);
	long rc = ht_frame_parse(mem, HT_HEADER_SIZE, &f, err);
	free(mem);
	return rc;
}

START_TEST(test_parse_bad_version)
{
	static const uint32_t bad[] = { 0, HT_VERSION + 1, 0x0100, 0xffff };
	const char *err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(parse_patched(4, bad[i], 2, &err), -1);
		ck_assert_str_eq(err, "unsupported protocol version");
	}
	ck_assert_int_eq(parse_patched(4, HT_VERSION, 2, &err), 0);
}
END_TEST

START_TEST(test_parse_unknown_type)
{
	static const uint32_t bad[] = { 0, HT_MSG_END + 1, 0x0100, 0xffff };
	const char *err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(parse_patched(6, bad[i], 2, &err), -1);
		ck_assert_str_eq(err, "unknown frame type");
	}
	for (uint32_t t = HT_MSG_REQUEST; t <= HT_MSG_END; t++)
		ck_assert_int_eq(parse_patched(6, t, 2, &err), 0);
}
END_TEST

START_TEST(test_parse_oversized)
{
	static const uint32_t bad[] = { HT_MAX_FRAME + 1, 0x80000000u, 0xffffffffu };
	const char *err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(parse_patched(8, bad[i], 4, &err), -1);
		ck_assert_str_eq(err, "frame too large");
	}
	/* The largest allowed length is valid: the parser waits for it. */
	ck_assert_int_eq(parse_patched(8, HT_MAX_FRAME, 4, &err), 0);
	ck_assert_ptr_null(err);
}
END_TEST

/* --- decoders on bad payloads ------------------------------------------- */

/* Every decoder refuses a frame of another type. */
START_TEST(test_decode_wrong_type)
{
	static const uint8_t zeros[512];
	const char *want = "unexpected frame type";
	struct ht_frame f = { .type = HT_MSG_END, .length = 0, .payload = zeros };
	struct ht_request q;
	struct ht_hello h;
	struct ht_globals g;
	struct ht_module_iter mi;
	struct ht_stack_iter si;
	struct ht_counter_iter ci;
	uint64_t seq;

	ck_assert_str_eq(ht_decode_request(&f, &q), want);
	ck_assert_str_eq(ht_decode_hello(&f, &h), want);
	ck_assert_str_eq(ht_decode_globals(&f, &g), want);
	ck_assert_str_eq(ht_modules_begin(&mi, &f), want);
	ck_assert_str_eq(ht_stacks_begin(&si, &f), want);
	ck_assert_str_eq(ht_counters_begin(&ci, &f), want);
	f.type = HT_MSG_GLOBALS;
	f.length = 8;
	ck_assert_str_eq(ht_decode_end(&f, &seq), want);
}
END_TEST

/* Every proper prefix of every payload is an error, and no decoder reads
 * past the cut (the payload is an exact block). */
START_TEST(test_decode_truncated_payloads)
{
	static uint8_t buf[STREAM_CAP];
	size_t offs[STREAM_FRAMES];
	size_t len = build_stream(buf, sizeof buf);
	int n = frame_offsets(buf, len, offs, STREAM_FRAMES);

	for (int i = 0; i < n; i++) {
		struct ht_frame whole;
		const char *err = NULL;
		ck_assert_int_gt(ht_frame_parse(buf + offs[i], len - offs[i], &whole, &err), 0);
		for (uint32_t cut = 0; cut < whole.length; cut++) {
			uint8_t *mem = exact_copy(whole.payload, cut);
			struct ht_frame f = { whole.type, cut, mem };
			ck_assert_msg(decode_frame(&f) != NULL,
				      "%s payload cut to %u decoded",
				      ht_msg_name(whole.type), cut);
			free(mem);
		}
	}
}
END_TEST

/* A byte after the last field is an error for every message type. */
START_TEST(test_decode_trailing_bytes)
{
	static uint8_t buf[STREAM_CAP];
	size_t offs[STREAM_FRAMES];
	size_t len = build_stream(buf, sizeof buf);
	int n = frame_offsets(buf, len, offs, STREAM_FRAMES);

	for (int i = 0; i < n; i++) {
		struct ht_frame whole;
		const char *err = NULL;
		ck_assert_int_gt(ht_frame_parse(buf + offs[i], len - offs[i], &whole, &err), 0);
		uint8_t *mem = malloc(whole.length + 1);
		ck_assert_ptr_nonnull(mem);
		memcpy(mem, whole.payload, whole.length);
		mem[whole.length] = 0;
		struct ht_frame f = { whole.type, whole.length + 1, mem };
		err = decode_frame(&f);
		ck_assert_msg(err != NULL, "%s with a trailing byte decoded",
			      ht_msg_name(whole.type));
		ck_assert_str_eq(err, "trailing bytes in frame");
		free(mem);
	}
}
END_TEST

/* A MODULES frame with COUNT in its header and the first N test modules. */
static struct ht_frame modules_frame(uint32_t count, size_t n, uint8_t **mem)
{
	uint8_t buf[1024];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, count);
	for (size_t i = 0; i < n; i++)
		ht_put_module(&w, &test_modules[i]);
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

START_TEST(test_modules_count_mismatch)
{
	struct ht_module_iter it;
	struct ht_module m;
	uint8_t *mem;
	struct ht_frame f;

	/* Fewer bytes than 28 per claimed module: refused up front. */
	f = modules_frame(0xffffffffu, 1, &mem);
	ck_assert_str_eq(ht_modules_begin(&it, &f), "too many modules");
	ck_assert_int_eq(ht_modules_next(&it, &m), -1);
	free(mem);
	f = modules_frame(HT_MAX_MODULES, 1, &mem);
	ck_assert_str_eq(ht_modules_begin(&it, &f), "module count exceeds frame");
	free(mem);
	f = modules_frame(8, 3, &mem); /* 220 bytes hold at most 7 */
	ck_assert_str_eq(ht_modules_begin(&it, &f), "module count exceeds frame");
	free(mem);

	/* Plausible by size but one module short: the last read fails. */
	f = modules_frame(3, 2, &mem);
	ck_assert_ptr_null(ht_modules_begin(&it, &f));
	ck_assert_int_eq(ht_modules_next(&it, &m), 1);
	ck_assert_int_eq(ht_modules_next(&it, &m), 1);
	ck_assert_int_eq(ht_modules_next(&it, &m), -1);
	ck_assert_str_eq(it.r.error, "truncated frame");
	ck_assert_int_eq(ht_modules_next(&it, &m), -1); /* stays failed */
	free(mem);

	/* A module more than announced. */
	f = modules_frame(2, 3, &mem);
	ck_assert_ptr_null(ht_modules_begin(&it, &f));
	ck_assert_int_eq(ht_modules_next(&it, &m), 1);
	ck_assert_int_eq(ht_modules_next(&it, &m), 1);
	ck_assert_int_eq(ht_modules_next(&it, &m), -1);
	ck_assert_str_eq(it.r.error, "trailing bytes in frame");
	free(mem);
}
END_TEST

/* N modules of the smallest size (28 bytes), COUNT announced: the limit on
 * the count holds even when the frame is big enough for more. */
static const char *many_modules(uint32_t count, size_t n)
{
	static const struct ht_module tiny = { 0, 0, 0, "", 0, NULL, 0 };
	size_t cap = HT_HEADER_SIZE + 8 + n * 28;
	uint8_t *buf = malloc(cap), *mem;
	struct ht_writer w;
	struct ht_module_iter it;
	struct ht_module m;
	int rc;

	ck_assert_ptr_nonnull(buf);
	ht_writer_init(&w, buf, cap);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, count);
	for (size_t i = 0; i < n; i++)
		ht_put_module(&w, &tiny);
	ht_frame_end(&w, off);
	struct ht_frame f = frame_of(&w, &mem);
	const char *err = ht_modules_begin(&it, &f);
	if (!err) {
		while ((rc = ht_modules_next(&it, &m)) == 1)
			;
		err = rc == 0 ? NULL : it.r.error;
		ck_assert_uint_eq(it.index, count);
	}
	free(mem);
	free(buf);
	return err;
}

START_TEST(test_modules_max_count)
{
	ck_assert_ptr_null(many_modules(HT_MAX_MODULES, HT_MAX_MODULES));
	ck_assert_str_eq(many_modules(HT_MAX_MODULES + 1, HT_MAX_MODULES + 1),
			 "too many modules");
}
END_TEST

/* One module record written field by field, lengths as given. */
static struct ht_frame raw_module_frame(uint64_t lo, uint64_t hi, uint16_t path_len,
					uint16_t id_len, uint8_t **mem)
{
	static uint8_t buf[2 * 65536 + 64];
	static const uint8_t fill[65535];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 1);
	ht_put_u64(&w, 0);
	ht_put_u64(&w, lo);
	ht_put_u64(&w, hi);
	ht_put_u16(&w, path_len);
	ht_put_u16(&w, id_len);
	ht_put_bytes(&w, fill, path_len);
	ht_put_bytes(&w, fill, id_len);
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

/* Decode the one module of F: 1, or -1 with *ERR set. */
static int one_module(const struct ht_frame *f, const char **err)
{
	struct ht_module_iter it;
	struct ht_module m;

	ck_assert_ptr_null(ht_modules_begin(&it, f));
	int rc = ht_modules_next(&it, &m);
	*err = it.r.error;
	if (rc == 1)
		ck_assert_int_eq(ht_modules_next(&it, &m), 0);
	return rc;
}

START_TEST(test_modules_limits)
{
	uint8_t *mem;
	const char *err;
	struct ht_frame f;

	f = raw_module_frame(1, 2, HT_MAX_STR, HT_MAX_BUILD_ID, &mem);
	ck_assert_int_eq(one_module(&f, &err), 1);
	free(mem);
	f = raw_module_frame(1, 2, HT_MAX_STR + 1, 0, &mem);
	ck_assert_int_eq(one_module(&f, &err), -1);
	ck_assert_str_eq(err, "module path too long");
	free(mem);
	f = raw_module_frame(1, 2, 0xffff, 0, &mem);
	ck_assert_int_eq(one_module(&f, &err), -1);
	ck_assert_str_eq(err, "module path too long");
	free(mem);
	f = raw_module_frame(1, 2, 4, HT_MAX_BUILD_ID + 1, &mem);
	ck_assert_int_eq(one_module(&f, &err), -1);
	ck_assert_str_eq(err, "build-id too long");
	free(mem);
	f = raw_module_frame(3, 2, 4, 20, &mem);
	ck_assert_int_eq(one_module(&f, &err), -1);
	ck_assert_str_eq(err, "module range inverted");
	free(mem);
	f = raw_module_frame(UINT64_MAX, UINT64_MAX, 4, 20, &mem);
	ck_assert_int_eq(one_module(&f, &err), 1);
	free(mem);
}
END_TEST

/* A STACKS frame: FIRST, COUNT, then N stacks of DEPTH pcs each. */
static struct ht_frame stacks_frame(uint32_t first, uint32_t count, size_t n,
				    uint16_t depth, uint8_t **mem)
{
	static uint8_t buf[8 * 4096 + 64];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_STACKS);
	ht_put_u32(&w, first);
	ht_put_u32(&w, count);
	for (size_t i = 0; i < n; i++) {
		ht_put_u16(&w, depth);
		ht_put_u16(&w, 0); /* shares nothing */
		for (unsigned k = 0; k < depth; k++)
			ht_put_u64(&w, 0x400000 + k);
	}
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

START_TEST(test_stacks_count_mismatch)
{
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	uint8_t *mem;
	struct ht_frame f;

	/* Each stack takes at least 4 bytes. */
	f = stacks_frame(0, 0xffffffffu, 2, 1, &mem);
	ck_assert_str_eq(ht_stacks_begin(&it, &f), "stack count exceeds frame");
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), -1);
	free(mem);
	f = stacks_frame(0, 4, 1, 1, &mem); /* 12 bytes hold at most 3 */
	ck_assert_str_eq(ht_stacks_begin(&it, &f), "stack count exceeds frame");
	free(mem);

	/* Plausible by size, one stack short. */
	f = stacks_frame(10, 3, 2, 1, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_uint_eq(id, 10);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_uint_eq(id, 11);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), -1);
	ck_assert_str_eq(it.r.error, "truncated frame");
	free(mem);

	/* One stack more than announced. */
	f = stacks_frame(0, 1, 2, 1, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), -1);
	ck_assert_str_eq(it.r.error, "trailing bytes in frame");
	free(mem);

	/* first_id + count must fit in a u32, as REQUEST.have_stacks must. */
	f = stacks_frame(UINT32_MAX, 2, 2, 0, &mem);
	ck_assert_str_eq(ht_stacks_begin(&it, &f), "stack ids overflow");
	free(mem);
	f = stacks_frame(UINT32_MAX, 1, 1, 0, &mem);
	ck_assert_str_eq(ht_stacks_begin(&it, &f), "stack ids overflow");
	free(mem);
	f = stacks_frame(UINT32_MAX - 1, 1, 1, 0, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_uint_eq(id, UINT32_MAX - 1);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 0);
	free(mem);
	f = stacks_frame(UINT32_MAX, 0, 0, 0, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 0);
	free(mem);
}
END_TEST

/* A stack whose outer frames are an earlier stack's: only its own pcs
 * travel, and the decoder says which stack has the rest. */
START_TEST(test_stacks_shared)
{
	static uint8_t buf[256];
	const uint64_t pcs[5] = { 0x401000, 0x402000, 0x403000, 0x404000, 0x405000 };
	struct ht_writer w;
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *raw;
	uint8_t *mem;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_STACKS);
	ht_put_u32(&w, 7);
	ht_put_u32(&w, 3);
	ht_put_stack(&w, pcs, 5);
	ht_put_stack_shared(&w, pcs, 5, 7, 3);
	ht_put_stack_shared(&w, pcs, 2, 8, 2); /* every frame shared */
	ht_frame_end(&w, off);
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + 8 + (4 + 40) + (8 + 16) + 8);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &raw), 1);
	ck_assert_uint_eq(id, 7);
	ck_assert_uint_eq(depth, 5);
	ck_assert_uint_eq(it.shared, 0);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &raw), 1);
	ck_assert_uint_eq(id, 8);
	ck_assert_uint_eq(depth, 5);
	ck_assert_uint_eq(it.shared, 3);
	ck_assert_uint_eq(it.base, 7);
	ck_assert_uint_eq(ht_pc_at(raw, 0), 0x401000);
	ck_assert_uint_eq(ht_pc_at(raw, 1), 0x402000);
	assert_inside(&f, raw, 16);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &raw), 1);
	ck_assert_uint_eq(depth, 2);
	ck_assert_uint_eq(it.shared, 2);
	ck_assert_uint_eq(it.base, 8);
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &raw), 0);
	free(mem);

	/* More shared frames than the stack has; a base that is not earlier. */
	static const struct {
		uint16_t depth, shared;
		uint32_t base;
		const char *error;
	} bad[] = {
		{ 2, 3, 1, "stack shares more frames than it has" },
		{ 2, 1, 5, "stack shares frames with a later stack" },
		{ 2, 1, 9, "stack shares frames with a later stack" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ht_writer_init(&w, buf, sizeof buf);
		off = ht_frame_begin(&w, HT_MSG_STACKS);
		ht_put_u32(&w, 5);
		ht_put_u32(&w, 1);
		ht_put_u16(&w, bad[i].depth);
		ht_put_u16(&w, bad[i].shared);
		ht_put_u32(&w, bad[i].base);
		for (unsigned k = bad[i].shared; k < bad[i].depth; k++)
			ht_put_u64(&w, 0x401000);
		ht_frame_end(&w, off);
		f = frame_of(&w, &mem);
		ck_assert_ptr_null(ht_stacks_begin(&it, &f));
		ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &raw), -1);
		ck_assert_str_eq(it.r.error, bad[i].error);
		free(mem);
	}
}
END_TEST

START_TEST(test_stacks_too_deep)
{
	struct ht_stack_iter it;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	uint8_t *mem;
	struct ht_frame f;

	f = stacks_frame(0, 1, 1, HT_MAX_DEPTH, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), 1);
	ck_assert_uint_eq(depth, HT_MAX_DEPTH);
	free(mem);

	/* All the pcs are there; the depth alone is over the limit. */
	f = stacks_frame(0, 1, 1, HT_MAX_DEPTH + 1, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), -1);
	ck_assert_str_eq(it.r.error, "stack too deep");
	free(mem);
	f = stacks_frame(0, 1, 1, 4096, &mem);
	ck_assert_ptr_null(ht_stacks_begin(&it, &f));
	ck_assert_int_eq(ht_stacks_next(&it, &id, &depth, &pcs), -1);
	ck_assert_str_eq(it.r.error, "stack too deep");
	free(mem);
}
END_TEST

/* A COUNTERS frame with COUNT in its header and N zero records after it
 * (of stacks 0, 1, ...: two bytes each). */
static struct ht_frame counters_frame(uint32_t count, size_t n, uint8_t **mem)
{
	uint8_t buf[1024];
	struct ht_writer w;
	uint64_t next_id = 0;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_COUNTERS);
	ht_put_u32(&w, count);
	for (size_t i = 0; i < n; i++) {
		struct ht_counter c = { .stack_id = (uint32_t)i };
		ht_put_counter(&w, &c, &next_id);
	}
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

START_TEST(test_counters_count_mismatch)
{
	/* count, records present: more records than the bytes can hold */
	static const uint32_t cases[][2] = {
		{ 2, 1 }, { 1, 0 }, { 40, 3 },
	};
	struct ht_counter_iter it;
	struct ht_counter c;
	uint8_t *mem;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ht_frame f = counters_frame(cases[i][0], cases[i][1], &mem);
		ck_assert_str_eq(ht_counters_begin(&it, &f),
				 "counter count does not match frame length");
		ck_assert_int_eq(ht_counters_next(&it, &c), -1);
		free(mem);
	}
	/* Past the limit, whatever the length says. */
	static const uint32_t over[] = { HT_MAX_COUNTERS + 1, 0x80000001u, 0xffffffffu };
	for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
		struct ht_frame f = counters_frame(over[i], 3, &mem);
		ck_assert_str_eq(ht_counters_begin(&it, &f), "too many counter records in one frame");
		free(mem);
	}
	/* Fewer than there are: the rest is trailing bytes. */
	struct ht_frame f = counters_frame(1, 2, &mem);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_int_eq(ht_counters_next(&it, &c), 1);
	ck_assert_int_eq(ht_counters_next(&it, &c), -1);
	ck_assert_str_eq(it.r.error, "trailing bytes in frame");
	free(mem);
	/* A length cut inside a record. */
	f = counters_frame(1, 1, &mem);
	f.length--;
	ck_assert_ptr_nonnull(ht_counters_begin(&it, &f));
	free(mem);
}
END_TEST

/* A COUNTERS frame of COUNT records given as raw bytes. */
static struct ht_frame raw_counters(uint32_t count, const uint8_t *raw, size_t n, uint8_t **mem)
{
	uint8_t buf[256];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_COUNTERS);
	ht_put_u32(&w, count);
	ht_put_bytes(&w, raw, n);
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

/* The record layout, byte for byte, and the records a decoder refuses. */
START_TEST(test_counters_wire)
{
	struct ht_counter_iter it;
	struct ht_counter c;
	uint8_t *mem;

	/* Stack 5 (delta 5), live 300 bytes (zigzag 600: 4 bytes) in 1 block
	 * (zigzag 2: 1 byte), total 300 bytes in 1 block, born -1 (zigzag 1)
	 * bytes, none born blocks; then stack 6 (delta 0) with 1 total byte. */
	const uint8_t good[] = {
		0x99, 0x05, 5, 0x58, 0x02, 0, 0, 2, 0x2c, 0x01, 0, 0, 1, 1,
		0x40, 0x00, 1,
	};
	struct ht_frame f = raw_counters(2, good, sizeof good, &mem);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_int_eq(ht_counters_next(&it, &c), 1);
	ck_assert_uint_eq(c.stack_id, 5);
	ck_assert_int_eq(c.live_bytes, 300);
	ck_assert_int_eq(c.live_blocks, 1);
	ck_assert_uint_eq(c.total_bytes, 300);
	ck_assert_uint_eq(c.total_blocks, 1);
	ck_assert_int_eq(c.born_bytes, -1);
	ck_assert_int_eq(c.born_blocks, 0);
	ck_assert_int_eq(ht_counters_next(&it, &c), 1);
	ck_assert_uint_eq(c.stack_id, 6);
	ck_assert_uint_eq(c.total_bytes, 1);
	ck_assert_int_eq(c.live_bytes, 0);
	ck_assert_int_eq(ht_counters_next(&it, &c), 0);
	free(mem);

	/* The encoder writes exactly those bytes. */
	uint8_t buf[2 * HT_COUNTER_RECORD_MAX];
	uint64_t next_id = 0;
	struct ht_counter a = { 5, 300, 1, 300, 1, -1, 0 }, b = { 6, 0, 0, 1, 0, 0, 0 };
	size_t n = ht_store_counter(buf, &a, &next_id);
	n += ht_store_counter(buf + n, &b, &next_id);
	ck_assert_uint_eq(n, sizeof good);
	ck_assert_mem_eq(buf, good, sizeof good);

	static const struct {
		uint8_t raw[12];
		size_t n;
		const char *error;
	} bad[] = {
		/* bits 14-15 of sizes set */
		{ { 0x00, 0x40 }, 2, "counter record: bad field sizes" },
		/* stack id 1 in 4 bytes */
		{ { 0x02, 0x00, 1, 0, 0, 0 }, 6, "counter record: field not in its fewest bytes" },
		/* a 1-byte field holding 0 */
		{ { 0x04, 0x00, 0 }, 3, "counter record: field not in its fewest bytes" },
		/* stack id 2^32 */
		{ { 0x03, 0x00, 0, 0, 0, 0, 1, 0, 0, 0 }, 10,
		  "counter record: stack id past 2^32 - 1" },
		/* a 4-byte field cut short */
		{ { 0x02, 0x00, 1, 2 }, 4, "truncated frame" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		f = raw_counters(1, bad[i].raw, bad[i].n, &mem);
		ck_assert_ptr_null(ht_counters_begin(&it, &f));
		ck_assert_int_eq(ht_counters_next(&it, &c), -1);
		ck_assert_str_eq(it.r.error, bad[i].error);
		free(mem);
	}
	/* Stack ids past the last one must go up: a record after 2^32 - 1. */
	const uint8_t last[] = { 0x02, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00 };
	f = raw_counters(2, last, sizeof last, &mem);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_int_eq(ht_counters_next(&it, &c), 1);
	ck_assert_uint_eq(c.stack_id, UINT32_MAX);
	ck_assert_int_eq(ht_counters_next(&it, &c), -1);
	ck_assert_str_eq(it.r.error, "counter record: stack id past 2^32 - 1");
	free(mem);
}
END_TEST

/* A HELLO whose exe string claims LEN bytes, all present. */
static struct ht_frame hello_frame(uint32_t exe_len, uint32_t cmd_len, uint32_t depth,
				   uint8_t **mem)
{
	static uint8_t buf[2 * 65536 + 128];
	static const uint8_t fill[65536];
	struct ht_writer w;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_HELLO);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 1);
	ht_put_u64(&w, 1);
	ht_put_u32(&w, depth);
	ht_put_u32(&w, 0);
	ht_put_u64(&w, 0);
	ht_put_u64(&w, 0);
	ht_put_u32(&w, exe_len);
	ht_put_bytes(&w, fill, exe_len);
	ht_put_u32(&w, cmd_len);
	ht_put_bytes(&w, fill, cmd_len);
	ht_frame_end(&w, off);
	return frame_of(&w, mem);
}

START_TEST(test_hello_limits)
{
	static const struct {
		uint32_t exe, cmd, depth;
		const char *err;
	} cases[] = {
		{ HT_MAX_STR, HT_MAX_STR, HT_MAX_DEPTH, NULL },
		{ HT_MAX_STR + 1, 0, 1, "string too long" },
		{ 0, HT_MAX_STR + 1, 1, "string too long" },
		{ 65536, 0, 1, "string too long" },
		{ 1, 1, HT_MAX_DEPTH + 1, "stack depth out of range" },
		{ 1, 1, 0xffffffffu, "stack depth out of range" },
	};
	struct ht_hello h;
	uint8_t *mem;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ht_frame f = hello_frame(cases[i].exe, cases[i].cmd,
						cases[i].depth, &mem);
		const char *err = ht_decode_hello(&f, &h);
		if (cases[i].err)
			ck_assert_str_eq(err, cases[i].err);
		else
			ck_assert_ptr_null(err);
		free(mem);
	}
}
END_TEST

/* A string length far past the payload fails without reading it. */
START_TEST(test_hello_string_past_end)
{
	uint8_t buf[128], *mem;
	struct ht_writer w;
	struct ht_hello h;

	ht_writer_init(&w, buf, sizeof buf);
	size_t off = ht_frame_begin(&w, HT_MSG_HELLO);
	for (int i = 0; i < 40; i++)
		ht_put_bytes(&w, "\0", 1);
	ht_put_u32(&w, HT_MAX_STR); /* allowed length, but absent */
	ht_put_bytes(&w, "abc", 3);
	ht_frame_end(&w, off);
	struct ht_frame f = frame_of(&w, &mem);
	ck_assert_str_eq(ht_decode_hello(&f, &h), "truncated frame");
	ck_assert_ptr_null(h.exe);
	ck_assert_uint_eq(h.exe_len, 0);
	free(mem);
}
END_TEST

START_TEST(test_request_bad_sizes)
{
	static const uint8_t payload[HT_REQUEST_SIZE + 1];
	struct ht_request q;

	for (uint32_t n = 0; n <= HT_REQUEST_SIZE + 1; n++) {
		uint8_t *mem = exact_copy(payload, n);
		struct ht_frame f = { HT_MSG_REQUEST, n, mem };
		const char *err = ht_decode_request(&f, &q);
		if (n == HT_REQUEST_SIZE)
			ck_assert_ptr_null(err);
		else if (n < HT_REQUEST_SIZE)
			ck_assert_str_eq(err, "truncated frame");
		else
			ck_assert_str_eq(err, "trailing bytes in frame");
		free(mem);
	}
}
END_TEST

/* --- reader ------------------------------------------------------------- */

START_TEST(test_reader_sticky_failure)
{
	static const uint8_t data[] = { 1, 2, 3, 4, 5, 6 };
	struct ht_reader r;
	size_t n = 99;

	ht_reader_init(&r, data, sizeof data);
	ck_assert_uint_eq(ht_get_u32(&r), 0x04030201);
	ck_assert_uint_eq(ht_get_u32(&r), 0); /* only 2 bytes left */
	ck_assert_str_eq(r.error, "truncated frame");
	/* Later reads fail too, even those that would have fit. */
	ck_assert_uint_eq(ht_get_u16(&r), 0);
	ck_assert_ptr_null(ht_get_bytes(&r, 0));
	ck_assert_ptr_null(ht_get_str(&r, 10, &n));
	ck_assert_uint_eq(n, 0);
	ht_reader_fail(&r, "other");
	ck_assert_str_eq(r.error, "truncated frame"); /* first error kept */
	ck_assert_str_eq(ht_reader_finish(&r), "truncated frame");
}
END_TEST

START_TEST(test_reader_str)
{
	static const uint8_t data[] = { 3, 0, 0, 0, 'a', 'b', 'c', 4, 0, 0, 0, 'w', 'x', 'y', 'z' };
	struct ht_reader r;
	size_t n;

	ht_reader_init(&r, data, sizeof data);
	const char *s = ht_get_str(&r, 3, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(s, "abc", 3);
	ck_assert_ptr_null(ht_get_str(&r, 3, &n)); /* over MAX */
	ck_assert_str_eq(r.error, "string too long");

	ht_reader_init(&r, data, sizeof data);
	ck_assert_uint_eq(ht_get_u64(&r), 0x0463626100000003ull);
	ck_assert_str_eq(ht_reader_finish(&r), "trailing bytes in frame");
}
END_TEST

/* --- corruption --------------------------------------------------------- */

/* Flip each byte of a valid stream in three ways and decode everything.
 * Frames entirely before the flipped byte must still decode. */
START_TEST(test_corrupt_each_byte)
{
	static uint8_t buf[STREAM_CAP];
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	size_t offs[STREAM_FRAMES];
	size_t len = build_stream(buf, sizeof buf);
	int n = frame_offsets(buf, len, offs, STREAM_FRAMES);

	for (size_t pos = 0; pos < len; pos++) {
		int before = 0;
		while (before + 1 < n && offs[before + 1] <= pos)
			before++;
		for (size_t k = 0; k < sizeof masks; k++) {
			uint8_t *mem = exact_copy(buf, len);
			mem[pos] ^= masks[k];
			int good = decode_stream(mem, len);
			ck_assert_int_ge(good, before);
			ck_assert_int_le(good, STREAM_FRAMES);
			free(mem);
		}
	}
}
END_TEST

/* Random bytes written over random places of the stream, then a random cut. */
START_TEST(test_corrupt_random)
{
	static uint8_t buf[STREAM_CAP];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t len = build_stream(buf, sizeof buf);

	for (int iter = 0; iter < 20000; iter++) {
		size_t cut = len - (size_t)(rng_next(&seed) % 64);
		uint8_t *mem = exact_copy(buf, cut);
		int hits = 1 + (int)(rng_next(&seed) % 8);
		for (int i = 0; i < hits; i++)
			mem[rng_next(&seed) % cut] = (uint8_t)rng_next(&seed);
		(void)decode_stream(mem, cut);
		free(mem);
	}
}
END_TEST

/* Random payloads of every type.  Random counts and lengths are nearly all
 * huge and fail the first check, so the places where they live (counts at 0
 * and 4, a depth or module lengths at 8, 32, 34, HELLO's exe at 40) are
 * often made small, to get the iterators into their records. */
START_TEST(test_corrupt_random_payloads)
{
	static const uint32_t small_at[] = { 0, 4, 8, 32, 34, 40 };
	uint64_t seed = 12345;
	uint8_t payload[512];

	for (int iter = 0; iter < 20000; iter++) {
		uint16_t type = (uint16_t)(HT_MSG_REQUEST + rng_next(&seed) % HT_MSG_END);
		uint32_t n = (uint32_t)(rng_next(&seed) % sizeof payload);
		for (uint32_t i = 0; i < n; i++)
			payload[i] = (uint8_t)rng_next(&seed);
		for (size_t k = 0; k < sizeof small_at / sizeof small_at[0]; k++) {
			uint32_t at = small_at[k];
			if (at + 4 > n || rng_next(&seed) % 2)
				continue;
			payload[at] = (uint8_t)(rng_next(&seed) % 8);
			memset(payload + at + 1, 0, 3);
		}
		uint8_t *mem = exact_copy(payload, n);
		struct ht_frame f = { type, n, mem };
		(void)decode_frame(&f);
		free(mem);
	}
}
END_TEST

/* --- runner ------------------------------------------------------------- */

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *rt = tcase_create("roundtrip");
	TCase *wr = tcase_create("writer");
	TCase *pa = tcase_create("parse");
	TCase *de = tcase_create("decode");
	TCase *co = tcase_create("corrupt");

	tcase_add_test(rt, test_request_roundtrip);
	tcase_add_test(rt, test_hello_roundtrip);
	tcase_add_test(rt, test_hello_empty_strings);
	tcase_add_test(rt, test_hello_long_strings_cut);
	tcase_add_test(rt, test_modules_roundtrip);
	tcase_add_test(rt, test_modules_empty);
	tcase_add_test(rt, test_put_module_limits);
	tcase_add_test(rt, test_stacks_roundtrip);
	tcase_add_test(rt, test_stacks_incremental_max_depth);
	tcase_add_test(rt, test_counters_roundtrip);
	tcase_add_test(rt, test_counters_empty);
	tcase_add_test(rt, test_globals_roundtrip);
	tcase_add_test(rt, test_end_roundtrip);
	tcase_add_test(rt, test_stream_roundtrip);
	tcase_add_test(rt, test_msg_name);
	suite_add_tcase(s, rt);

	tcase_add_test(wr, test_writer_overflow);
	tcase_add_test(wr, test_writer_overflow_sticky);
	tcase_add_test(wr, test_writer_exact_fit);
	tcase_add_test(wr, test_writer_frame_too_large);
	tcase_set_timeout(wr, 60);
	suite_add_tcase(s, wr);

	tcase_add_test(pa, test_parse_truncations);
	tcase_add_test(pa, test_parse_empty);
	tcase_add_test(pa, test_parse_bad_magic);
	tcase_add_test(pa, test_parse_bad_version);
	tcase_add_test(pa, test_parse_unknown_type);
	tcase_add_test(pa, test_parse_oversized);
	suite_add_tcase(s, pa);

	tcase_add_test(de, test_decode_wrong_type);
	tcase_add_test(de, test_decode_truncated_payloads);
	tcase_add_test(de, test_decode_trailing_bytes);
	tcase_add_test(de, test_modules_count_mismatch);
	tcase_add_test(de, test_modules_max_count);
	tcase_add_test(de, test_modules_limits);
	tcase_add_test(de, test_stacks_count_mismatch);
	tcase_add_test(de, test_stacks_too_deep);
	tcase_add_test(de, test_stacks_shared);
	tcase_add_test(de, test_counters_count_mismatch);
	tcase_add_test(de, test_counters_wire);
	tcase_add_test(de, test_hello_limits);
	tcase_add_test(de, test_hello_string_past_end);
	tcase_add_test(de, test_request_bad_sizes);
	tcase_add_test(de, test_reader_sticky_failure);
	tcase_add_test(de, test_reader_str);
	suite_add_tcase(s, de);

	tcase_add_test(co, test_corrupt_each_byte);
	tcase_add_test(co, test_corrupt_random);
	tcase_add_test(co, test_corrupt_random_payloads);
	tcase_set_timeout(co, 120);
	suite_add_tcase(s, co);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
