/* Unit tests for snapshot files: round trips, and bad files of every kind. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/heap.h"
#include "viewer/snapfile.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define ck_assert_cause(cause, needle)                                                 \
	ck_assert_msg((cause) != NULL && strstr((cause), (needle)) != NULL,            \
		      "cause \"%s\" lacks \"%s\"", (cause) ? (cause) : "(null)", (needle))

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test_snapfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* The bytes of PATH, in a buffer of exactly their size (so that ASan sees
 * any over-read). */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	uint8_t *p = xmalloc((size_t)n);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* --- heaps to save ------------------------------------------------------ */

static char *long_string(size_t n, char c)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A heap with a bit of everything; with BIG, strings longer than any
 * limit of the wire protocol. */
static struct heap *make_heap(int big)
{
	char *cmd = big ? long_string(10000, 'c') : xstrdup("prog --size 3 «ünï»");
	struct heap_info info = {
		.pid = 31337, .exe = "/opt/prögram/bin/🐘", .cmdline = cmd,
		.start_ns = 1700000000000000000ull, .time_ns = 1700000001000000000ull,
		.seq = 42, .live_bytes = 1 << 20, .live_blocks = 100, .peak_bytes = 2 << 20,
		.allocs = 1000, .frees = 900, .total_bytes = 5 << 20, .agent_bytes = 65536,
		.untracked_blocks = 3, .untracked_bytes = 300,
		.agent_flags = HT_AGENT_SAMPLED | HT_AGENT_FRAME_POINTERS,
		.sample_bytes = 524288, .final = 1, .exit_status = -3,
	};
	struct heap *h = heap_new(&info);
	free(cmd);
	char *fn = big ? long_string(100000, 'f') : xstrdup("std::vector<int>::_M_realloc");
	struct heap_frame fr[] = {
		{ .function = "inner", .file = "/src/a.c", .line = 10, .module = "/bin/p",
		  .inlined = 1 },
		{ .function = fn, .file = "/src/a.c", .line = 20, .module = "/bin/p" },
		{ .function = NULL, .file = NULL, .line = 0, .module = "/lib/libc.so.6" },
		{ .function = NULL, .file = NULL, .line = 0, .module = NULL },
		{ .function = "", .file = "", .line = 4294967295u, .module = "/bin/p" },
		{ .function = "日本語", .file = "/src/ü.c", .line = 7, .module = "/bin/p",
		  .inlined = 1 },
	};
	/* The overflow stack (no frames), a stack that never allocated (not
	 * saved), and stacks with negative (sampled) live estimates. */
	struct heap_counter c0 = { .live_bytes = 64, .live_blocks = 1, .total_bytes = 64,
				   .total_blocks = 1 };
	struct heap_counter none = { 0 };
	struct heap_counter c2 = { .live_bytes = -524288, .live_blocks = -1,
				   .total_bytes = UINT64_MAX, .total_blocks = 7 };
	heap_add_stack(h, &c0, NULL, 0);
	heap_add_stack(h, &none, fr, 2);
	heap_add_stack(h, &c2, fr, 6);
	for (uint32_t i = 0; i < 20; i++) {
		struct heap_counter c = { .live_bytes = i * 16, .live_blocks = i,
					  .total_bytes = i * 32 + 1, .total_blocks = i + 1 };
		heap_add_stack(h, &c, fr + i % 6, 6 - i % 6);
	}
	free(fn);
	return h;
}

