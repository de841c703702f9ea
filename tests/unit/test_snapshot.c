/* Unit tests for the viewer's snapshot (frames applied, files loaded) and client. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/client.h"
#include "viewer/snapshot.h"

#define TEST_PID 4242
#define TEST_START_NS 1700000000000000000ull
#define MODULES_GEN 3

/* What build_snapshot writes. */
struct snap_spec {
	uint32_t pid;
	uint64_t seq;
	uint64_t end_seq;        /* seq written in END; normally == seq */
	int with_modules;
	uint32_t first_stack;    /* STACKS first_id */
	uint32_t nstacks;        /* 0: no STACKS frame */
	const uint32_t *counter_ids;
	size_t ncounters;
	uint64_t flags;          /* GLOBALS flags */
};

/* Stack ID has depth id % 4 (so the overflow stack 0 has none). */
static unsigned stack_depth(uint32_t id)
{
	return id % 4;
}

static uint64_t stack_pc(uint32_t id, unsigned j)
{
	return 0x1000 + (uint64_t)id * 0x10 + j;
}

static struct ht_counter counter_for(uint32_t id)
{
	return (struct ht_counter){
		.stack_id = id, .live_bytes = (int64_t)id * 100, .live_blocks = id,
		.total_bytes = (uint64_t)id * 1000, .total_blocks = (uint64_t)id * 10,
	};
}

static void put_hello(struct ht_writer *w, uint32_t pid)
{
	static const char exe[] = "/usr/bin/prog", cmd[] = "prog --flag";
	struct ht_hello h = {
		.pid = pid, .ppid = 1, .start_ns = TEST_START_NS, .depth = 64,
		.flags = HT_AGENT_FRAME_POINTERS, .sample_bytes = 0, .max_stacks = 1000,
		.exe = exe, .exe_len = strlen(exe), .cmdline = cmd, .cmdline_len = strlen(cmd),
	};
	ht_encode_hello(w, &h);
}

static void put_modules(struct ht_writer *w)
{
	static const uint8_t id[] = { 0xde, 0xad, 0xbe, 0xef };
	static const char p0[] = "/usr/bin/prog", p1[] = "/lib/x86_64-linux-gnu/libc.so.6";
	struct ht_module m[2] = {
		{ .bias = 0, .lo = 0x1000, .hi = 0x5000, .path = p0, .path_len = strlen(p0),
		  .build_id = id, .build_id_len = sizeof id },
		{ .bias = 0x7000, .lo = 0x7000, .hi = 0x9000, .path = p1, .path_len = strlen(p1) },
	};
	size_t off = ht_frame_begin(w, HT_MSG_MODULES);
	ht_put_u32(w, MODULES_GEN);
	ht_put_u32(w, 2);
	for (int i = 0; i < 2; i++)
		ht_put_module(w, &m[i]);
	ht_frame_end(w, off);
}

static void put_stacks(struct ht_writer *w, uint32_t first, uint32_t count)
{
	size_t off = ht_frame_begin(w, HT_MSG_STACKS);
	ht_put_u32(w, first);
	ht_put_u32(w, count);
	for (uint32_t id = first; id < first + count; id++) {
		uint64_t pcs[4];
		for (unsigned j = 0; j < stack_depth(id); j++)
			pcs[j] = stack_pc(id, j);
		ht_put_stack(w, pcs, stack_depth(id));
	}
	ht_frame_end(w, off);
}

/* COUNTERS for IDS[0..N), a frame per ascending run (a frame's records go
 * up by id, so an id named twice starts a new frame). */
static void put_counters(struct ht_writer *w, const uint32_t *ids, size_t n)
{
	size_t i = 0;
	do {
		size_t run = i + 1;
		while (run < n && ids[run] > ids[run - 1])
			run++;
		if (n == 0)
			run = 0;
		size_t off = ht_frame_begin(w, HT_MSG_COUNTERS);
		ht_put_u32(w, (uint32_t)(run - i));
		uint64_t next_id = 0;
		for (; i < run; i++) {
			struct ht_counter c = counter_for(ids[i]);
			ht_put_counter(w, &c, &next_id);
		}
		ht_frame_end(w, off);
	} while (i < n);
}

static void put_globals(struct ht_writer *w, uint64_t seq, uint64_t flags)
{
	struct ht_globals g = {
		.seq = seq, .live_bytes = 1234, .live_blocks = 5, .peak_bytes = 4096,
		.allocs = 10, .frees = 5, .total_bytes = 9999, .agent_bytes = 1 << 20,
		.untracked_blocks = 2, .untracked_bytes = 64, .stacks = 5, .flags = flags,
		.exit_status = 7,
	};
	ht_encode_globals(w, &g);
}

