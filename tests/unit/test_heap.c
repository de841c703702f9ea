/* Unit tests for the heap: built by hand, and over a snapshot. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/heap.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define TEST_PID 4242
#define TEST_START_NS 1700000000000000000ull
#define TEST_REALTIME_NS 1700000000123456789ull
#define MODULE_PATH "/nonexistent/heaptop-test/prog"

/* NULL-aware string equality. */
static int same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

START_TEST(test_new_empty)
{
	struct heap_info info = { .pid = 7, .exe = NULL, .cmdline = "a b", .seq = 3 };
	struct heap *h = heap_new(&info);
	const struct heap_info *hi = heap_info(h);
	ck_assert_uint_eq(hi->pid, 7);
	ck_assert_uint_eq(hi->seq, 3);
	ck_assert_str_eq(hi->exe, "");
	ck_assert_str_eq(hi->cmdline, "a b");
	ck_assert_ptr_ne(hi->cmdline, info.cmdline);
	ck_assert_uint_eq(heap_stack_count(h), 0);
	ck_assert_uint_eq(heap_counter(h, 0).total_blocks, 0);
	const struct heap_frame *f = (const void *)1;
	ck_assert_uint_eq(heap_frames(h, 0, &f), 0);
	ck_assert_ptr_null(f);
	heap_free(h);
	heap_free(NULL);
}
END_TEST

START_TEST(test_add_stack)
{
	struct heap_info info = { .exe = "/bin/x", .cmdline = "x" };
	struct heap *h = heap_new(&info);
	char fn[] = "parse", file[] = "/src/parse.c", mod[] = "/bin/x";
	struct heap_frame in[3] = {
		{ .function = fn, .file = file, .line = 40, .module = mod, .inlined = 5 },
		{ .function = "main", .file = file, .line = 9, .module = mod },
		{ .function = NULL, .file = NULL, .line = 0, .module = NULL },
	};
	struct heap_counter c = { .live_bytes = -5, .live_blocks = 2, .total_bytes = 99,
				  .total_blocks = 3 };
	ck_assert_uint_eq(heap_add_stack(h, &c, NULL, 0), 0);
	ck_assert_uint_eq(heap_add_stack(h, &c, in, 3), 1);

	/* Copied: changing the caller's strings changes nothing. */
	strcpy(fn, "XXXXX");
	strcpy(file, "/XXX/XXXXX.X");
	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(h, 1, &f), 3);
	ck_assert_str_eq(f[0].function, "parse");
	ck_assert_str_eq(f[0].file, "/src/parse.c");
	ck_assert_uint_eq(f[0].line, 40);
	ck_assert_int_eq(f[0].inlined, 1);
	ck_assert_str_eq(f[1].function, "main");
	ck_assert_int_eq(f[1].inlined, 0);
	ck_assert_ptr_null(f[2].function);
	ck_assert_ptr_null(f[2].file);
	ck_assert_ptr_null(f[2].module);
	/* Interned: one copy per distinct string, the exe's included. */
	ck_assert_ptr_eq(f[0].file, f[1].file);
	ck_assert_ptr_eq(f[0].module, heap_info(h)->exe);
	ck_assert_ptr_eq(heap_intern(h, "main", 4), f[1].function);
	ck_assert_ptr_eq(heap_intern(h, "mainly", 4), f[1].function);

	struct heap_counter got = heap_counter(h, 1);
	ck_assert_int_eq(got.live_bytes, -5);
	ck_assert_int_eq(got.live_blocks, 2);
	ck_assert_uint_eq(got.total_bytes, 99);
	ck_assert_uint_eq(got.total_blocks, 3);
	ck_assert_uint_eq(heap_frames(h, 0, &f), 0);
	heap_free(h);
}
END_TEST