/* NULL-aware string equality. */
static int same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void expect_same_info(const struct heap_info *a, const struct heap_info *b)
{
	ck_assert_uint_eq(a->pid, b->pid);
	ck_assert_str_eq(a->exe, b->exe);
	ck_assert_str_eq(a->cmdline, b->cmdline);
	ck_assert_uint_eq(a->start_ns, b->start_ns);
	ck_assert_uint_eq(a->time_ns, b->time_ns);
	ck_assert_uint_eq(a->seq, b->seq);
	ck_assert_uint_eq(a->live_bytes, b->live_bytes);
	ck_assert_uint_eq(a->live_blocks, b->live_blocks);
	ck_assert_uint_eq(a->peak_bytes, b->peak_bytes);
	ck_assert_uint_eq(a->allocs, b->allocs);
	ck_assert_uint_eq(a->frees, b->frees);
	ck_assert_uint_eq(a->total_bytes, b->total_bytes);
	ck_assert_uint_eq(a->agent_bytes, b->agent_bytes);
	ck_assert_uint_eq(a->untracked_blocks, b->untracked_blocks);
	ck_assert_uint_eq(a->untracked_bytes, b->untracked_bytes);
	ck_assert_uint_eq(a->agent_flags, b->agent_flags);
	ck_assert_uint_eq(a->sample_bytes, b->sample_bytes);
	ck_assert_int_eq(a->final, b->final);
	ck_assert_int_eq(a->exit_status, b->exit_status);
}

/* B holds exactly the stacks of A that ever allocated, in order. */
static void expect_same_heap(struct heap *a, struct heap *b)
{
	expect_same_info(heap_info(a), heap_info(b));
	uint32_t j = 0;
	for (uint32_t i = 0; i < heap_stack_count(a); i++) {
		struct heap_counter ca = heap_counter(a, i);
		if (ca.total_blocks == 0)
			continue;
		ck_assert_uint_lt(j, heap_stack_count(b));
		struct heap_counter cb = heap_counter(b, j);
		ck_assert_int_eq(ca.live_bytes, cb.live_bytes);
		ck_assert_int_eq(ca.live_blocks, cb.live_blocks);
		ck_assert_uint_eq(ca.total_bytes, cb.total_bytes);
		ck_assert_uint_eq(ca.total_blocks, cb.total_blocks);
		const struct heap_frame *fa, *fb;
		size_t n = heap_frames(a, i, &fa);
		ck_assert_uint_eq(heap_frames(b, j, &fb), n);
		for (size_t k = 0; k < n; k++) {
			ck_assert(same_str(fa[k].function, fb[k].function));
			ck_assert(same_str(fa[k].file, fb[k].file));
			ck_assert(same_str(fa[k].module, fb[k].module));
			ck_assert_uint_eq(fa[k].line, fb[k].line);
			ck_assert_int_eq(!!fa[k].inlined, !!fb[k].inlined);
		}
		j++;
	}
	ck_assert_uint_eq(j, heap_stack_count(b));
}

/* Save H to a file in tmpdir; returns its path. */
static char *save(struct heap *h, const char *name)
{
	char *path = tmp_path(name);
	char *cause = NULL;
	int r = snapfile_save(path, h, &cause);
	ck_assert_msg(r == 0, "%s", cause);
	return path;
}

/* --- round trips ---------------------------------------------------------- */