static void build_snapshot(struct ht_writer *w, const struct snap_spec *sp)
{
	put_hello(w, sp->pid ? sp->pid : TEST_PID);
	if (sp->with_modules)
		put_modules(w);
	if (sp->nstacks)
		put_stacks(w, sp->first_stack, sp->nstacks);
	put_counters(w, sp->counter_ids, sp->ncounters);
	put_globals(w, sp->seq, sp->flags);
	ht_encode_end(w, sp->end_seq);
}

/* Apply every frame of BUF; returns the last result, or -1 at the first error. */
static int apply_all(struct snapshot *s, const uint8_t *buf, size_t len, char **cause)
{
	int r = 0;
	size_t off = 0;
	while (off < len) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(buf + off, len - off, &f, &err);
		ck_assert_int_gt(n, 0);
		r = snapshot_apply_frame(s, &f, cause);
		if (r < 0)
			return -1;
		off += (size_t)n;
	}
	return r;
}

static const uint32_t first_ids[] = { 1, 2 };

/* The first snapshot: modules, stacks 0..2, counters for 1 and 2. */
static void build_first(struct ht_writer *w)
{
	struct snap_spec sp = { .seq = 1, .end_seq = 1, .with_modules = 1, .nstacks = 3,
				.counter_ids = first_ids, .ncounters = 2 };
	build_snapshot(w, &sp);
}

static uint8_t buf[1 << 16];

#define ck_assert_cause(cause, needle)                                                 \
	ck_assert_msg((cause) != NULL && strstr((cause), (needle)) != NULL,            \
		      "cause \"%s\" lacks \"%s\"", (cause) ? (cause) : "(null)", (needle))

START_TEST(test_complete)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	ck_assert(!w.overflow);

	struct snapshot *s = snapshot_new();
	ck_assert_uint_eq(snapshot_completed(s), 0);
	ck_assert_str_eq(snapshot_hello(s)->exe, "");

	/* Every frame but END asks for more. */
	size_t off = 0;
	int r = 0, frames = 0;
	char *cause = NULL;
	while (off < w.len) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(buf + off, w.len - off, &f, &err);
		ck_assert_int_gt(n, 0);
		r = snapshot_apply_frame(s, &f, &cause);
		off += (size_t)n;
		frames++;
		ck_assert_int_eq(r, off == w.len ? 1 : 0);
	}
	ck_assert_int_eq(frames, 6);
	ck_assert_uint_eq(snapshot_completed(s), 1);
	ck_assert(!snapshot_in_progress(s));

	const struct snapshot_hello *h = snapshot_hello(s);
	ck_assert_uint_eq(h->pid, TEST_PID);
	ck_assert_uint_eq(h->ppid, 1);
	ck_assert_uint_eq(h->start_ns, TEST_START_NS);
	ck_assert_uint_eq(h->depth, 64);
	ck_assert_uint_eq(h->flags, HT_AGENT_FRAME_POINTERS);
	ck_assert_uint_eq(h->max_stacks, 1000);
	ck_assert_str_eq(h->exe, "/usr/bin/prog");
	ck_assert_str_eq(h->cmdline, "prog --flag");

	ck_assert_uint_eq(snapshot_module_generation(s), MODULES_GEN);
	ck_assert_uint_eq(snapshot_module_count(s), 2);
	const struct snapshot_module *m = snapshot_module(s, 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->path, "/usr/bin/prog");
	ck_assert_uint_eq(m->build_id_len, 4);
	ck_assert_uint_eq(m->build_id[3], 0xef);
	ck_assert_uint_eq(m->lo, 0x1000);
	ck_assert_uint_eq(m->hi, 0x5000);
	m = snapshot_module(s, 1);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->path, "/lib/x86_64-linux-gnu/libc.so.6");
	ck_assert_uint_eq(m->build_id_len, 0);
	ck_assert_ptr_null(m->build_id);
	ck_assert_uint_eq(m->bias, 0x7000);
	ck_assert_ptr_null(snapshot_module(s, 2));
	ck_assert_ptr_eq(snapshot_module_at(s, 0x1000), snapshot_module(s, 0));
	ck_assert_ptr_eq(snapshot_module_at(s, 0x8fff), snapshot_module(s, 1));
	ck_assert_ptr_null(snapshot_module_at(s, 0x5000));

	ck_assert_uint_eq(snapshot_stack_count(s), 3);
	uint64_t pcs[HT_MAX_DEPTH];
	ck_assert_uint_eq(snapshot_stack(s, 0, pcs), 0);
	ck_assert_uint_eq(snapshot_stack(s, 2, pcs), 2);
	ck_assert_uint_eq(pcs[0], stack_pc(2, 0));
	ck_assert_uint_eq(pcs[1], stack_pc(2, 1));
	ck_assert_uint_eq(snapshot_stack(s, 3, pcs), 0);

	struct snapshot_counter c = snapshot_counter(s, 2);
	ck_assert_int_eq(c.live_bytes, 200);
	ck_assert_int_eq(c.live_blocks, 2);
	ck_assert_uint_eq(c.total_bytes, 2000);
	ck_assert_uint_eq(c.total_blocks, 20);
	ck_assert_uint_eq(snapshot_counter(s, 0).total_blocks, 0);
	ck_assert_uint_eq(snapshot_counter(s, 1000).total_blocks, 0);

	const struct ht_globals *g = snapshot_globals(s);
	ck_assert_uint_eq(g->seq, 1);
	ck_assert_uint_eq(g->live_bytes, 1234);
	ck_assert_uint_eq(g->exit_status, 7);
	snapshot_free(s);
}
END_TEST