/* Frames and strings stay where they are while the heap grows. */
START_TEST(test_frames_stable)
{
	struct heap_info info = { .exe = "", .cmdline = "" };
	struct heap *h = heap_new(&info);
	struct heap_counter c = { .total_blocks = 1 };
	struct heap_frame fr[4];
	const struct heap_frame *first = NULL;
	const char *first_fn = NULL;
	char name[64], file[64];
	for (uint32_t i = 0; i < 20000; i++) {
		snprintf(name, sizeof name, "fn_%u", i);
		snprintf(file, sizeof file, "/src/file_%u.c", i % 37);
		for (int j = 0; j < 4; j++)
			fr[j] = (struct heap_frame){ .function = name, .file = file,
						     .line = i, .module = "/m" };
		ck_assert_uint_eq(heap_add_stack(h, &c, fr, 1 + i % 4), i);
		if (i == 0) {
			heap_frames(h, 0, &first);
			first_fn = first[0].function;
		}
	}
	/* A big stack, bigger than a chunk. */
	size_t n = 10000;
	struct heap_frame *big = xcalloc(n, sizeof *big);
	for (size_t j = 0; j < n; j++)
		big[j] = (struct heap_frame){ .function = "deep", .line = (unsigned)j };
	ck_assert_uint_eq(heap_add_stack(h, &c, big, n), 20000);
	free(big);
	ck_assert_uint_eq(heap_add_stack(h, &c, fr, 1), 20001);

	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(h, 0, &f), 1);
	ck_assert_ptr_eq(f, first);
	ck_assert_ptr_eq(f[0].function, first_fn);
	ck_assert_str_eq(f[0].function, "fn_0");
	ck_assert_uint_eq(heap_frames(h, 19999, &f), 4);
	ck_assert_str_eq(f[3].function, "fn_19999");
	ck_assert_str_eq(f[3].file, "/src/file_19.c");
	ck_assert_ptr_eq(f[3].file, heap_intern(h, "/src/file_19.c", 14));
	ck_assert_uint_eq(heap_frames(h, 20000, &f), n);
	ck_assert_uint_eq(f[n - 1].line, n - 1);
	ck_assert_uint_eq(heap_frames(h, 20001, &f), 1);
	ck_assert_str_eq(f[0].function, "fn_19999");
	heap_free(h);
}
END_TEST

/* --- heaps over snapshots ------------------------------------------------ */

static uint8_t buf[1 << 16];

/* Stack ID has depth id % 4 (the overflow stack 0 has none); stacks
 * >= 8 have their pcs inside MODULE_PATH's range. */
static unsigned stack_depth(uint32_t id)
{
	return id % 4;
}

/* A stack whose pcs differ from the usual ones: a snapshot of another
 * process. */
static uint32_t odd_stack = UINT32_MAX;

static uint64_t stack_pc(uint32_t id, unsigned j)
{
	return (id >= 8 ? 0x400000 : 0x1000) + (uint64_t)id * 0x10 + j + (id == odd_stack ? 8 : 0);
}

static void put_hello(struct ht_writer *w, const char *exe)
{
	static const char cmd[] = "prog --flag";
	struct ht_hello h = {
		.pid = TEST_PID, .ppid = 1, .start_ns = TEST_START_NS, .depth = 64,
		.flags = HT_AGENT_SAMPLED, .sample_bytes = 512 * 1024, .max_stacks = 1000,
		.exe = exe, .exe_len = strlen(exe), .cmdline = cmd, .cmdline_len = strlen(cmd),
	};
	ht_encode_hello(w, &h);
}

static void put_modules(struct ht_writer *w)
{
	static const char p[] = MODULE_PATH;
	struct ht_module m = { .bias = 0x400000, .lo = 0x400000, .hi = 0x500000,
			       .path = p, .path_len = strlen(p) };
	size_t off = ht_frame_begin(w, HT_MSG_MODULES);
	ht_put_u32(w, 1);
	ht_put_u32(w, 1);
	ht_put_module(w, &m);
	ht_frame_end(w, off);
}

/* One snapshot: stacks FIRST .. FIRST+COUNT-1 sent, every stack < NCOUNTED
 * counted with values scaled by SCALE. */
static void put_snapshot(struct ht_writer *w, uint64_t seq, const char *exe, uint32_t first,
			 uint32_t count, uint32_t ncounted, int64_t scale, uint64_t gflags)
{
	put_hello(w, exe);
	if (seq == 1)
		put_modules(w);
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
	off = ht_frame_begin(w, HT_MSG_COUNTERS);
	ht_put_u32(w, ncounted);
	uint64_t next_id = 0;
	for (uint32_t id = 0; id < ncounted; id++) {
		struct ht_counter c = {
			.stack_id = id, .live_bytes = scale * id * 100, .live_blocks = scale * id,
			.total_bytes = (uint64_t)(scale * id * 1000),
			.total_blocks = (uint64_t)(scale * id * 10),
		};
		ht_put_counter(w, &c, &next_id);
	}
	ht_frame_end(w, off);
	struct ht_globals g = {
		.seq = seq, .realtime_ns = TEST_REALTIME_NS + seq, .live_bytes = 1234,
		.live_blocks = 5, .peak_bytes = 4096, .allocs = 10, .frees = 5,
		.total_bytes = 9999, .agent_bytes = 1 << 20, .untracked_blocks = 2,
		.untracked_bytes = 64, .stacks = first + count, .flags = gflags,
		.exit_status = 7,
	};
	ht_encode_globals(w, &g);
	ht_encode_end(w, seq);
}