START_TEST(test_round_trip)
{
	make_tmpdir();
	for (int big = 0; big <= 1; big++) {
		struct heap *h = make_heap(big);
		char *path = save(h, "snap.htsnap");
		char *cause = NULL;
		struct heap *l = snapfile_load(path, &cause);
		ck_assert_msg(l != NULL, "%s", cause);
		ck_assert_uint_eq(heap_stack_count(l), heap_stack_count(h) - 1);
		expect_same_heap(h, l);
		/* The loaded heap interns its strings like any other. */
		const struct heap_frame *f;
		ck_assert_uint_eq(heap_frames(l, 1, &f), 6);
		ck_assert_ptr_eq(f[0].file, f[1].file);
		ck_assert_int_eq(f[0].inlined, 1);
		ck_assert_int_eq(f[1].inlined, 0);
		ck_assert_ptr_null(f[3].module);
		ck_assert_str_eq(f[4].function, "");
		ck_assert_uint_eq(heap_frames(l, 0, &f), 0);
		if (big) {
			ck_assert_uint_eq(strlen(heap_info(l)->cmdline), 10000);
			ck_assert_uint_eq(heap_frames(l, 1, &f), 6);
			ck_assert_uint_eq(strlen(f[1].function), 100000);
		}

		/* Private, complete, and no temporary file left behind. */
		struct stat st;
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0600);
		char *tmp = xasprintf("%s.tmp", path);
		ck_assert_int_ne(access(tmp, F_OK), 0);
		free(tmp);

		/* Saving a loaded heap gives the same bytes. */
		char *again = save(l, "again.htsnap");
		size_t n1, n2;
		uint8_t *b1 = read_file(path, &n1), *b2 = read_file(again, &n2);
		ck_assert_uint_eq(n1, n2);
		ck_assert(memcmp(b1, b2, n1) == 0);
		free(b1);
		free(b2);
		free(again);
		heap_free(l);
		heap_free(h);
		free(path);
	}
	remove_tmpdir();
}
END_TEST

START_TEST(test_zero_stacks)
{
	make_tmpdir();
	struct heap_info info = { .pid = 1, .exe = "", .cmdline = "" };
	struct heap *h = heap_new(&info);
	char *path = save(h, "empty.htsnap");
	char *cause = NULL;
	struct heap *l = snapfile_load(path, &cause);
	ck_assert_msg(l != NULL, "%s", cause);
	ck_assert_uint_eq(heap_stack_count(l), 0);
	expect_same_heap(h, l);
	heap_free(l);

	/* Stacks that never allocated are not saved either. */
	struct heap_counter none = { .live_bytes = 0 };
	heap_add_stack(h, &none, NULL, 0);
	ck_assert_int_eq(snapfile_save(path, h, &cause), 0);
	l = snapfile_load(path, &cause);
	ck_assert_msg(l != NULL, "%s", cause);
	ck_assert_uint_eq(heap_stack_count(l), 0);
	heap_free(l);
	heap_free(h);
	free(path);
	remove_tmpdir();
}
END_TEST

START_TEST(test_save_errors)
{
	make_tmpdir();
	struct heap *h = make_heap(0);
	char *path = tmp_path("no/such/dir/snap.htsnap");
	char *cause = NULL;
	ck_assert_int_eq(snapfile_save(path, h, &cause), -1);
	/* The directory is at fault: the file asked for is named. */
	ck_assert_cause(cause, "no/such/dir/snap.htsnap: No such file or directory");
	free(cause);
	free(path);

	/* A failed save leaves the old file alone. */
	path = save(h, "keep.htsnap");
	char *dir = tmp_path("keep.htsnap.tmp");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(snapfile_save(path, h, &cause), -1);
	/* Something in the temporary's way: named too. */
	ck_assert_cause(cause, "keep.htsnap: writing ");
	ck_assert_cause(cause, "keep.htsnap.tmp: Is a directory");
	free(cause);
	struct heap *l = snapfile_load(path, &cause);
	ck_assert_ptr_nonnull(l);
	heap_free(l);
	free(dir);
	free(path);

	path = tmp_path("missing.htsnap");
	ck_assert_ptr_null(snapfile_load(path, &cause));
	ck_assert_cause(cause, "missing.htsnap: No such file or directory");
	free(cause);
	free(path);
	heap_free(h);
	remove_tmpdir();
}
END_TEST

/* --- a heap from a snapshot --------------------------------------------- */

#define MODULE_PATH "/nonexistent/heaptop-test/prog"

/* A frame stream like the agent's live-at-exit file: stacks 0..3 (stack i
 * has depth i), stack 3 in MODULE_PATH, each counted i times. */
