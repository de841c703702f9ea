/*
 * Unit tests for the agent's snapshot encoder and what it stands on: the
 * stack table's range read (summing the stripes a chunk at a time) must
 * give what the per-id read gives; an answer larger than any first guess at
 * the buffer is encoded whole and decodes to the table; a buffer cut back
 * after a large answer serves the next answers correctly; the live-at-exit
 * file written a piece at a time holds the same snapshot; the writer's
 * one-check record stores produce the same bytes as the field-by-field puts.
 *
 * Links the agent's snapshot.c, stacktab.c, mem.c and modules.c, with the
 * few functions of agent.c they call stubbed below.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/mem.h"
#include "agent/modules.h"
#include "agent/snapshot.h"
#include "agent/stacktab.h"
#include "proto/proto.h"

#define NSTACKS 25000 /* ids 1..NSTACKS: past six counter chunks of 4096 */
#define MAX_TEST_DEPTH 40

/* --- what agent.c would provide ------------------------------------------ */

struct agent_settings agent_settings = { .depth = 64, .max_stacks = 1u << 16 };
unsigned agent_mark_epoch;
static uint64_t test_unit = 1;

void agent_mark(void)
{
	agent_mark_epoch = agent_mark_epoch % 255 + 1;
}

uint64_t agent_mark_ns(void)
{
	return 0;
}

uint64_t agent_block_unit(void)
{
	return test_unit;
}

void agent_hello(struct ht_hello *h)
{
	memset(h, 0, sizeof *h);
	h->pid = (uint32_t)getpid();
	h->depth = agent_settings.depth;
	h->exe = "test";
	h->exe_len = 4;
	h->cmdline = "";
}

uint64_t agent_peak(uint64_t live, int reset)
{
	(void)reset;
	return live;
}

/* --- a stack table to snapshot ------------------------------------------- */

static unsigned test_depth(uint32_t n)
{
	return 1 + n % MAX_TEST_DEPTH;
}

/* Stack number N: its inner half its own, its outer half (counted from
 * the outermost frame) that of the eight stacks numbered N / 8 * 8 on, as
 * a loop's calls share their callers. */
static void test_pcs(uint32_t n, uintptr_t *pcs)
{
	unsigned depth = test_depth(n);
	for (unsigned i = 0; i < depth; i++) {
		unsigned outer = depth - 1 - i;
		pcs[i] = i < depth / 2 ? 0x400000u + (uintptr_t)n * 0x1000u + i
				       : 0x40000000u + (uintptr_t)(n / 8) * 0x1000u + outer;
	}
}

/* Intern stacks number FROM..TO-1 (ids come out as the numbers + 1) and
 * charge most of them on several stripes, freeing some. */
static void fill(uint32_t from, uint32_t to)
{
	for (uint32_t n = from; n < to; n++) {
		uintptr_t pcs[MAX_TEST_DEPTH];
		test_pcs(n, pcs);
		uint32_t id = stacktab_intern(pcs, test_depth(n));
		ck_assert_uint_eq(id, n + 1);
		if (n % 7 == 3)
			continue; /* never allocated: no record */
		for (unsigned s = n % 5; s < STACKTAB_STRIPES; s += 1 + n % 4) {
			int born = (int)((n + s) % 3) - 1;
			stacktab_charge(s, id, 100 * n + s, 1 + s, born);
			if ((n + s) % 2)
				stacktab_credit((s + 3) % STACKTAB_STRIPES, id, 10 + s, 1, born);
		}
	}
}

static void setup_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	stacktab_configure(1u << 16);
	fill(0, NSTACKS);
	agent_mark_epoch = 1; /* born figures from slot 1 */
}

static int64_t expect_blocks(int64_t units)
{
	int64_t unit = (int64_t)test_unit, half = unit / 2;
	return units >= 0 ? (units + half) / unit : -((-units + half) / unit);
}

/* --- decoding a snapshot ------------------------------------------------- */