START_TEST(test_incremental)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	struct snapshot *s = snapshot_new();
	char *cause = NULL;
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 1);

	/* The second snapshot sends only stacks 3 and 4 and counts only 4. */
	static const uint32_t ids[] = { 4 };
	struct snap_spec sp = { .seq = 2, .end_seq = 2, .first_stack = 3, .nstacks = 2,
				.counter_ids = ids, .ncounters = 1 };
	ht_writer_init(&w, buf, sizeof buf);
	build_snapshot(&w, &sp);
	/* All but END: the visible snapshot is still the first. */
	size_t end_size = HT_HEADER_SIZE + 8;
	ck_assert_int_eq(apply_all(s, buf, w.len - end_size, &cause), 0);
	ck_assert(snapshot_in_progress(s));
	ck_assert_uint_eq(snapshot_globals(s)->seq, 1);
	ck_assert_uint_eq(snapshot_counter(s, 1).total_blocks, 10);
	ck_assert_uint_eq(snapshot_counter(s, 4).total_blocks, 0);
	ck_assert_int_eq(apply_all(s, buf + w.len - end_size, end_size, &cause), 1);

	ck_assert_uint_eq(snapshot_completed(s), 2);
	ck_assert_uint_eq(snapshot_globals(s)->seq, 2);
	ck_assert_uint_eq(snapshot_stack_count(s), 5);
	uint64_t pcs[HT_MAX_DEPTH];
	ck_assert_uint_eq(snapshot_stack(s, 3, pcs), 3);
	ck_assert_uint_eq(pcs[2], stack_pc(3, 2));
	/* Stacks the latest COUNTERS did not name count zero. */
	ck_assert_uint_eq(snapshot_counter(s, 1).total_blocks, 0);
	ck_assert_uint_eq(snapshot_counter(s, 2).live_bytes, 0);
	ck_assert_uint_eq(snapshot_counter(s, 4).total_blocks, 40);
	/* No MODULES frame: the module list stays. */
	ck_assert_uint_eq(snapshot_module_generation(s), MODULES_GEN);
	ck_assert_uint_eq(snapshot_module_count(s), 2);
	ck_assert_str_eq(snapshot_hello(s)->exe, "/usr/bin/prog");
	snapshot_free(s);
}
END_TEST

/* Apply SP (after the first snapshot when AFTER_FIRST) and expect an error
 * naming NEEDLE, with WANT_STACKS stacks held afterwards: stacks that came
 * in before the error stay, they are valid for the agent. */
static void expect_rejected(const struct snap_spec *sp, int after_first, const char *needle,
			    uint32_t want_stacks)
{
	struct snapshot *s = snapshot_new();
	struct ht_writer w;
	char *cause = NULL;
	if (after_first) {
		ht_writer_init(&w, buf, sizeof buf);
		build_first(&w);
		ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 1);
	}
	uint64_t completed = snapshot_completed(s);
	ht_writer_init(&w, buf, sizeof buf);
	build_snapshot(&w, sp);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, needle);
	free(cause);
	/* The last complete snapshot is untouched, and nothing is in progress. */
	ck_assert_uint_eq(snapshot_completed(s), completed);
	ck_assert_uint_eq(snapshot_stack_count(s), want_stacks);
	ck_assert(!snapshot_in_progress(s));
	if (after_first) {
		ck_assert_uint_eq(snapshot_globals(s)->seq, 1);
		ck_assert_uint_eq(snapshot_counter(s, 2).total_blocks, 20);
	}
	snapshot_free(s);
}

START_TEST(test_noncontiguous_stacks)
{
	struct snap_spec gap = { .seq = 1, .end_seq = 1, .first_stack = 1, .nstacks = 2 };
	expect_rejected(&gap, 0, "starts at stack 1, expected 0", 0);
	struct snap_spec again = { .seq = 2, .end_seq = 2, .first_stack = 0, .nstacks = 5 };
	expect_rejected(&again, 1, "starts at stack 0, expected 3", 3);
	struct snap_spec skip = { .seq = 2, .end_seq = 2, .first_stack = 4, .nstacks = 1 };
	expect_rejected(&skip, 1, "starts at stack 4, expected 3", 3);
}
END_TEST