static size_t put_stream(uint8_t *buf, size_t cap)
{
	struct ht_writer w;
	ht_writer_init(&w, buf, cap);
	static const char exe[] = "/usr/bin/prog", cmd[] = "prog";
	struct ht_hello hello = { .pid = 99, .start_ns = 5, .exe = exe, .exe_len = strlen(exe),
				  .cmdline = cmd, .cmdline_len = strlen(cmd) };
	ht_encode_hello(&w, &hello);
	size_t off = ht_frame_begin(&w, HT_MSG_MODULES);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 1);
	struct ht_module m = { .bias = 0x400000, .lo = 0x400000, .hi = 0x500000,
			       .path = MODULE_PATH, .path_len = strlen(MODULE_PATH) };
	ht_put_module(&w, &m);
	ht_frame_end(&w, off);
	off = ht_frame_begin(&w, HT_MSG_STACKS);
	ht_put_u32(&w, 0);
	ht_put_u32(&w, 4);
	for (unsigned id = 0; id < 4; id++) {
		uint64_t pcs[3];
		for (unsigned j = 0; j < id; j++)
			pcs[j] = (id == 3 ? 0x400100 : 0x1000) + j;
		ht_put_stack(&w, pcs, id);
	}
	ht_frame_end(&w, off);
	off = ht_frame_begin(&w, HT_MSG_COUNTERS);
	ht_put_u32(&w, 4);
	uint64_t next_id = 0;
	for (uint32_t id = 0; id < 4; id++) {
		struct ht_counter c = { .stack_id = id, .live_bytes = id * 8, .live_blocks = id,
					.total_bytes = id * 8, .total_blocks = id };
		ht_put_counter(&w, &c, &next_id);
	}
	ht_frame_end(&w, off);
	struct ht_globals g = { .seq = 1, .flags = HT_GLOBAL_FINAL, .exit_status = 2 };
	ht_encode_globals(&w, &g);
	ht_encode_end(&w, 1);
	ck_assert(!w.overflow);
	return w.len;
}

START_TEST(test_from_snapshot)
{
	make_tmpdir();
	static uint8_t buf[4096];
	size_t len = put_stream(buf, sizeof buf);
	char *raw_path = tmp_path("final.bin");
	write_file(raw_path, buf, len);

	struct symbolizer *sym = symbolizer_new();
	struct snapshot *raw = NULL;
	char *cause = NULL;
	struct heap *h = snapfile_load_any(raw_path, sym, &raw, &cause);
	ck_assert_msg(h != NULL, "%s", cause);
	ck_assert_ptr_nonnull(raw);
	ck_assert_uint_eq(heap_stack_count(h), 4);
	ck_assert_int_eq(heap_info(h)->final, 1);
	ck_assert_int_eq(heap_info(h)->exit_status, 2);

	/* Saving symbolizes: the frames are in the file, the binaries are not
	 * needed to read it. */
	char *path = save(h, "final.htsnap");
	struct heap *l = snapfile_load(path, &cause);
	ck_assert_msg(l != NULL, "%s", cause);
	ck_assert_uint_eq(heap_stack_count(l), 3); /* stack 0 never allocated */
	expect_same_heap(h, l);
	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(l, 2, &f), 3);
	ck_assert_str_eq(f[0].module, MODULE_PATH);
	ck_assert(heap_address_name(f[0].function));
	heap_free(l);

	/* snapfile_load_any reads snapshot files too, without SYM. */
	struct snapshot *none = (struct snapshot *)1;
	l = snapfile_load_any(path, NULL, &none, &cause);
	ck_assert_msg(l != NULL, "%s", cause);
	ck_assert_ptr_null(none);
	expect_same_heap(h, l);
	heap_free(l);

	/* A frame stream is not a snapshot file, and garbage is neither. */
	ck_assert_ptr_null(snapfile_load(raw_path, &cause));
	ck_assert_cause(cause, "final.bin: not a heaptop snapshot file");
	free(cause);
	write_file(raw_path, buf, len - 1);
	ck_assert_ptr_null(snapfile_load_any(raw_path, sym, &none, &cause));
	ck_assert_ptr_null(none);
	ck_assert_cause(cause, "final.bin: truncated at byte");
	free(cause);
	write_file(raw_path, "garbage\n", 8);
	ck_assert_ptr_null(snapfile_load_any(raw_path, sym, &none, &cause));
	ck_assert_cause(cause, "final.bin: not a heaptop snapshot file");
	free(cause);

	heap_free(h);
	snapshot_free(raw);
	symbolizer_free(sym);
	free(path);
	free(raw_path);
	remove_tmpdir();
}
END_TEST