struct decoded {
	uint32_t nstacks;          /* ids first_stack.. that came */
	uint32_t shared_stacks;    /* of them, sent as frames beyond a base's */
	uint32_t first_stack;
	unsigned stack_frames, counter_frames, max_stacks_per_frame;
	int have_modules;
	uint64_t ncounters;
	struct ht_counter *counters; /* by id; stack_id UINT32_MAX when absent */
	uint32_t counters_cap;
	struct ht_globals g;
	uint64_t end_seq;
};

static void decoded_free(struct decoded *d)
{
	free(d->counters);
	memset(d, 0, sizeof *d);
}

static void decode_stacks(struct decoded *d, const struct ht_frame *f)
{
	struct ht_stack_iter it;
	ck_assert_ptr_null(ht_stacks_begin(&it, f));
	if (d->stack_frames++ == 0)
		d->first_stack = it.first_id;
	ck_assert_uint_eq(it.first_id, d->first_stack + d->nstacks);
	if (it.count > d->max_stacks_per_frame)
		d->max_stacks_per_frame = it.count;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	int r;
	while ((r = ht_stacks_next(&it, &id, &depth, &pcs)) == 1) {
		d->nstacks++;
		if (id == 0) {
			ck_assert_uint_eq(depth, 0);
			continue;
		}
		ck_assert_uint_eq(depth, test_depth(id - 1));
		uintptr_t want[MAX_TEST_DEPTH];
		test_pcs(id - 1, want);
		unsigned own = depth - it.shared;
		for (unsigned i = 0; i < own; i++)
			ck_assert_uint_eq(ht_pc_at(pcs, i), want[i]);
		if (!it.shared)
			continue;
		/* The frames not sent are the base's outermost ones. */
		d->shared_stacks++;
		ck_assert_uint_lt(it.base, id);
		ck_assert_uint_gt(it.base, 0);
		uintptr_t base[MAX_TEST_DEPTH];
		unsigned bdepth = test_depth(it.base - 1);
		test_pcs(it.base - 1, base);
		ck_assert_uint_le(it.shared, bdepth);
		for (unsigned k = 0; k < it.shared; k++)
			ck_assert_uint_eq(base[bdepth - it.shared + k], want[own + k]);
	}
	ck_assert_int_eq(r, 0);
}

static void decode_counters(struct decoded *d, const struct ht_frame *f)
{
	struct ht_counter_iter it;
	struct ht_counter c;
	int r;
	ck_assert_ptr_null(ht_counters_begin(&it, f));
	d->counter_frames++;
	while ((r = ht_counters_next(&it, &c)) == 1) {
		ck_assert_uint_lt(c.stack_id, d->counters_cap);
		ck_assert_uint_eq(d->counters[c.stack_id].stack_id, UINT32_MAX);
		d->counters[c.stack_id] = c;
		d->ncounters++;
	}
	ck_assert_int_eq(r, 0);
}

/* Decode the snapshot in BUF[0..LEN): frames in the protocol's order,
 * exactly one snapshot, nothing after END. */
static void decode(const uint8_t *buf, size_t len, struct decoded *d)
{
	memset(d, 0, sizeof *d);
	d->counters_cap = stacktab_count() + 64;
	d->counters = malloc(d->counters_cap * sizeof *d->counters);
	ck_assert_ptr_nonnull(d->counters);
	for (uint32_t i = 0; i < d->counters_cap; i++)
		d->counters[i].stack_id = UINT32_MAX;
	size_t off = 0;
	unsigned last = 0;
	while (off < len) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(buf + off, len - off, &f, &err);
		ck_assert_msg(n > 0, "frame at %zu: %s", off, n < 0 ? err : "truncated");
		off += (size_t)n;
		ck_assert_uint_ge(f.type, last == HT_MSG_STACKS || last == HT_MSG_COUNTERS
						  ? last : last + 1);
		switch (f.type) {
		case HT_MSG_HELLO: {
			struct ht_hello h;
			ck_assert_uint_eq(last, 0);
			ck_assert_ptr_null(ht_decode_hello(&f, &h));
			break;
		}
		case HT_MSG_MODULES: {
			struct ht_module_iter it;
			struct ht_module m;
			ck_assert_ptr_null(ht_modules_begin(&it, &f));
			while (ht_modules_next(&it, &m) == 1)
				;
			ck_assert_ptr_null(it.r.error);
			d->have_modules = 1;
			break;
		}
		case HT_MSG_STACKS:
			decode_stacks(d, &f);
			break;
		case HT_MSG_COUNTERS:
			decode_counters(d, &f);
			break;
		case HT_MSG_GLOBALS:
			ck_assert_uint_ge(d->counter_frames, 1);
			ck_assert_ptr_null(ht_decode_globals(&f, &d->g));
			break;
		case HT_MSG_END:
			ck_assert_uint_eq(last, HT_MSG_GLOBALS);
			ck_assert_ptr_null(ht_decode_end(&f, &d->end_seq));
			ck_assert_uint_eq(off, len);
			break;
		default:
			ck_abort_msg("unexpected frame %u", f.type);
		}
		last = f.type;
	}
	ck_assert_uint_eq(last, HT_MSG_END);
	ck_assert_uint_eq(d->end_seq, d->g.seq);
}