START_TEST(test_unknown_counter)
{
	static const uint32_t ids[] = { 1, 3 };
	struct snap_spec sp = { .seq = 1, .end_seq = 1, .nstacks = 3,
				.counter_ids = ids, .ncounters = 2 };
	expect_rejected(&sp, 0, "stack 3, but only 3 stacks", 3);
	static const uint32_t twice[] = { 2, 2 };
	struct snap_spec dup = { .seq = 2, .end_seq = 2, .counter_ids = twice, .ncounters = 2 };
	expect_rejected(&dup, 1, "stack 2 twice", 3);
}
END_TEST

START_TEST(test_seq_mismatch)
{
	struct snap_spec sp = { .seq = 1, .end_seq = 2, .nstacks = 3 };
	expect_rejected(&sp, 0, "END of snapshot 2 does not match GLOBALS of snapshot 1", 3);
	struct snap_spec later = { .seq = 2, .end_seq = 1 };
	expect_rejected(&later, 1, "does not match", 3);
}
END_TEST

START_TEST(test_other_agent)
{
	struct snap_spec sp = { .pid = TEST_PID + 1, .seq = 2, .end_seq = 2 };
	expect_rejected(&sp, 1, "HELLO from another agent", 3);
}
END_TEST

/* Frames out of order are errors; the next HELLO starts afresh. */
START_TEST(test_order)
{
	struct snapshot *s = snapshot_new();
	struct ht_writer w;
	char *cause = NULL;

	ht_writer_init(&w, buf, sizeof buf);
	put_counters(&w, NULL, 0);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "expected HELLO to start a snapshot, got COUNTERS");
	free(cause);

	ht_writer_init(&w, buf, sizeof buf);
	put_hello(&w, TEST_PID);
	put_globals(&w, 1, 0);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "unexpected GLOBALS frame after HELLO");
	free(cause);

	ht_writer_init(&w, buf, sizeof buf);
	put_hello(&w, TEST_PID);
	put_counters(&w, NULL, 0);
	put_stacks(&w, 0, 1);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "unexpected STACKS frame after COUNTERS");
	free(cause);

	ht_writer_init(&w, buf, sizeof buf);
	put_hello(&w, TEST_PID);
	put_counters(&w, NULL, 0);
	ht_encode_end(&w, 0);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "unexpected END frame after COUNTERS");
	free(cause);

	ht_writer_init(&w, buf, sizeof buf);
	ht_encode_request(&w, 0, 0, 0);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "got REQUEST");
	free(cause);

	/* A HELLO in the middle of a snapshot is out of order too. */
	ht_writer_init(&w, buf, sizeof buf);
	put_hello(&w, TEST_PID);
	put_hello(&w, TEST_PID);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "unexpected HELLO frame after HELLO");
	free(cause);

	/* A snapshot abandoned half-way can be dropped and started again. */
	ht_writer_init(&w, buf, sizeof buf);
	put_hello(&w, TEST_PID);
	put_stacks(&w, 0, 2);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 0);
	ck_assert(snapshot_in_progress(s));
	snapshot_abort(s);
	ck_assert(!snapshot_in_progress(s));
	ck_assert_uint_eq(snapshot_stack_count(s), 2);
	static const uint32_t ids[] = { 1, 2 };
	struct snap_spec sp = { .seq = 1, .end_seq = 1, .first_stack = 2, .nstacks = 1,
				.counter_ids = ids, .ncounters = 2 };
	ht_writer_init(&w, buf, sizeof buf);
	build_snapshot(&w, &sp);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 1);
	ck_assert_uint_eq(snapshot_stack_count(s), 3);
	ck_assert_uint_eq(snapshot_counter(s, 2).total_blocks, 20);
	snapshot_free(s);
}
END_TEST

/* Begin a snapshot in buf: HELLO, then a STACKS frame for ids FIRST..
 * FIRST+COUNT-1 whose records the caller adds; returns the frame's start
 * for end_shared. */
static size_t begin_shared(struct ht_writer *w, uint32_t first, uint32_t count)
{
	ht_writer_init(w, buf, sizeof buf);
	put_hello(w, TEST_PID);
	size_t off = ht_frame_begin(w, HT_MSG_STACKS);
	ht_put_u32(w, first);
	ht_put_u32(w, count);
	return off;
}

/* End the STACKS frame begun at OFF and the snapshot. */
static void end_shared(struct ht_writer *w, size_t off)
{
	ht_frame_end(w, off);
	put_counters(w, NULL, 0);
	put_globals(w, 1, 0);
	ht_encode_end(w, 1);
}