/* --- bad files ------------------------------------------------------------ */

/* The bytes of a saved snapshot file of make_heap(BIG). */
static uint8_t *saved_bytes(int big, size_t *len)
{
	make_tmpdir();
	struct heap *h = make_heap(big);
	char *path = save(h, "s.htsnap");
	uint8_t *p = read_file(path, len);
	heap_free(h);
	free(path);
	remove_tmpdir();
	return p;
}

/* Load the LEN bytes at P from an exact-size copy. */
static struct heap *load_copy(const uint8_t *p, size_t len, char **cause)
{
	uint8_t *copy = xmalloc(len);
	memcpy(copy, p, len);
	struct heap *h = snapfile_load_buffer(copy, len, "x", cause);
	free(copy);
	return h;
}

/* Every frame and string of H, read; ASan checks they are sound. */
static void walk(struct heap *h)
{
	size_t sum = strlen(heap_info(h)->exe) + strlen(heap_info(h)->cmdline);
	for (uint32_t i = 0; i < heap_stack_count(h); i++) {
		const struct heap_frame *f;
		size_t n = heap_frames(h, i, &f);
		for (size_t k = 0; k < n; k++)
			sum += (f[k].function ? strlen(f[k].function) : 0) +
			       (f[k].file ? strlen(f[k].file) : 0) +
			       (f[k].module ? strlen(f[k].module) : 0);
	}
	ck_assert_uint_lt(sum, SIZE_MAX);
}

START_TEST(test_truncated_everywhere)
{
	size_t len;
	uint8_t *p = saved_bytes(0, &len);
	char *cause = NULL;
	struct heap *h = load_copy(p, len, &cause);
	ck_assert_msg(h != NULL, "%s", cause);
	heap_free(h);
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_msg(load_copy(p, cut, &cause) == NULL, "prefix of %zu bytes loaded", cut);
		if (cut == 0) {
			ck_assert_str_eq(cause, "x: empty, not a heaptop snapshot file");
		} else {
			char *want = xasprintf("x: truncated at byte %zu", cut);
			ck_assert_str_eq(cause, want);
			free(want);
		}
		free(cause);
	}
	free(p);

	/* The same through a file, with its name. */
	p = saved_bytes(0, &len);
	make_tmpdir();
	char *path = tmp_path("cut.htsnap");
	write_file(path, p, len / 2);
	ck_assert_ptr_null(snapfile_load(path, &cause));
	char *want = xasprintf("%s: truncated at byte %zu", path, len / 2);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	free(path);
	free(p);
	remove_tmpdir();
}
END_TEST

/* Every single-byte change is either still a valid file or an error. */
START_TEST(test_corrupt_each_byte)
{
	size_t len;
	uint8_t *p = saved_bytes(0, &len);
	uint8_t *copy = xmalloc(len);
	static const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < len; i++) {
		for (size_t v = 0; v < sizeof values; v++) {
			memcpy(copy, p, len);
			copy[i] = values[v];
			char *cause = NULL;
			struct heap *h = snapfile_load_buffer(copy, len, "x", &cause);
			ck_assert(h != NULL || cause != NULL);
			if (h != NULL)
				walk(h);
			heap_free(h);
			free(cause);
		}
	}
	free(copy);
	free(p);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Random multi-byte damage, a fixed seed so that a failure repeats. */