/* The counters decoded are those of the table, for every id, now. */
static void check_counters(const struct decoded *d)
{
	int born = agent_mark_epoch ? (int)(agent_mark_epoch & 1) : -1;
	uint64_t n = 0;
	ck_assert_uint_eq(d->g.stacks, stacktab_count());
	for (uint32_t id = 0; id < stacktab_count(); id++) {
		struct stack_counts c;
		stacktab_read(id, born, &c);
		const struct ht_counter *got = &d->counters[id];
		if (c.alloc_blocks == 0) {
			ck_assert_uint_eq(got->stack_id, UINT32_MAX);
			continue;
		}
		n++;
		ck_assert_uint_eq(got->stack_id, id);
		ck_assert_int_eq(got->live_bytes, (int64_t)(c.alloc_bytes - c.freed_bytes));
		ck_assert_int_eq(got->live_blocks,
				 expect_blocks((int64_t)(c.alloc_blocks - c.freed_blocks)));
		ck_assert_uint_eq(got->total_bytes, c.alloc_bytes);
		ck_assert_uint_eq(got->total_blocks, (uint64_t)expect_blocks((int64_t)c.alloc_blocks));
		ck_assert_int_eq(got->born_bytes, c.born_bytes);
		ck_assert_int_eq(got->born_blocks, expect_blocks(c.born_blocks));
	}
	ck_assert_uint_eq(d->ncounters, n);
	ck_assert_uint_gt(n, NSTACKS / 2);
	/* The process's totals are the sums of the stacks' counters (exactly
	 * in exact mode; each rounded on its own when sampling). */
	struct stack_counts sum = { 0 };
	for (uint32_t id = 0; id < stacktab_count(); id++) {
		struct stack_counts c;
		stacktab_read(id, born, &c);
		sum.alloc_bytes += c.alloc_bytes;
		sum.alloc_blocks += c.alloc_blocks;
		sum.freed_bytes += c.freed_bytes;
		sum.freed_blocks += c.freed_blocks;
	}
	ck_assert_uint_eq(d->g.live_bytes, sum.alloc_bytes - sum.freed_bytes);
	ck_assert_uint_eq(d->g.total_bytes, sum.alloc_bytes);
	ck_assert_uint_eq(d->g.allocs, (uint64_t)expect_blocks((int64_t)sum.alloc_blocks));
	ck_assert_uint_eq(d->g.frees, (uint64_t)expect_blocks((int64_t)sum.freed_blocks));
	ck_assert_uint_eq(d->g.live_blocks,
			  (uint64_t)expect_blocks((int64_t)(sum.alloc_blocks - sum.freed_blocks)));
	ck_assert_uint_gt(sum.alloc_blocks, 0);
}

static struct ht_request request(uint32_t have_stacks, uint32_t gen)
{
	return (struct ht_request){ .have_stacks = have_stacks, .have_modules_gen = gen };
}

/* --- tests --------------------------------------------------------------- */