static struct snapshot *load(const uint8_t *p, size_t n, struct snapshot *s)
{
	char *cause = NULL;
	if (s == NULL)
		s = snapshot_new();
	int r = snapshot_load_buffer(s, p, n, "test", &cause);
	ck_assert_msg(r == 0, "%s", cause);
	return s;
}

/* A snapshot of stacks 0..N-1 (seq 1, every one counted) and a
 * symbolizer that knows its modules. */
static struct snapshot *snapshot_with(uint32_t n, struct symbolizer **sym)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	put_snapshot(&w, 1, "/usr/bin/prog", 0, n, n, 1, 0);
	ck_assert(!w.overflow);
	struct snapshot *s = load(buf, w.len, NULL);
	*sym = symbolizer_new();
	heap_declare_modules(*sym, s);
	return s;
}

START_TEST(test_from_empty_snapshot)
{
	struct snapshot *s = snapshot_new();
	struct symbolizer *sym = symbolizer_new();
	struct heap *h = heap_from_snapshot(s, sym);
	ck_assert_uint_eq(heap_stack_count(h), 0);
	ck_assert_str_eq(heap_info(h)->exe, "");
	ck_assert_str_eq(heap_info(h)->cmdline, "");
	ck_assert_int_eq(heap_info(h)->final, 0);
	heap_free(h);
	symbolizer_free(sym);
	snapshot_free(s);
}
END_TEST

START_TEST(test_from_snapshot)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, sizeof buf);
	put_snapshot(&w, 1, "/usr/bin/prog", 0, 12, 12, 1, HT_GLOBAL_FINAL);
	ck_assert(!w.overflow);
	struct snapshot *s = load(buf, w.len, NULL);
	struct symbolizer *sym = symbolizer_new();
	heap_declare_modules(sym, s);
	heap_declare_modules(sym, s);
	struct symbolizer_stats st;
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.modules, 1);

	struct heap *h = heap_from_snapshot(s, sym);
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 0); /* nothing symbolized yet */

	const struct heap_info *hi = heap_info(h);
	ck_assert_uint_eq(hi->pid, TEST_PID);
	ck_assert_str_eq(hi->exe, "/usr/bin/prog");
	ck_assert_str_eq(hi->cmdline, "prog --flag");
	ck_assert_uint_eq(hi->start_ns, TEST_START_NS);
	ck_assert_uint_eq(hi->time_ns, TEST_REALTIME_NS + 1);
	ck_assert_uint_eq(hi->seq, 1);
	ck_assert_uint_eq(hi->live_bytes, 1234);
	ck_assert_uint_eq(hi->live_blocks, 5);
	ck_assert_uint_eq(hi->peak_bytes, 4096);
	ck_assert_uint_eq(hi->allocs, 10);
	ck_assert_uint_eq(hi->frees, 5);
	ck_assert_uint_eq(hi->total_bytes, 9999);
	ck_assert_uint_eq(hi->agent_bytes, 1 << 20);
	ck_assert_uint_eq(hi->untracked_blocks, 2);
	ck_assert_uint_eq(hi->untracked_bytes, 64);
	ck_assert_uint_eq(hi->agent_flags, HT_AGENT_SAMPLED);
	ck_assert_uint_eq(hi->sample_bytes, 512 * 1024);
	ck_assert_int_eq(hi->final, 1);
	ck_assert_int_eq(hi->exit_status, 7);

	/* Index == stack id; 0 is the overflow stack, without frames. */
	ck_assert_uint_eq(heap_stack_count(h), 12);
	ck_assert_int_eq(heap_counter(h, 3).live_bytes, 300);
	ck_assert_uint_eq(heap_counter(h, 3).total_blocks, 30);
	ck_assert_uint_eq(heap_counter(h, 12).total_blocks, 0);
	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(h, 0, &f), 0);

	/* No module holds these pcs: frames with nothing known. */
	ck_assert_uint_eq(heap_frames(h, 3, &f), 3);
	for (int j = 0; j < 3; j++) {
		ck_assert_ptr_null(f[j].function);
		ck_assert_ptr_null(f[j].file);
		ck_assert_ptr_null(f[j].module);
		ck_assert_uint_eq(f[j].line, 0);
		ck_assert_int_eq(f[j].inlined, 0);
	}
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 3);
	/* Asked again: the same frames, not symbolized again. */
	const struct heap_frame *again;
	ck_assert_uint_eq(heap_frames(h, 3, &again), 3);
	ck_assert_ptr_eq(again, f);
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 3);

	/* In the module (which cannot be opened): its path is known. */
	ck_assert_uint_eq(heap_frames(h, 10, &f), 2);
	ck_assert_str_eq(f[0].module, MODULE_PATH);
	ck_assert_str_eq(f[1].module, MODULE_PATH);
	ck_assert(heap_address_name(f[0].function));
	heap_free(h);
	symbolizer_free(sym);
	snapshot_free(s);
}
END_TEST