START_TEST(test_corrupt_random)
{
	for (int big = 0; big <= 1; big++) {
		size_t len;
		uint8_t *p = saved_bytes(big, &len);
		uint8_t *copy = xmalloc(len);
		int loaded = 0, failed = 0;
		for (int iter = 0; iter < (big ? 300 : 20000); iter++) {
			memcpy(copy, p, len);
			int k = 1 + (int)(rng() % 8);
			for (int j = 0; j < k; j++)
				copy[rng() % len] = (uint8_t)rng();
			/* Sometimes cut it too. */
			size_t n = rng() % 4 == 0 ? rng() % len : len;
			char *cause = NULL;
			struct heap *h = load_copy(copy, n, &cause);
			ck_assert(h != NULL || cause != NULL);
			if (h != NULL) {
				walk(h);
				loaded++;
			} else {
				ck_assert_ptr_null(strchr(cause, '\n'));
				failed++;
			}
			heap_free(h);
			free(cause);
		}
		ck_assert_int_gt(failed, 0);
		free(copy);
		free(p);
	}
}
END_TEST

START_TEST(test_bad_magic_and_version)
{
	size_t len;
	uint8_t *p = saved_bytes(0, &len);
	char *cause = NULL;

	p[5] = 'X';
	ck_assert_ptr_null(load_copy(p, len, &cause));
	ck_assert_str_eq(cause, "x: not a heaptop snapshot file");
	free(cause);
	p[5] = 'P';
	ck_assert_ptr_null(load_copy((const uint8_t *)"hello", 5, &cause));
	ck_assert_str_eq(cause, "x: not a heaptop snapshot file");
	free(cause);

	/* Version 7, from some future heaptop. */
	p[8] = 7;
	ck_assert_ptr_null(load_copy(p, len, &cause));
	ck_assert_cause(cause, "x: unsupported snapshot version 7");
	free(cause);
	p[8] = 0;
	ck_assert_ptr_null(load_copy(p, len, &cause));
	ck_assert_cause(cause, "x: unsupported snapshot version 0");
	free(cause);
	p[8] = 1;
	struct heap *h = load_copy(p, len, &cause);
	ck_assert_ptr_nonnull(h);
	heap_free(h);
	free(p);
}
END_TEST

/* --- hand-made files ------------------------------------------------------ */

static uint8_t fbuf[4096];

static void put_header(struct ht_writer *w)
{
	ht_writer_init(w, fbuf, sizeof fbuf);
	ht_put_bytes(w, "HTSNAP\0\1", 8);
	ht_put_u32(w, 1);
}

static size_t section_begin(struct ht_writer *w, uint32_t id)
{
	size_t off = w->len;
	ht_put_u32(w, id);
	ht_put_u64(w, 0);
	return off;
}

static void section_end(struct ht_writer *w, size_t off)
{
	ht_patch_u32(w, off + 4, (uint32_t)(w->len - off - 12));
}

static void put_str(struct ht_writer *w, const char *s)
{
	ht_put_u32(w, (uint32_t)strlen(s));
	ht_put_bytes(w, s, strlen(s));
}

static void put_info(struct ht_writer *w)
{
	size_t off = section_begin(w, 1);
	ht_put_u32(w, 5);
	for (int i = 0; i < 12; i++)
		ht_put_u64(w, (uint64_t)i);
	ht_put_u32(w, 0);
	ht_put_u64(w, 0);
	ht_put_u32(w, 1);
	ht_put_u32(w, 0);
	put_str(w, "/bin/x");
	put_str(w, "x");
	section_end(w, off);
}

static void put_strings(struct ht_writer *w, uint32_t n)
{
	size_t off = section_begin(w, 2);
	ht_put_u32(w, n);
	for (uint32_t k = 0; k < n; k++)
		put_str(w, k == 0 ? "main" : "/src/x.c");
	section_end(w, off);
}