/* Windows aligned and not, inside a chunk and across chunk boundaries, with
 * and without born figures: the range read equals the per-id reads. */
START_TEST(test_read_range_matches_read)
{
	static const uint32_t windows[][2] = {
		{ 0, 1 }, { 0, NSTACKS + 1 }, { 1, 255 }, { 4000, 300 }, { 4095, 1 },
		{ 4095, 4098 }, { 8190, 5 }, { NSTACKS - 3, 4 }, { 100, 0 },
	};
	setup_once();
	for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
		uint32_t first = windows[w][0], n = windows[w][1];
		struct stack_counts *got = malloc((n + 1) * sizeof *got);
		ck_assert_ptr_nonnull(got);
		for (int born = -1; born <= 1; born++) {
			memset(got, 0xa5, (n + 1) * sizeof *got);
			stacktab_read_range(first, n, born, got);
			for (uint32_t i = 0; i < n; i++) {
				struct stack_counts want;
				stacktab_read(first + i, born, &want);
				ck_assert_mem_eq(&got[i], &want, sizeof want);
			}
			/* Nothing written past N records. */
			ck_assert_uint_eq(((uint8_t *)&got[n])[0], 0xa5);
		}
		free(got);
	}
}
END_TEST

/* The answer to REQ as the server sends it: its pieces, each encoded into
 * B once the one before is sent, joined into *ALL (malloc'ed).  Returns
 * its length; *PIECES gets how many there were. */