/* A STACKS frame that goes bad half-way adds none of its stacks. */
START_TEST(test_bad_stacks_frame)
{
	struct snapshot *s = snapshot_new();
	struct ht_writer w;
	char *cause = NULL;
	size_t off = begin_shared(&w, 0, 3);
	ht_put_u16(&w, 1);
	ht_put_u16(&w, 0);
	ht_put_u64(&w, 0x1234);
	ht_put_u16(&w, HT_MAX_DEPTH + 1);
	ht_put_u16(&w, 0);
	for (int i = 0; i < HT_MAX_DEPTH + 1; i++)
		ht_put_u64(&w, 1);
	ht_put_u16(&w, 0);
	ht_put_u16(&w, 0);
	ht_frame_end(&w, off);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "bad STACKS frame: stack too deep");
	free(cause);
	ck_assert_uint_eq(snapshot_stack_count(s), 0);
	snapshot_free(s);
}
END_TEST

/* Stacks sent as their own frames and an earlier stack's outer ones come
 * out whole; a claim of more frames than the base has is refused, with the
 * frame's stacks. */
START_TEST(test_shared_stacks)
{
	const uint64_t a[4] = { 0x1010, 0x1020, 0x1030, 0x1040 };
	const uint64_t b[3] = { 0x2010, 0x1030, 0x1040 };
	struct snapshot *s = snapshot_new();
	struct ht_writer w;
	char *cause = NULL;
	size_t off = begin_shared(&w, 0, 4);
	ht_put_stack(&w, NULL, 0);
	ht_put_stack(&w, a, 4);
	ht_put_stack_shared(&w, b, 3, 1, 2);
	ht_put_stack_shared(&w, b, 2, 2, 2); /* b's own outer two: a's */
	end_shared(&w, off);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 1);
	uint64_t pcs[HT_MAX_DEPTH];
	ck_assert_uint_eq(snapshot_stack(s, 2, pcs), 3);
	ck_assert_mem_eq(pcs, b, sizeof b);
	ck_assert_uint_eq(snapshot_stack(s, 3, pcs), 2);
	ck_assert_uint_eq(pcs[0], 0x1030);
	ck_assert_uint_eq(pcs[1], 0x1040);

	off = begin_shared(&w, 4, 2);
	ht_put_stack(&w, a, 1);
	ht_put_stack_shared(&w, a, 4, 3, 3); /* stack 3 has 2 */
	end_shared(&w, off);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), -1);
	ck_assert_cause(cause, "stack 5 shares 3 frames with stack 3, which has 2");
	free(cause);
	ck_assert_uint_eq(snapshot_stack_count(s), 4);
	snapshot_free(s);
}
END_TEST

/* A chain of stacks each sharing its callers with the one before: every
 * stack comes out whole, whichever part of the chain its frames are in. */
START_TEST(test_shared_chain)
{
	const uint64_t p[8] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17 };
	const uint64_t q[1] = { 0x20 }, r[1] = { 0x30 }, xy[2] = { 0x40, 0x41 };
	const uint64_t want3[10] = { 0x30, 0x20, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17 };
	const uint64_t want5[5] = { 0x40, 0x41, 0x15, 0x16, 0x17 };
	struct snapshot *s = snapshot_new();
	struct ht_writer w;
	char *cause = NULL;
	size_t off = begin_shared(&w, 0, 6);
	ht_put_stack(&w, NULL, 0);
	ht_put_stack(&w, p, 8);                 /* 1: p */
	ht_put_stack_shared(&w, q, 9, 1, 8);    /* 2: q p */
	ht_put_stack_shared(&w, r, 10, 2, 9);   /* 3: r q p */
	ht_put_stack_shared(&w, NULL, 3, 3, 3); /* 4: the last three of p */
	ht_put_stack_shared(&w, xy, 5, 4, 3);   /* 5: x y and those three */
	end_shared(&w, off);
	ck_assert_int_eq(apply_all(s, buf, w.len, &cause), 1);
	uint64_t pcs[HT_MAX_DEPTH];
	ck_assert_uint_eq(snapshot_stack(s, 3, pcs), 10);
	ck_assert_mem_eq(pcs, want3, sizeof want3);
	ck_assert_uint_eq(snapshot_stack(s, 2, pcs), 9);
	ck_assert_mem_eq(pcs, want3 + 1, 9 * sizeof *pcs);
	ck_assert_uint_eq(snapshot_stack(s, 4, pcs), 3);
	ck_assert_mem_eq(pcs, p + 5, 3 * sizeof *pcs);
	ck_assert_uint_eq(snapshot_stack(s, 5, pcs), 5);
	ck_assert_mem_eq(pcs, want5, sizeof want5);
	snapshot_free(s);
}
END_TEST

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test_snapshot.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *write_file(const char *name, const void *p, size_t n)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(test_load_file)
{
	make_tmpdir();
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	char *path = write_file("final.bin", buf, w.len);
	char *cause = NULL;
	struct snapshot *s = snapshot_load_file(path, &cause);
	ck_assert_msg(s != NULL, "%s", cause);
	ck_assert_uint_eq(snapshot_completed(s), 1);
	ck_assert_uint_eq(snapshot_stack_count(s), 3);
	ck_assert_uint_eq(snapshot_counter(s, 1).live_bytes, 100);
	snapshot_free(s);
	free(path);

	/* Two snapshots in a row: the file shows the second. */
	static const uint32_t ids[] = { 4 };
	struct snap_spec sp = { .seq = 2, .end_seq = 2, .first_stack = 3, .nstacks = 2,
				.counter_ids = ids, .ncounters = 1, .flags = HT_GLOBAL_FINAL };
	build_snapshot(&w, &sp);
	path = write_file("two.bin", buf, w.len);
	s = snapshot_load_file(path, &cause);
	ck_assert_msg(s != NULL, "%s", cause);
	ck_assert_uint_eq(snapshot_completed(s), 2);
	ck_assert_uint_eq(snapshot_globals(s)->flags, HT_GLOBAL_FINAL);
	ck_assert_uint_eq(snapshot_stack_count(s), 5);
	snapshot_free(s);
	free(path);
	remove_tmpdir();
}
END_TEST