/* STACKS with one stack of one frame naming strings FN and FILE; returns
 * the offset of the frame's first field. */
static size_t put_one_stack(struct ht_writer *w, uint32_t fn, uint32_t file)
{
	size_t off = section_begin(w, 3);
	ht_put_u32(w, 1);
	for (int i = 0; i < 4; i++)
		ht_put_u64(w, 1);
	ht_put_u32(w, 1);
	size_t at = w->len;
	ht_put_u32(w, fn);
	ht_put_u32(w, file);
	ht_put_u32(w, 0);
	ht_put_u32(w, 12);
	uint8_t flags = 1;
	ht_put_bytes(w, &flags, 1);
	section_end(w, off);
	return at;
}

static void put_end(struct ht_writer *w)
{
	size_t off = section_begin(w, 4);
	section_end(w, off);
}

/* Load FBUF's first LEN bytes; expect a failure whose cause is WANT. */
static void expect_error(size_t len, const char *want)
{
	char *cause = NULL;
	struct heap *h = load_copy(fbuf, len, &cause);
	ck_assert_msg(h == NULL, "loaded, wanted \"%s\"", want);
	ck_assert_str_eq(cause, want);
	free(cause);
}

START_TEST(test_hand_made)
{
	struct ht_writer w;
	put_header(&w);
	put_info(&w);
	put_strings(&w, 2);
	put_one_stack(&w, 1, 2);
	put_end(&w);
	char *cause = NULL;
	struct heap *h = load_copy(fbuf, w.len, &cause);
	ck_assert_msg(h != NULL, "%s", cause);
	ck_assert_uint_eq(heap_info(h)->pid, 5);
	ck_assert_uint_eq(heap_info(h)->untracked_bytes, 11);
	ck_assert_int_eq(heap_info(h)->final, 1);
	const struct heap_frame *f;
	ck_assert_uint_eq(heap_frames(h, 0, &f), 1);
	ck_assert_str_eq(f[0].function, "main");
	ck_assert_str_eq(f[0].file, "/src/x.c");
	ck_assert_ptr_null(f[0].module);
	ck_assert_uint_eq(f[0].line, 12);
	ck_assert_int_eq(f[0].inlined, 1);
	heap_free(h);

	/* Trailing bytes after END. */
	ht_put_u32(&w, 0);
	char *want = xasprintf("x: trailing bytes after the end section at byte %zu", w.len - 4);
	expect_error(w.len, want);
	free(want);
}
END_TEST

START_TEST(test_index_out_of_range)
{
	struct ht_writer w;
	put_header(&w);
	put_info(&w);
	put_strings(&w, 2);
	size_t at = put_one_stack(&w, 1, 3);
	put_end(&w);
	char *want = xasprintf("x: string index out of range at byte %zu", at + 4);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	put_strings(&w, 0);
	at = put_one_stack(&w, 1, 0);
	put_end(&w);
	want = xasprintf("x: string index out of range at byte %zu", at);
	expect_error(w.len, want);
	free(want);
}
END_TEST