static size_t answer(struct snap_buf *b, const struct ht_request *req, uint8_t **all,
		     unsigned *pieces)
{
	struct snap_stream st;
	size_t len = 0;
	long n;
	*all = NULL;
	*pieces = 0;
	snapshot_start(&st, req);
	while ((n = snapshot_next(&st, b)) > 0) {
		ck_assert_uint_le((size_t)n, b->cap);
		*all = realloc(*all, len + (size_t)n);
		ck_assert_ptr_nonnull(*all);
		memcpy(*all + len, b->data, (size_t)n);
		len += (size_t)n;
		(*pieces)++;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(snapshot_next(&st, b), 0); /* done stays done */
	return len;
}

/* A full snapshot: several MiB, sent in pieces through a buffer a
 * fraction of its size (the only mapping made for it); joined, one whole
 * snapshot with every stack. */
START_TEST(test_full_snapshot_large)
{
	setup_once();
	for (test_unit = 1; test_unit <= AGENT_SAMPLE_UNIT; test_unit *= AGENT_SAMPLE_UNIT) {
		struct snap_buf b = { 0 };
		struct ht_request req = request(0, 0);
		uint64_t mapped = mem_mapped_bytes();
		uint8_t *all;
		unsigned pieces;
		size_t len = answer(&b, &req, &all, &pieces);
		ck_assert_uint_gt(len, 2u << 20);
		ck_assert_uint_ge(pieces, 2);
		/* The buffer held one piece at a time: 1 MiB of STACKS frames
		 * and the frame that crossed it, or the counters and the rest. */
		size_t piece_max = (1u << 20) + 1024 * (2 + 8 * MAX_TEST_DEPTH) +
				   (NSTACKS + 1) * HT_COUNTER_RECORD_MAX + (128u << 10);
		ck_assert_uint_lt(b.cap, len);
		ck_assert_uint_le(b.cap, piece_max);
		ck_assert_uint_eq(mem_mapped_bytes() - mapped, b.cap);
		struct decoded d;
		decode(all, len, &d);
		ck_assert(d.have_modules);
		ck_assert_uint_eq(d.first_stack, 0);
		ck_assert_uint_eq(d.nstacks, stacktab_count());
		ck_assert_uint_le(d.max_stacks_per_frame, 1024);
		ck_assert_uint_ge(d.stack_frames, 2);
		/* Most stacks share frames with the one interned before. */
		ck_assert_uint_gt(d.shared_stacks, d.nstacks / 2);
		check_counters(&d);
		decoded_free(&d);
		free(all);
		snapshot_buf_free(&b);
		ck_assert_uint_eq(mem_mapped_bytes(), mapped);
	}
	test_unit = 1;
}
END_TEST

/* After a full answer the buffer is cut back to what a refresh needs, and
 * the answers that follow (a refresh, a refresh with new stacks, a full
 * one that grows it again) are whole and right. */
START_TEST(test_trim_then_answer)
{
	setup_once();
	struct snap_buf b = { 0 };
	struct ht_request full = request(0, 0);
	uint8_t *all;
	unsigned pieces;
	size_t len = answer(&b, &full, &all, &pieces);
	free(all);
	ck_assert_uint_gt(len, 0);
	snapshot_buf_trim(&b);
	ck_assert_ptr_nonnull(b.data);

	uint32_t have = stacktab_count(), gen = modules_generation();
	struct ht_request inc = request(have, gen);
	size_t cap = b.cap;
	len = answer(&b, &inc, &all, &pieces);
	ck_assert_uint_gt(len, (size_t)NSTACKS / 2 * HT_COUNTER_RECORD_MIN);
	ck_assert_uint_eq(pieces, 1);  /* a refresh is one piece */
	ck_assert_uint_eq(b.cap, cap); /* that fits the trimmed buffer */
	struct decoded d;
	decode(all, len, &d);
	free(all);
	ck_assert(!d.have_modules);
	ck_assert_uint_eq(d.nstacks, 0);
	check_counters(&d);
	decoded_free(&d);
	snapshot_buf_trim(&b);
	ck_assert_uint_eq(b.cap, cap); /* and stays: no remapping per refresh */

	/* A refresh that brings new stacks too. */
	uint32_t before = stacktab_count();
	fill(NSTACKS, NSTACKS + 50);
	len = answer(&b, &inc, &all, &pieces);
	decode(all, len, &d);
	free(all);
	ck_assert_uint_eq(d.first_stack, have);
	ck_assert_uint_eq(d.nstacks, stacktab_count() - before);
	check_counters(&d);
	decoded_free(&d);

	len = answer(&b, &full, &all, &pieces);
	decode(all, len, &d);
	free(all);
	ck_assert_uint_eq(d.nstacks, stacktab_count());
	check_counters(&d);
	decoded_free(&d);
	snapshot_buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
}
END_TEST

/* The live-at-exit file, written a piece at a time, is one whole snapshot
 * with every stack, in frames small enough for its buffer. */
START_TEST(test_write_file)
{
	setup_once();
	char path[] = "/tmp/heaptop-test-snapshot-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	struct ht_request all = request(0, 0);
	ck_assert_int_eq(snapshot_write(fd, &all, 1, 3), 0);
	off_t size = lseek(fd, 0, SEEK_END);
	ck_assert_int_gt(size, 2 << 20);
	uint8_t *buf = malloc((size_t)size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	struct decoded d;
	decode(buf, (size_t)size, &d);
	ck_assert(d.have_modules);
	ck_assert_uint_eq(d.nstacks, stacktab_count());
	ck_assert_uint_le(d.max_stacks_per_frame, 1024);
	ck_assert_uint_eq(d.g.flags, HT_GLOBAL_FINAL);
	ck_assert_uint_eq(d.g.exit_status, 3);
	check_counters(&d);
	decoded_free(&d);
	free(buf);

	/* A file that cannot be written: failure, not a short success. */
	ck_assert_int_eq(snapshot_write(-1, &all, 1, 0), -1);
}
END_TEST

/* The record store writes what the protocol says field by field, in the
 * fewest bytes each, the agent's reserve-then-give-back writes no more,
 * and a record that does not fit writes nothing. */
START_TEST(test_store_counter_bytes)
{
	const struct ht_counter c = {
		.stack_id = 0x01020304u,
		.live_bytes = -2,
		.live_blocks = INT64_MIN,
		.total_bytes = UINT64_MAX - 5,
		.total_blocks = 0x1122334455667788ull,
		.born_bytes = INT64_MAX,
		.born_blocks = -0x123456789ll,
	};
	/* Sizes: the id (from 0) in 4 bytes, live_bytes (zigzag 3) in 1, the
	 * rest in 8; 47 bytes in all. */
	const size_t size = 2 + 4 + 1 + 5 * 8;
	uint8_t a[HT_COUNTER_RECORD_MAX], b[HT_COUNTER_RECORD_MAX + 8];
	struct ht_writer w;
	ht_writer_init(&w, a, sizeof a);
	ht_put_u16(&w, 2 | 1 << 2 | 3 << 4 | 3 << 6 | 3 << 8 | 3 << 10 | 3 << 12);
	ht_put_u32(&w, c.stack_id);
	ht_put_bytes(&w, (const uint8_t[]){ 3 }, 1);
	ht_put_u64(&w, UINT64_MAX);
	ht_put_u64(&w, c.total_bytes);
	ht_put_u64(&w, c.total_blocks);
	ht_put_u64(&w, UINT64_MAX - 1);
	ht_put_u64(&w, 2 * 0x123456789ull - 1);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_uint_eq(w.len, size);

	memset(b, 0xa5, sizeof b);
	uint64_t next_id = 0;
	ht_writer_init(&w, b, size);
	ht_put_counter(&w, &c, &next_id);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_uint_eq(w.len, size);
	ck_assert_mem_eq(a, b, size);
	ck_assert_uint_eq(b[size], 0xa5);
	ck_assert_uint_eq(next_id, c.stack_id + 1ull);

	memset(b, 0xa5, sizeof b);
	next_id = 0;
	ht_writer_init(&w, b, size + 3);
	ht_put_u32(&w, 7);
	ht_put_counter(&w, &c, &next_id);
	ck_assert_int_eq(w.overflow, 1);
	ck_assert_uint_eq(w.len, 4);
	ck_assert_uint_eq(b[4], 0xa5);

	/* As the agent writes them: room for the longest record, the rest
	 * given back. */
	struct ht_counter_iter it;
	struct ht_counter back;
	uint8_t frame[HT_HEADER_SIZE + 4 + HT_COUNTER_RECORD_MAX];
	ht_writer_init(&w, frame, sizeof frame);
	size_t off = ht_frame_begin(&w, HT_MSG_COUNTERS);
	ht_put_u32(&w, 1);
	uint8_t *p = ht_reserve(&w, HT_COUNTER_RECORD_MAX);
	ck_assert_ptr_nonnull(p);
	next_id = 0;
	w.len -= HT_COUNTER_RECORD_MAX - ht_store_counter(p, &c, &next_id);
	ht_frame_end(&w, off);
	ck_assert_int_eq(w.overflow, 0);
	ck_assert_uint_eq(w.len, HT_HEADER_SIZE + 4 + size);
	struct ht_frame f;
	const char *err;
	ck_assert_int_eq(ht_frame_parse(frame, w.len, &f, &err), (long)w.len);
	ck_assert_ptr_null(ht_counters_begin(&it, &f));
	ck_assert_int_eq(ht_counters_next(&it, &back), 1);
	ck_assert_uint_eq(back.stack_id, c.stack_id);
	ck_assert_int_eq(back.live_bytes, c.live_bytes);
	ck_assert_int_eq(back.live_blocks, c.live_blocks);
	ck_assert_uint_eq(back.total_bytes, c.total_bytes);
	ck_assert_uint_eq(back.total_blocks, c.total_blocks);
	ck_assert_int_eq(back.born_bytes, c.born_bytes);
	ck_assert_int_eq(back.born_blocks, c.born_blocks);
	ck_assert_int_eq(ht_counters_next(&it, &back), 0);
}
END_TEST

static Suite *agent_snapshot_suite(void)
{
	Suite *s = suite_create("agent_snapshot");
	TCase *t = tcase_create("snapshot");
	tcase_add_test(t, test_read_range_matches_read);
	tcase_add_test(t, test_full_snapshot_large);
	tcase_add_test(t, test_trim_then_answer);
	tcase_add_test(t, test_write_file);
	tcase_add_test(t, test_store_counter_bytes);
	tcase_set_timeout(t, 120);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(agent_snapshot_suite());
	/* One process: the tests share the stack table, filled once. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