/* Heaps from one shared store symbolize each stack once between them, and
 * a heap's frames outlive the heap that made them while the store lives. */
START_TEST(test_shared_frames)
{
	struct symbolizer *sym;
	struct snapshot *s = snapshot_with(12, &sym);
	struct heap_shared *sh = heap_shared_new(s, sym);
	struct symbolizer_stats st;

	struct heap *a = heap_from_shared(sh);
	const struct heap_frame *fa, *fb;
	ck_assert_uint_eq(heap_frames(a, 3, &fa), 3);
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 3);
	heap_free(a); /* the store keeps its frames */

	struct heap *b = heap_from_shared(sh);
	ck_assert_uint_eq(heap_counter(b, 3).live_bytes, 300);
	ck_assert_uint_eq(heap_frames(b, 3, &fb), 3);
	ck_assert_ptr_eq(fb, fa);
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 3); /* not symbolized again */

	/* The holder may let go first: the heap keeps the store alive. */
	heap_shared_unref(sh);
	ck_assert_uint_eq(heap_frames(b, 10, &fb), 2);
	ck_assert_str_eq(fb[0].module, MODULE_PATH);
	heap_free(b);
	symbolizer_free(sym);
	snapshot_free(s);
}
END_TEST

/* The live-at-exit snapshot lists the live session's stacks again: the
 * store takes it as its source and keeps the frames it has. */
START_TEST(test_shared_extend)
{
	struct ht_writer w;
	struct symbolizer *sym;
	struct snapshot *s = snapshot_with(12, &sym);
	struct heap_shared *sh = heap_shared_new(s, sym);
	struct symbolizer_stats st;
	struct heap *a = heap_from_shared(sh);
	const struct heap_frame *fa, *fb;
	ck_assert_uint_eq(heap_frames(a, 9, &fa), 1);

	ht_writer_init(&w, buf, sizeof buf);
	put_snapshot(&w, 1, "/usr/bin/prog", 0, 20, 20, 2, HT_GLOBAL_FINAL);
	struct snapshot *fin = load(buf, w.len, NULL);
	ck_assert_int_eq(heap_shared_extend(sh, fin), 0);
	struct heap *b = heap_from_shared(sh);
	ck_assert_uint_eq(heap_stack_count(b), 20);
	ck_assert(heap_info(b)->final);
	ck_assert_int_eq(heap_counter(b, 5).live_bytes, 1000);
	ck_assert_int_eq(heap_counter(a, 5).live_bytes, 500);
	ck_assert_uint_eq(heap_frames(b, 9, &fb), 1);
	ck_assert_ptr_eq(fb, fa);
	symbolizer_get_stats(sym, &st);
	ck_assert_uint_eq(st.lookups, 1); /* stack 9 was not symbolized again */
	ck_assert_uint_eq(heap_frames(b, 15, &fb), 3);
	ck_assert(same_str(fb[0].module, MODULE_PATH));
	ck_assert_int_eq(heap_shared_extend(sh, fin), 0); /* again: no change */

	/* Fewer stacks, or one that differs: another process's; refused. */
	ht_writer_init(&w, buf, sizeof buf);
	put_snapshot(&w, 1, "/usr/bin/prog", 0, 10, 10, 3, HT_GLOBAL_FINAL);
	struct snapshot *fewer = load(buf, w.len, NULL);
	ck_assert_int_eq(heap_shared_extend(sh, fewer), -1);
	odd_stack = 14;
	ht_writer_init(&w, buf, sizeof buf);
	put_snapshot(&w, 1, "/usr/bin/prog", 0, 30, 30, 3, HT_GLOBAL_FINAL);
	odd_stack = UINT32_MAX;
	struct snapshot *other = load(buf, w.len, NULL);
	ck_assert_int_eq(heap_shared_extend(sh, other), -1);
	struct heap *c = heap_from_shared(sh);
	ck_assert_uint_eq(heap_stack_count(c), 20); /* still FIN's */
	ck_assert_int_eq(heap_counter(c, 5).live_bytes, 1000);

	heap_free(c);
	heap_free(b);
	heap_free(a);
	heap_shared_unref(sh);
	symbolizer_free(sym);
	snapshot_free(other);
	snapshot_free(fewer);
	snapshot_free(fin);
	snapshot_free(s);
}
END_TEST