START_TEST(test_truncated_everywhere)
{
	make_tmpdir();
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	char *path = write_file("cut.bin", buf, w.len);
	/* Cut the file shorter and shorter: every prefix is an error. */
	for (size_t cut = w.len; cut-- > 0;) {
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
		char *cause = NULL;
		struct snapshot *s = snapshot_load_file(path, &cause);
		ck_assert_msg(s == NULL, "prefix of %zu bytes loaded", cut);
		if (cut == 0) {
			ck_assert_cause(cause, "empty");
		} else {
			char *want = xasprintf("%s: truncated at byte %zu", path, cut);
			ck_assert_str_eq(cause, want);
			free(want);
		}
		free(cause);

		/* From an exact-size copy, so that an over-read shows in ASan. */
		uint8_t *copy = xmalloc(cut);
		memcpy(copy, buf, cut);
		s = snapshot_new();
		ck_assert_int_eq(snapshot_load_buffer(s, copy, cut, "copy", &cause), -1);
		ck_assert_uint_eq(snapshot_completed(s), 0);
		free(cause);
		snapshot_free(s);
		free(copy);
	}
	free(path);
	remove_tmpdir();
}
END_TEST

/* Every single-byte corruption is either still valid or an error, never a crash. */
START_TEST(test_corrupt_bytes)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	uint8_t *copy = xmalloc(w.len);
	static const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < w.len; i++) {
		for (size_t v = 0; v < sizeof values; v++) {
			memcpy(copy, buf, w.len);
			copy[i] = values[v];
			struct snapshot *s = snapshot_new();
			char *cause = NULL;
			int r = snapshot_load_buffer(s, copy, w.len, "x", &cause);
			ck_assert(r == 0 || (r == -1 && cause != NULL));
			free(cause);
			snapshot_free(s);
		}
	}
	free(copy);
}
END_TEST

START_TEST(test_garbage_and_empty)
{
	make_tmpdir();
	char *cause = NULL;

	char *path = write_file("garbage.txt", "hello, world\n", 13);
	ck_assert_ptr_null(snapshot_load_file(path, &cause));
	char *want = xasprintf("%s: not a heaptop snapshot", path);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	free(path);

	path = write_file("empty", "", 0);
	ck_assert_ptr_null(snapshot_load_file(path, &cause));
	ck_assert_cause(cause, "empty");
	free(cause);
	free(path);

	path = xasprintf("%s/missing", tmpdir);
	ck_assert_ptr_null(snapshot_load_file(path, &cause));
	ck_assert_cause(cause, "missing: No such file or directory");
	free(cause);
	free(path);

	/* A good snapshot followed by junk. */
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	build_first(&w);
	size_t good = w.len;
	ht_put_bytes(&w, "junk", 4);
	path = write_file("junk", buf, w.len);
	ck_assert_ptr_null(snapshot_load_file(path, &cause));
	want = xasprintf("byte %zu: not a heaptop frame", good);
	ck_assert_cause(cause, want);
	free(want);
	free(cause);
	free(path);

	/* A stream that starts with something other than HELLO. */
	ht_writer_init(&w, buf, sizeof buf);
	put_globals(&w, 1, 0);
	path = write_file("nohello", buf, w.len);
	ck_assert_ptr_null(snapshot_load_file(path, &cause));
	ck_assert_cause(cause, "byte 0: expected HELLO to start a snapshot, got GLOBALS");
	free(cause);
	free(path);
	remove_tmpdir();
}
END_TEST