/* Unknown sections are skipped; known ones must come in order. */
START_TEST(test_sections)
{
	struct ht_writer w;
	put_header(&w);
	size_t off = section_begin(&w, 99);
	ht_put_bytes(&w, "future", 6);
	section_end(&w, off);
	put_info(&w);
	put_strings(&w, 2);
	off = section_begin(&w, 0);
	section_end(&w, off);
	put_one_stack(&w, 1, 2);
	put_end(&w);
	char *cause = NULL;
	struct heap *h = load_copy(fbuf, w.len, &cause);
	ck_assert_msg(h != NULL, "%s", cause);
	ck_assert_uint_eq(heap_stack_count(h), 1);
	heap_free(h);

	put_header(&w);
	put_info(&w);
	off = w.len;
	put_one_stack(&w, 0, 0);
	put_end(&w);
	char *want = xasprintf("x: stacks section where the strings section belongs at byte %zu",
			       off);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	off = w.len;
	put_info(&w);
	want = xasprintf("x: info section where the strings section belongs at byte %zu", off);
	expect_error(w.len, want);
	free(want);

	/* A section longer than the file. */
	put_header(&w);
	off = section_begin(&w, 1);
	ht_put_u32(&w, 5);
	section_end(&w, off);
	ht_patch_u32(&w, off + 8, 1);
	want = xasprintf("x: truncated at byte %zu", w.len);
	expect_error(w.len, want);
	free(want);

	/* A section with bytes its contents do not use. */
	put_header(&w);
	put_info(&w);
	off = section_begin(&w, 2);
	ht_put_u32(&w, 0);
	ht_put_u32(&w, 0);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: trailing bytes in the strings section at byte %zu", off + 16);
	expect_error(w.len, want);
	free(want);

	/* A section too short for its fixed fields. */
	put_header(&w);
	off = section_begin(&w, 1);
	ht_put_u32(&w, 5);
	section_end(&w, off);
	put_end(&w);
	expect_error(w.len, "x: info section too short at byte 24");

	/* END must be empty... */
	put_header(&w);
	put_info(&w);
	put_strings(&w, 0);
	put_one_stack(&w, 0, 0);
	off = section_begin(&w, 4);
	ht_put_u32(&w, 0);
	section_end(&w, off);
	want = xasprintf("x: trailing bytes in the end section at byte %zu", off + 12);
	expect_error(w.len, want);
	free(want);
}
END_TEST

START_TEST(test_bad_counts_and_strings)
{
	struct ht_writer w;
	put_header(&w);
	put_info(&w);
	size_t off = section_begin(&w, 2);
	ht_put_u32(&w, 0xffffffffu);
	put_str(&w, "x");
	section_end(&w, off);
	put_end(&w);
	char *want = xasprintf("x: string count exceeds its section at byte %zu", off + 12);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	off = section_begin(&w, 2);
	ht_put_u32(&w, 1);
	ht_put_bytes(&w, "\x03\0\0\0a\0b", 7);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: string with a NUL byte at byte %zu", off + 16);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	off = section_begin(&w, 2);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 0x7fffffffu);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: string too long at byte %zu", off + 16);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	off = section_begin(&w, 2);
	ht_put_u32(&w, 1);
	ht_put_u32(&w, 100);
	ht_put_bytes(&w, "abcd", 4);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: string past the end of its section at byte %zu", off + 16);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	put_strings(&w, 0);
	off = section_begin(&w, 3);
	ht_put_u32(&w, 1000);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: stack count exceeds its section at byte %zu", off + 12);
	expect_error(w.len, want);
	free(want);

	put_header(&w);
	put_info(&w);
	put_strings(&w, 0);
	off = section_begin(&w, 3);
	ht_put_u32(&w, 1);
	for (int i = 0; i < 4; i++)
		ht_put_u64(&w, 1);
	ht_put_u32(&w, 70000);
	section_end(&w, off);
	put_end(&w);
	want = xasprintf("x: frame count out of range at byte %zu", off + 16 + 32);
	expect_error(w.len, want);
	free(want);
}
END_TEST

static Suite *snapfile_suite(void)
{
	Suite *su = suite_create("snapfile");
	TCase *tc = tcase_create("round trip");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_zero_stacks);
	tcase_add_test(tc, test_save_errors);
	tcase_add_test(tc, test_from_snapshot);
	suite_add_tcase(su, tc);

	tc = tcase_create("bad files");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_corrupt_each_byte);
	tcase_add_test(tc, test_corrupt_random);
	tcase_add_test(tc, test_bad_magic_and_version);
	tcase_add_test(tc, test_hand_made);
	tcase_add_test(tc, test_index_out_of_range);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_bad_counts_and_strings);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(snapfile_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