/* A heap is a frozen view: later snapshots into S change nothing in it. */
START_TEST(test_snapshot_frozen)
{
	struct ht_writer w;
	struct symbolizer *sym;
	struct snapshot *s = snapshot_with(8, &sym);
	struct heap *h = heap_from_snapshot(s, sym);
	const struct heap_frame *f1;
	ck_assert_uint_eq(heap_frames(h, 1, &f1), 1);

	/* Two more snapshots: the first HELLO's strings are freed by now, and
	 * the pcs array has grown (and moved). */
	for (uint64_t seq = 2; seq <= 3; seq++) {
		ht_writer_init(&w, buf, sizeof buf);
		put_snapshot(&w, seq, "/usr/bin/prog", (uint32_t)(seq - 1) * 200 - 192, 200,
			     (uint32_t)(seq - 1) * 200 + 8, 3, 0);
		ck_assert(!w.overflow);
		load(buf, w.len, s);
	}
	ck_assert_uint_eq(snapshot_stack_count(s), 408);
	ck_assert_int_eq(snapshot_counter(s, 5).live_bytes, 1500);

	ck_assert_uint_eq(heap_stack_count(h), 8);
	ck_assert_int_eq(heap_counter(h, 5).live_bytes, 500);
	ck_assert_uint_eq(heap_info(h)->seq, 1);
	ck_assert_str_eq(heap_info(h)->exe, "/usr/bin/prog");
	ck_assert_str_eq(heap_info(h)->cmdline, "prog --flag");
	/* Stacks not asked for before still get their own frames. */
	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(h, 7, &f), 3);
	ck_assert_uint_eq(heap_frames(h, 1, &f), 1);
	ck_assert_ptr_eq(f, f1);
	ck_assert_uint_eq(heap_frames(h, 8, &f), 0);

	/* A new heap sees the newest snapshot. */
	struct heap *h2 = heap_from_snapshot(s, sym);
	ck_assert_uint_eq(heap_stack_count(h2), 408);
	ck_assert_uint_eq(heap_info(h2)->seq, 3);
	ck_assert_int_eq(heap_counter(h2, 5).live_bytes, 1500);
	ck_assert_uint_eq(heap_frames(h2, 403, &f), 3);
	ck_assert(same_str(f[0].module, MODULE_PATH));
	ck_assert_uint_eq(heap_frames(h2, 11, &f), 3);
	ck_assert(same_str(f[2].module, MODULE_PATH));
	heap_free(h2);
	heap_free(h);
	symbolizer_free(sym);
	snapshot_free(s);
}
END_TEST

static Suite *heap_suite(void)
{
	Suite *su = suite_create("heap");
	TCase *tc = tcase_create("by hand");
	tcase_add_test(tc, test_new_empty);
	tcase_add_test(tc, test_add_stack);
	tcase_add_test(tc, test_frames_stable);
	suite_add_tcase(su, tc);
	tc = tcase_create("snapshot");
	tcase_add_test(tc, test_from_empty_snapshot);
	tcase_add_test(tc, test_from_snapshot);
	tcase_add_test(tc, test_snapshot_frozen);
	tcase_add_test(tc, test_shared_frames);
	tcase_add_test(tc, test_shared_extend);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(heap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