START_TEST(test_default_socket_path)
{
	unsetenv("HEAPTOP_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	char *p = client_default_socket_path(123);
	char *want = xasprintf("/tmp/heaptop-%lu/123.sock", (unsigned long)geteuid());
	ck_assert_str_eq(p, want);
	free(want);
	free(p);

	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	p = client_default_socket_path(123);
	ck_assert_str_eq(p, "/run/user/1000/heaptop/123.sock");
	free(p);

	setenv("HEAPTOP_SOCKET", "/sock/%p/agent-%p.s%", 1);
	p = client_default_socket_path(77);
	ck_assert_str_eq(p, "/sock/77/agent-77.s%");
	free(p);

	setenv("HEAPTOP_SOCKET", "/fixed.sock", 1);
	p = client_default_socket_path(77);
	ck_assert_str_eq(p, "/fixed.sock");
	free(p);

	/* A relative XDG_RUNTIME_DIR is ignored, as the agent ignores it. */
	unsetenv("HEAPTOP_SOCKET");
	setenv("XDG_RUNTIME_DIR", "run/user", 1);
	p = client_default_socket_path(9);
	ck_assert(strncmp(p, "/tmp/heaptop-", 13) == 0);
	free(p);

	/* Empty counts as unset. */
	setenv("HEAPTOP_SOCKET", "", 1);
	setenv("XDG_RUNTIME_DIR", "", 1);
	p = client_default_socket_path(5);
	ck_assert_str_eq(p + strlen(p) - 7, "/5.sock");
	ck_assert(strncmp(p, "/tmp/heaptop-", 13) == 0);
	free(p);
}
END_TEST

/* A fake agent: answers each REQUEST on one connection according to MODE. */
enum fake_mode { FAKE_NORMAL, FAKE_SILENT, FAKE_CLOSE, FAKE_GARBAGE };

struct fake_agent {
	int listen_fd;
	enum fake_mode modes[4]; /* per request; after the last, close */
	int nmodes;
	struct ht_request seen[4];
	int nseen;
};

static int read_full(int fd, void *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = read(fd, (uint8_t *)p + off, n - off);
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/* Send in small pieces so that the client sees frames split anywhere. */
static void write_dribbled(int fd, const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 7 ? n - off : 7;
		ssize_t r = send(fd, p + off, k, MSG_NOSIGNAL);
		if (r <= 0)
			return;
		off += (size_t)r;
	}
}

static void *fake_agent_run(void *arg)
{
	struct fake_agent *a = arg;
	static uint8_t out[1 << 16];
	int fd = accept(a->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (int i = 0; i < a->nmodes; i++) {
		uint8_t req[HT_HEADER_SIZE + HT_REQUEST_SIZE];
		if (read_full(fd, req, sizeof req) < 0)
			break;
		struct ht_frame f;
		const char *err = NULL;
		if (ht_frame_parse(req, sizeof req, &f, &err) <= 0 ||
		    ht_decode_request(&f, &a->seen[a->nseen]) != NULL)
			break;
		const struct ht_request *rq = &a->seen[a->nseen++];
		if (a->modes[i] == FAKE_SILENT) {
			sleep(1);
			break;
		}
		if (a->modes[i] == FAKE_CLOSE)
			break;
		if (a->modes[i] == FAKE_GARBAGE) {
			write_dribbled(fd, (const uint8_t *)"GARBAGE GARBAGE", 15);
			continue;
		}
		/* Like the agent: only the stacks the client lacks (5 in all). */
		static const uint32_t ids[] = { 1, 2, 3, 4 };
		struct snap_spec sp = {
			.seq = (uint64_t)i + 1, .end_seq = (uint64_t)i + 1,
			.with_modules = rq->have_modules_gen != MODULES_GEN,
			.first_stack = rq->have_stacks,
			.nstacks = rq->have_stacks < 5 ? 5 - rq->have_stacks : 0,
			.counter_ids = ids, .ncounters = 4,
		};
		struct ht_writer w;
		ht_writer_init(&w, out, sizeof out);
		build_snapshot(&w, &sp);
		write_dribbled(fd, out, w.len);
	}
	close(fd);
	return NULL;
}

static char *start_fake_agent(struct fake_agent *a, pthread_t *t)
{
	make_tmpdir();
	char *path = xasprintf("%s/agent.sock", tmpdir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(a->listen_fd, 0);
	ck_assert_int_eq(bind(a->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(a->listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(t, NULL, fake_agent_run, a), 0);
	return path;
}

static void stop_fake_agent(struct fake_agent *a, pthread_t t, char *path)
{
	pthread_join(t, NULL);
	close(a->listen_fd);
	free(path);
	remove_tmpdir();
}

START_TEST(test_client_fetch)
{
	struct fake_agent a = { .modes = { FAKE_NORMAL, FAKE_NORMAL }, .nmodes = 2 };
	pthread_t t;
	char *path = start_fake_agent(&a, &t);
	char *cause = NULL;
	struct client *c = client_connect(path, &cause);
	ck_assert_msg(c != NULL, "%s", cause);
	struct snapshot *s = snapshot_new();

	ck_assert_msg(client_fetch(c, s, HT_REQ_RESET_PEAK, 5000, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(snapshot_completed(s), 1);
	ck_assert_uint_eq(snapshot_stack_count(s), 5);
	ck_assert_uint_eq(snapshot_module_count(s), 2);
	ck_assert_uint_eq(snapshot_counter(s, 4).live_bytes, 400);

	ck_assert_msg(client_fetch(c, s, 0, 5000, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(snapshot_completed(s), 2);
	ck_assert_uint_eq(snapshot_globals(s)->seq, 2);
	ck_assert_uint_eq(snapshot_stack_count(s), 5);

	/* The fake agent closes after two answers. */
	ck_assert_int_eq(client_fetch(c, s, 0, 5000, &cause), -1);
	ck_assert_cause(cause, "closed the connection");
	free(cause);
	/* The last good snapshot is still there. */
	ck_assert_uint_eq(snapshot_globals(s)->seq, 2);
	ck_assert_int_eq(client_fetch(c, s, 0, 5000, &cause), -1);
	ck_assert_cause(cause, "unusable");
	free(cause);
	client_close(c);
	stop_fake_agent(&a, t, path);

	/* What the client asked for: everything first, then only what is new. */
	ck_assert_int_eq(a.nseen, 2);
	ck_assert_uint_eq(a.seen[0].have_stacks, 0);
	ck_assert_uint_eq(a.seen[0].have_modules_gen, 0);
	ck_assert_uint_eq(a.seen[0].flags, HT_REQ_RESET_PEAK);
	ck_assert_uint_eq(a.seen[1].have_stacks, 5);
	ck_assert_uint_eq(a.seen[1].have_modules_gen, MODULES_GEN);
	ck_assert_uint_eq(a.seen[1].flags, 0);
	snapshot_free(s);
}
END_TEST

START_TEST(test_client_errors)
{
	char *cause = NULL;
	make_tmpdir();
	char *missing = xasprintf("%s/none.sock", tmpdir);
	ck_assert_ptr_null(client_connect(missing, &cause));
	char *want = xasprintf("no heaptop agent at %s: No such file or directory", missing);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	free(missing);
	remove_tmpdir();

	struct fake_agent a = { .modes = { FAKE_SILENT }, .nmodes = 1 };
	pthread_t t;
	char *path = start_fake_agent(&a, &t);
	struct client *c = client_connect(path, &cause);
	ck_assert_ptr_nonnull(c);
	struct snapshot *s = snapshot_new();
	ck_assert_int_eq(client_fetch(c, s, 0, 200, &cause), -1);
	ck_assert_cause(cause, "within 200 ms");
	free(cause);
	client_close(c);
	stop_fake_agent(&a, t, path);

	struct fake_agent g = { .modes = { FAKE_GARBAGE }, .nmodes = 1 };
	path = start_fake_agent(&g, &t);
	c = client_connect(path, &cause);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(client_fetch(c, s, 0, 5000, &cause), -1);
	ck_assert_cause(cause, "bad data from agent");
	free(cause);
	client_close(c);
	stop_fake_agent(&g, t, path);
	ck_assert_uint_eq(snapshot_completed(s), 0);
	snapshot_free(s);
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *su = suite_create("snapshot");
	TCase *tc = tcase_create("frames");
	tcase_add_test(tc, test_complete);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_noncontiguous_stacks);
	tcase_add_test(tc, test_unknown_counter);
	tcase_add_test(tc, test_seq_mismatch);
	tcase_add_test(tc, test_other_agent);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_bad_stacks_frame);
	tcase_add_test(tc, test_shared_stacks);
	tcase_add_test(tc, test_shared_chain);
	suite_add_tcase(su, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_corrupt_bytes);
	tcase_add_test(tc, test_garbage_and_empty);
	suite_add_tcase(su, tc);

	tc = tcase_create("client");
	tcase_add_test(tc, test_default_socket_path);
	tcase_add_test(tc, test_client_fetch);
	tcase_add_test(tc, test_client_errors);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(snapshot_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
