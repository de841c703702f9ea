/* Unit tests for the model: grouping, attribution, filters, sorting, diff,
 * and the rows kept from one compute to the next. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/heap.h"
#include "viewer/model.h"
#include "viewer/snapshot.h"
#include "viewer/symbolizer.h"

#define APP "/usr/bin/app"
#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LIBCXX "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
#define LIBFOO "/usr/lib/libfoo.so"

#define FR(fn_, file_, line_, mod_) \
	((struct heap_frame){ .function = (fn_), .file = (file_), .line = (line_), .module = (mod_) })
#define FRAMES(...) ((const struct heap_frame[]){ __VA_ARGS__ })
#define NFRAMES(...) (sizeof FRAMES(__VA_ARGS__) / sizeof(struct heap_frame))
/* A stack whose live counters are also its totals. */
#define ADD(h, bytes, blocks, ...) \
	add((h), (bytes), (blocks), (uint64_t)(bytes), (uint64_t)(blocks), \
	    FRAMES(__VA_ARGS__), NFRAMES(__VA_ARGS__))
#define ADD_NONE(h, bytes, blocks) add((h), (bytes), (blocks), (bytes), (blocks), NULL, 0)

/* Row I of M has KEY, SIZE and COUNT. */
#define CK_ROW(m, i, k, sz, cnt) \
	do { \
		const struct model_row *r_ = model_row((m), (i)); \
		ck_assert_ptr_nonnull(r_); \
		ck_assert_str_eq(r_->key, (k)); \
		ck_assert_int_eq(r_->size, (sz)); \
		ck_assert_int_eq(r_->count, (cnt)); \
	} while (0)

/* Row I of M has KEY and the differences SD and CD. */
#define CK_DIFF(m, i, k, sz, cnt, sd, cd) \
	do { \
		CK_ROW((m), (i), (k), (sz), (cnt)); \
		ck_assert_int_eq(model_row((m), (i))->size_diff, (sd)); \
		ck_assert_int_eq(model_row((m), (i))->count_diff, (cd)); \
	} while (0)

static struct heap *heap_empty(void)
{
	struct heap_info info = { .exe = APP, .cmdline = "app" };
	return heap_new(&info);
}

static uint32_t add(struct heap *h, int64_t bytes, int64_t blocks, uint64_t total_bytes,
		    uint64_t total_blocks, const struct heap_frame *f, size_t n)
{
	struct heap_counter c = { .live_bytes = bytes, .live_blocks = blocks,
				  .total_bytes = total_bytes, .total_blocks = total_blocks };
	return heap_add_stack(h, &c, f, n);
}

static const struct heap_frame *frames_of(struct heap *h, uint32_t i)
{
	const struct heap_frame *f;
	heap_frames(h, i, &f);
	return f;
}

static struct model_options opts(enum model_group g)
{
	return (struct model_options){ .group = g, .sort = SORT_SIZE, .skip_system = 1 };
}

/* Compute M over H (and BASE) with O and check that model_find agrees with
 * every row. */
static void compute(struct model *m, const struct model_options *o, struct heap *h,
		    struct heap *base)
{
	model_compute(m, o, h, base);
	for (size_t i = 0; i < model_row_count(m); i++)
		ck_assert_int_eq(model_find(m, model_row(m, i)->key), (long)i);
}

/*
 * The common heap:
 *   0: malloc (libc) < parse parse.c:40 < main main.c:12      400 B  4
 *   1: strdup (libc) < parse parse.c:41 < main main.c:12      100 B  1
 *   2: render render.c:7 < main main.c:13                     250 B  5
 *   3: an unknown frame in libfoo.so                           30 B  3
 *   4: the overflow stack (no frames)                          70 B  7
 *   5: nothing live, nothing ever allocated
 *   6: nothing live, 64 B in 2 blocks allocated and freed
 */
static struct heap *common_heap(void)
{
	struct heap *h = heap_empty();
	ADD(h, 400, 4, FR("malloc", NULL, 0, LIBC), FR("parse", "/src/app/parse.c", 40, APP),
	    FR("main", "/src/app/main.c", 12, APP));
	ADD(h, 100, 1, FR("strdup", NULL, 0, LIBC), FR("parse", "/src/app/parse.c", 41, APP),
	    FR("main", "/src/app/main.c", 12, APP));
	ADD(h, 250, 5, FR("render", "/src/app/render.c", 7, APP),
	    FR("main", "/src/app/main.c", 13, APP));
	ADD(h, 30, 3, FR(NULL, NULL, 0, LIBFOO));
	ADD_NONE(h, 70, 7);
	ADD(h, 0, 0, FR("dead", "/src/app/dead.c", 1, APP));
	add(h, 0, 0, 64, 2, FRAMES(FR("churn", "/src/app/churn.c", 3, APP)), 1);
	return h;
}

START_TEST(test_names)
{
	static const char *const groups[] = { "line", "function", "file", "module", "traceback" };
	static const char *const sorts[] = { "size", "count", "average", "allocated", "delta" };
	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(model_group_name((enum model_group)i), groups[i]);
		ck_assert_int_eq(model_group_parse(groups[i]), i);
		ck_assert_str_eq(model_sort_name((enum model_sort)i), sorts[i]);
		ck_assert_int_eq(model_sort_parse(sorts[i]), i);
	}
	ck_assert_int_eq(model_group_parse("lineno"), -1);
	ck_assert_int_eq(model_group_parse(""), -1);
	ck_assert_int_eq(model_group_parse(NULL), -1);
	ck_assert_int_eq(model_sort_parse("Size"), -1);
	ck_assert_int_eq(model_sort_parse(NULL), -1);
	ck_assert_ptr_null(model_group_name((enum model_group)5));
	ck_assert_ptr_null(model_sort_name((enum model_sort)5));
}
END_TEST

START_TEST(test_empty)
{
	struct model *m = model_new();
	int64_t size = -1, count = -1;
	ck_assert_uint_eq(model_row_count(m), 0);
	ck_assert_ptr_null(model_row(m, 0));
	ck_assert_int_eq(model_find(m, "x"), -1);
	model_total(m, &size, &count);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(count, 0);

	struct heap *h = heap_empty();
	struct model_options o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 0);
	ck_assert_int_eq(model_find(m, "[unrecorded stacks]"), -1);
	model_free(m);
	model_free(NULL);
	heap_free(h);
}
END_TEST

START_TEST(test_group_line)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 5);
	CK_ROW(m, 0, "/src/app/parse.c:40", 400, 4);
	CK_ROW(m, 1, "/src/app/render.c:7", 250, 5);
	CK_ROW(m, 2, "/src/app/parse.c:41", 100, 1);
	CK_ROW(m, 3, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 4, LIBFOO, 30, 3);

	const struct model_row *r = model_row(m, 0);
	ck_assert_ptr_eq(r->frame, frames_of(h, 0) + 1);
	ck_assert_ptr_eq(r->frames, r->frame);
	ck_assert_uint_eq(r->nframes, 1);
	ck_assert_uint_eq(r->allocated, 400);
	ck_assert_uint_eq(r->allocations, 4);
	ck_assert_int_eq(r->size_diff, 0);
	ck_assert_int_eq(r->count_diff, 0);
	ck_assert_ptr_eq(model_row(m, 4)->frame, frames_of(h, 3));
	ck_assert_ptr_null(model_row(m, 5));

	/* Stacks with nothing live are not listed unless sorted by allocated,
	 * and then only if they ever allocated. */
	ck_assert_int_eq(model_find(m, "/src/app/churn.c:3"), -1);
	ck_assert_int_eq(model_find(m, "/src/app/dead.c:1"), -1);
	o.sort = SORT_ALLOCATED;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 6);
	CK_ROW(m, 0, "/src/app/parse.c:40", 400, 4);
	CK_ROW(m, 1, "/src/app/render.c:7", 250, 5);
	CK_ROW(m, 2, "/src/app/parse.c:41", 100, 1);
	CK_ROW(m, 3, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 4, "/src/app/churn.c:3", 0, 0);
	CK_ROW(m, 5, LIBFOO, 30, 3);
	ck_assert_uint_eq(model_row(m, 4)->allocated, 64);
	ck_assert_uint_eq(model_row(m, 4)->allocations, 2);
	ck_assert_int_eq(model_find(m, "/src/app/dead.c:1"), -1);

	int64_t size, count;
	model_total(m, &size, &count);
	ck_assert_int_eq(size, 850);
	ck_assert_int_eq(count, 20);
	model_base_total(m, &size, &count);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(count, 0);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_group_function_file_module)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_FUNCTION);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "parse", 500, 5);
	CK_ROW(m, 1, "render", 250, 5);
	CK_ROW(m, 2, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 3, LIBFOO ":??", 30, 3);
	/* The frame of the first stack that formed the row: line 40, not 41. */
	ck_assert_ptr_eq(model_row(m, 0)->frame, frames_of(h, 0) + 1);
	ck_assert_uint_eq(model_row(m, 0)->nframes, 1);

	o.group = GROUP_FILE;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "/src/app/parse.c", 500, 5);
	CK_ROW(m, 1, "/src/app/render.c", 250, 5);
	CK_ROW(m, 2, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 3, LIBFOO, 30, 3);

	o.group = GROUP_MODULE;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 3);
	CK_ROW(m, 0, APP, 750, 10);
	CK_ROW(m, 1, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 2, LIBFOO, 30, 3);
	ck_assert_ptr_eq(model_row(m, 0)->frame, frames_of(h, 0) + 1);

	/* Without skip_system, the C library is a module like any other. */
	o.skip_system = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, LIBC, 500, 5);
	CK_ROW(m, 1, APP, 250, 5);
	CK_ROW(m, 2, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 3, LIBFOO, 30, 3);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_group_traceback)
{
	struct heap *h = common_heap();
	ADD(h, 1, 1, FR("realloc", NULL, 0, LIBC), FR("parse", "/src/app/parse.c", 40, APP),
	    FR("main", "/src/app/main.c", 12, APP));
	struct model *m = model_new();
	struct model_options o = opts(GROUP_TRACEBACK);
	o.cumulative = 1; /* ignored for tracebacks */
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 5);
	CK_ROW(m, 0, "/src/app/parse.c:40\n/src/app/main.c:12", 401, 5);
	CK_ROW(m, 1, "/src/app/render.c:7\n/src/app/main.c:13", 250, 5);
	CK_ROW(m, 2, "/src/app/parse.c:41\n/src/app/main.c:12", 100, 1);
	CK_ROW(m, 3, "[unrecorded stacks]", 70, 7);
	CK_ROW(m, 4, LIBFOO, 30, 3);

	const struct model_row *r = model_row(m, 0);
	ck_assert_ptr_eq(r->frame, frames_of(h, 0) + 1);
	ck_assert_ptr_eq(r->frames, frames_of(h, 0) + 1);
	ck_assert_uint_eq(r->nframes, 2);
	r = model_row(m, 3);
	ck_assert_ptr_null(r->frame);
	ck_assert_ptr_null(r->frames);
	ck_assert_uint_eq(r->nframes, 0);

	/* Without skip_system the C library frames are part of the traceback. */
	o.skip_system = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 6);
	CK_ROW(m, 0, LIBC ":malloc\n/src/app/parse.c:40\n/src/app/main.c:12", 400, 4);
	ck_assert_uint_eq(model_row(m, 0)->nframes, 3);
	ck_assert_int_ge(model_find(m, LIBC ":realloc\n/src/app/parse.c:40\n/src/app/main.c:12"),
			 0);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_skip_system)
{
	struct heap *h = heap_empty();
	/* The C library and the C++ runtime under a user frame. */
	ADD(h, 64, 1, FR("malloc", NULL, 0, LIBC), FR("operator new", NULL, 0, LIBCXX),
	    FR("make", "/src/a.cc", 5, APP), FR("main", "/src/main.cc", 2, APP));
	/* Entirely in the C library. */
	ADD(h, 32, 1, FR("malloc", NULL, 0, LIBC), FR("__libc_start_main", NULL, 0, LIBC));
	/* Other system objects, and names that only look like them. */
	ADD(h, 16, 1, FR("calloc", NULL, 0, "/lib64/ld-linux-x86-64.so.2"),
	    FR("_Unwind_Find_FDE", NULL, 0, "/lib/libgcc_s.so.1"),
	    FR("x", NULL, 0, "/lib/libc-2.31.so"), FR("y", NULL, 0, "/lib/libm.so.6"),
	    FR("z", NULL, 0, "/lib/libc++abi.so.1"), FR("w", NULL, 0, "/lib/libpthread.so.0"),
	    FR("v", NULL, 0, "/lib/libdl.so.2"), FR("u", NULL, 0, "/lib/libc++.so.1"),
	    FR("t", NULL, 0, "/lib/ld64.so.1"), FR("s", NULL, 0, "/opt/libheaptop.so"),
	    FR("crypto", "/src/crypto.c", 9, "/lib/libcrypto.so.3"));
	ADD(h, 8, 1, FR("strdup", NULL, 0, "libc.so.6"),
	    FR("opt", NULL, 0, "/usr/lib/libcrypt.so.1"));
	ADD(h, 4, 1, FR("calloc", NULL, 0, LIBC), FR(NULL, NULL, 0, NULL));

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 5);
	CK_ROW(m, 0, "/src/a.cc:5", 64, 1);
	CK_ROW(m, 1, LIBC ":malloc", 32, 1);
	CK_ROW(m, 2, "/src/crypto.c:9", 16, 1);
	CK_ROW(m, 3, "/usr/lib/libcrypt.so.1:opt", 8, 1);
	/* A frame outside every module is not a system frame. */
	CK_ROW(m, 4, "??", 4, 1);
	ck_assert_ptr_eq(model_row(m, 1)->frame, frames_of(h, 1));

	o.skip_system = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, LIBC ":malloc", 96, 2);
	CK_ROW(m, 1, "/lib64/ld-linux-x86-64.so.2:calloc", 16, 1);
	CK_ROW(m, 2, "libc.so.6:strdup", 8, 1);
	CK_ROW(m, 3, LIBC ":calloc", 4, 1);
	model_free(m);
	heap_free(h);
}
END_TEST

/* Frames in the sources of the C++ and Rust standard libraries, compiled
 * into the program, are system frames too, wherever their module. */
START_TEST(test_skip_system_sources)
{
	struct heap *h = heap_empty();
	/* libstdc++'s templates inlined into the program. */
	ADD(h, 2000, 1, FR("operator new", NULL, 0, LIBCXX),
	    FR("allocate", "/usr/include/c++/12/bits/new_allocator.h", 137, APP),
	    FR("reserve", "/usr/include/c++/12/bits/vector.tcc", 72, APP),
	    FR("numbers", "/src/n.cc", 7, APP), FR("main", "/src/main.cc", 2, APP));
	/* libc++'s, and libstdc++ linked in statically. */
	ADD(h, 1000, 1, FR("allocate", "/usr/lib/llvm-14/include/c++/v1/__memory/allocator.h", 9, APP),
	    FR("operator new", "../../../../libstdc++-v3/libsupc++/new_op.cc", 50, APP),
	    FR("cache", "/src/cache.cc", 3, APP));
	/* Rust's std from rustup, its vendored crates, and Debian's. */
	ADD(h, 500, 1, FR("alloc", "/rustc/0123abcd/library/alloc/src/alloc.rs", 95, APP),
	    FR("grow", "/rust/deps/hashbrown-0.16.1/src/raw/mod.rs", 1, APP),
	    FR("insert", "/cargo/registry/src/index/hashbrown-0.12.3/src/map.rs", 2, APP),
	    FR("fill", "/src/main.rs", 3, APP));
	ADD(h, 250, 1, FR("alloc", "/usr/src/rustc-1.63.0/library/alloc/src/alloc.rs", 89, APP),
	    FR("do_alloc", "/usr/src/rustc-1.63.0/vendor/hashbrown/src/raw/alloc.rs", 11, APP),
	    FR("fill", "/src/main.rs", 4, APP));
	/* Only look like them: a project's own include/, library/ or deps. */
	ADD(h, 125, 1, FR("make", "/src/include/cxx/make.h", 1, APP),
	    FR("user", "/src/user.cc", 1, APP));
	ADD(h, 60, 1, FR("make", "/home/me/rustc/library/alloc.rs", 2, APP),
	    FR("user", "/src/user.cc", 2, APP));
	ADD(h, 30, 1, FR("parse", "/home/me/.cargo/registry/src/x/serde-1.0/src/de.rs", 3, APP),
	    FR("user", "/src/user.cc", 3, APP));
	/* Entirely standard library: the innermost frame. */
	ADD(h, 15, 1, FR("alloc", "/rustc/0123abcd/library/alloc/src/alloc.rs", 95, APP),
	    FR("init", "/rustc/0123abcd/library/std/src/rt.rs", 1, APP));
	/* Without a source file, by the function's namespace. */
	ADD(h, 8, 1, FR("<alloc::raw_vec::RawVecInner>::try_allocate_in", NULL, 0, APP),
	    FR("alloc::raw_vec::RawVec<u32>::with_capacity", NULL, 0, APP),
	    FR("core::ptr::write", NULL, 0, APP), FR("std::thread::spawn", NULL, 0, APP),
	    FR("stdx::keep", NULL, 0, APP), FR("main", NULL, 0, APP));
	ADD(h, 4, 1, FR("std::vector<int>::_M_realloc_insert", NULL, 0, APP),
	    FR("mystd::core::grow", NULL, 0, APP));
	/* After a return type, in nested impl brackets, a crate of Rust's std;
	 * not in a template argument or a parameter. */
	ADD(h, 2, 1,
	    FR("void std::vector<std::string>::_M_realloc_insert<std::string>(int, std::string&&)",
	       NULL, 0, APP),
	    FR("<<std::sync::once::Once>::call_once<f>::{closure#0} as core::ops::FnOnce<()>>::call_once",
	       NULL, 0, APP),
	    FR("hashbrown::raw::RawTable<T,A>::reserve_rehash", NULL, 0, APP),
	    FR("Cache<std::string>::add(std::string const&)", NULL, 0, APP),
	    FR("main", NULL, 0, APP));
	ADD(h, 1, 1, FR("grow(std::vector<int>&)", NULL, 0, APP), FR("main", NULL, 0, APP));

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 12);
	CK_ROW(m, 0, "/src/n.cc:7", 2000, 1);
	CK_ROW(m, 1, "/src/cache.cc:3", 1000, 1);
	CK_ROW(m, 2, "/src/main.rs:3", 500, 1);
	CK_ROW(m, 3, "/src/main.rs:4", 250, 1);
	CK_ROW(m, 4, "/src/include/cxx/make.h:1", 125, 1);
	CK_ROW(m, 5, "/home/me/rustc/library/alloc.rs:2", 60, 1);
	CK_ROW(m, 6, "/home/me/.cargo/registry/src/x/serde-1.0/src/de.rs:3", 30, 1);
	CK_ROW(m, 7, "/rustc/0123abcd/library/alloc/src/alloc.rs:95", 15, 1);
	CK_ROW(m, 8, APP ":stdx::keep", 8, 1);
	CK_ROW(m, 9, APP ":mystd::core::grow", 4, 1);
	CK_ROW(m, 10, APP ":Cache<std::string>::add(std::string const&)", 2, 1);
	CK_ROW(m, 11, APP ":grow(std::vector<int>&)", 1, 1);

	o.skip_system = 0;
	compute(m, &o, h, NULL);
	CK_ROW(m, 0, LIBCXX ":operator new", 2000, 1);
	CK_ROW(m, 1, "/usr/lib/llvm-14/include/c++/v1/__memory/allocator.h:9", 1000, 1);
	CK_ROW(m, 2, "/rustc/0123abcd/library/alloc/src/alloc.rs:95", 515, 2);
	CK_ROW(m, 3, "/usr/src/rustc-1.63.0/library/alloc/src/alloc.rs:89", 250, 1);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_skip_patterns)
{
	struct heap *h = heap_empty();
	ADD(h, 100, 1, FR("malloc", NULL, 0, LIBC), FR("xmalloc", "/src/util/xmalloc.c", 3, APP),
	    FR("load", "/src/load.c", 9, APP));
	ADD(h, 10, 1, FR("xrealloc", "/src/util/xmalloc.c", 8, APP),
	    FR("save", "/src/save.c", 4, APP));
	/* Every frame skipped: the innermost is the attributed one. */
	ADD(h, 1, 1, FR("xmalloc", "/src/util/xmalloc.c", 3, APP));
	/* A system frame is skipped when a user frame is further out, even a
	 * skipped one; the system frames beyond it are not. */
	ADD(h, 2, 1, FR("malloc", NULL, 0, LIBC), FR("xmalloc", "/src/util/xmalloc.c", 3, APP),
	    FR("__libc_start_main", NULL, 0, LIBC));

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	const char *const skip[] = { "xmalloc", NULL };
	o.skip = skip;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "/src/load.c:9", 100, 1);
	CK_ROW(m, 1, "/src/util/xmalloc.c:8", 10, 1);
	CK_ROW(m, 2, LIBC ":__libc_start_main", 2, 1);
	CK_ROW(m, 3, "/src/util/xmalloc.c:3", 1, 1);

	/* By file basename: every wrapper in xmalloc.c. */
	const char *const skip_file[] = { "xmalloc.c", NULL };
	o.skip = skip_file;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "/src/load.c:9", 100, 1);
	CK_ROW(m, 1, "/src/save.c:4", 10, 1);
	CK_ROW(m, 2, LIBC ":__libc_start_main", 2, 1);
	CK_ROW(m, 3, "/src/util/xmalloc.c:3", 1, 1);

	/* Patterns are globs; without skip_system, system frames are still
	 * skipped when a pattern says so. */
	const char *const skip_glob[] = { "x*alloc", "libc.so.*", NULL };
	o.skip = skip_glob;
	o.skip_system = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "/src/load.c:9", 100, 1);
	CK_ROW(m, 1, "/src/save.c:4", 10, 1);
	CK_ROW(m, 2, LIBC ":malloc", 2, 1);
	CK_ROW(m, 3, "/src/util/xmalloc.c:3", 1, 1);
	model_free(m);
	heap_free(h);
}
END_TEST

/* Keys listed by M, in order, joined with spaces. */
static char *row_keys(const struct model *m)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < model_row_count(m); i++) {
		char *t = xasprintf("%s%s%s", s, i ? " " : "", model_row(m, i)->key);
		free(s);
		s = t;
	}
	return s;
}

/* The keys of the rows of H under O with INCLUDE and EXCLUDE filters. */
static char *filtered(struct heap *h, struct model_options o, const char *const *include,
		      const char *const *exclude)
{
	struct model *m = model_new();
	o.include = include;
	o.exclude = exclude;
	compute(m, &o, h, NULL);
	char *keys = row_keys(m);
	model_free(m);
	return keys;
}

#define CK_FILTERED(h, o, inc, exc, want) \
	do { \
		char *got_ = filtered((h), (o), (inc), (exc)); \
		ck_assert_str_eq(got_, (want)); \
		free(got_); \
	} while (0)

#define PATS(...) ((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_filters)
{
	struct heap *h = common_heap();
	struct model_options o = opts(GROUP_FUNCTION);
	const char *all = "parse render [unrecorded stacks] " LIBFOO ":??";

	CK_FILTERED(h, o, NULL, NULL, all);
	CK_FILTERED(h, o, PATS(NULL), PATS(NULL), all);
	/* Function. */
	CK_FILTERED(h, o, PATS("parse"), NULL, "parse");
	CK_FILTERED(h, o, NULL, PATS("par*"), "render [unrecorded stacks] " LIBFOO ":??");
	/* File basename and full path. */
	CK_FILTERED(h, o, PATS("render.c"), NULL, "render");
	CK_FILTERED(h, o, PATS("/src/app/*.c"), NULL, "parse render");
	CK_FILTERED(h, o, NULL, PATS("/src/app/render.c"), "parse [unrecorded stacks] " LIBFOO ":??");
	CK_FILTERED(h, o, PATS("/src/app"), NULL, "");
	/* Location FILE:LINE, basename and full path. */
	CK_FILTERED(h, o, PATS("parse.c:40"), NULL, "parse");
	CK_FILTERED(h, o, PATS("*.c:4?"), NULL, "parse");
	CK_FILTERED(h, o, NULL, PATS("/src/app/render.c:7"), "parse [unrecorded stacks] " LIBFOO ":??");
	CK_FILTERED(h, o, PATS("render.c:8"), NULL, "");
	/* Module basename and full path. */
	CK_FILTERED(h, o, PATS("libfoo.so"), NULL, LIBFOO ":??");
	CK_FILTERED(h, o, NULL, PATS("/usr/bin/*"), "[unrecorded stacks] " LIBFOO ":??");
	/* Several includes: either; exclude wins over include. */
	CK_FILTERED(h, o, PATS("render", "libfoo*"), NULL, "render " LIBFOO ":??");
	CK_FILTERED(h, o, PATS("/src/app/*"), PATS("render"), "parse");
	/* Only the attributed frame counts, not the skipped ones. */
	CK_FILTERED(h, o, NULL, PATS("malloc"), all);
	CK_FILTERED(h, o, PATS("main"), NULL, "");
	/* A NULL field never matches, not even "*". */
	CK_FILTERED(h, o, NULL, PATS("*"), "[unrecorded stacks]");
	CK_FILTERED(h, o, PATS("*"), NULL, "parse render " LIBFOO ":??");

	/* all_frames: every frame of the stack counts. */
	o.all_frames = 1;
	CK_FILTERED(h, o, NULL, PATS("malloc"), "render parse [unrecorded stacks] " LIBFOO ":??");
	CK_FILTERED(h, o, PATS("main"), NULL, "parse render");
	CK_FILTERED(h, o, PATS("main.c"), PATS("strdup"), "parse render");
	CK_FILTERED(h, o, PATS("libc.so.6"), NULL, "parse");

	/* Totals count the kept stacks only. */
	struct model *m = model_new();
	o.include = PATS("parse");
	o.all_frames = 0;
	compute(m, &o, h, NULL);
	int64_t size, count;
	model_total(m, &size, &count);
	ck_assert_int_eq(size, 500);
	ck_assert_int_eq(count, 5);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_cumulative)
{
	struct heap *h = heap_empty();
	ADD(h, 100, 1, FR("malloc", NULL, 0, LIBC), FR("fib", "/src/f.c", 3, APP),
	    FR("fib", "/src/f.c", 3, APP), FR("fib", "/src/f.c", 3, APP),
	    FR("main", "/src/m.c", 1, APP));
	ADD(h, 10, 1, FR("fib", "/src/f.c", 4, APP), FR("fib", "/src/f.c", 3, APP),
	    FR("main", "/src/m.c", 1, APP));
	ADD(h, 5, 1, FR("other", "/src/o.c", 2, APP));
	ADD_NONE(h, 7, 7);

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	o.cumulative = 1;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 5);
	CK_ROW(m, 0, "/src/f.c:3", 110, 2);
	CK_ROW(m, 1, "/src/m.c:1", 110, 2);
	CK_ROW(m, 2, "/src/f.c:4", 10, 1);
	CK_ROW(m, 3, "[unrecorded stacks]", 7, 7);
	CK_ROW(m, 4, "/src/o.c:2", 5, 1);
	ck_assert_ptr_eq(model_row(m, 0)->frame, frames_of(h, 0) + 1);
	ck_assert_ptr_eq(model_row(m, 1)->frame, frames_of(h, 0) + 4);
	ck_assert_ptr_eq(model_row(m, 2)->frame, frames_of(h, 1));
	ck_assert_uint_eq(model_row(m, 1)->nframes, 1);
	ck_assert_uint_eq(model_row(m, 0)->allocations, 2);
	ck_assert_int_eq(model_find(m, LIBC ":malloc"), -1);

	int64_t size, count;
	model_total(m, &size, &count);
	ck_assert_int_eq(size, 122);
	ck_assert_int_eq(count, 10);

	/* Function keys: line 3 and line 4 are one fib. */
	o.group = GROUP_FUNCTION;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 4);
	CK_ROW(m, 0, "fib", 110, 2);
	CK_ROW(m, 1, "main", 110, 2);
	CK_ROW(m, 2, "[unrecorded stacks]", 7, 7);
	CK_ROW(m, 3, "other", 5, 1);

	/* Without skip_system the C library frame counts too. */
	o.skip_system = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 5);
	CK_ROW(m, 2, "malloc", 100, 1);

	o.group = GROUP_MODULE;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 3);
	CK_ROW(m, 0, APP, 115, 3);
	CK_ROW(m, 1, LIBC, 100, 1);
	CK_ROW(m, 2, "[unrecorded stacks]", 7, 7);
	model_free(m);
	heap_free(h);
}
END_TEST

/* Five sites a..e with (size, count, allocated): a (100, 10, 1000),
 * b (100, 5, 50), c (300, 1, 300), d (50, 10, 1000), e (40, 4, 300). */
static struct heap *sort_heap(void)
{
	struct heap *h = heap_empty();
	add(h, 40, 4, 300, 3, FRAMES(FR("e", "e.c", 1, APP)), 1);
	add(h, 50, 10, 1000, 10, FRAMES(FR("d", "d.c", 1, APP)), 1);
	add(h, 300, 1, 300, 3, FRAMES(FR("c", "c.c", 1, APP)), 1);
	add(h, 100, 5, 50, 5, FRAMES(FR("b", "b.c", 1, APP)), 1);
	add(h, 100, 10, 1000, 10, FRAMES(FR("a", "a.c", 1, APP)), 1);
	return h;
}

static void check_sort(struct heap *h, enum model_sort s, int reverse, const char *want)
{
	struct model *m = model_new();
	struct model_options o = opts(GROUP_FUNCTION);
	o.sort = s;
	o.reverse = reverse;
	compute(m, &o, h, NULL);
	char *got = row_keys(m);
	ck_assert_msg(strcmp(got, want) == 0, "sort %s%s: got \"%s\", want \"%s\"",
		      model_sort_name(s), reverse ? " reversed" : "", got, want);
	free(got);
	model_free(m);
}

START_TEST(test_sort)
{
	struct heap *h = sort_heap();
	check_sort(h, SORT_SIZE, 0, "c a b d e");
	check_sort(h, SORT_SIZE, 1, "e d a b c");
	check_sort(h, SORT_COUNT, 0, "a d b e c");
	check_sort(h, SORT_COUNT, 1, "c e b a d");
	check_sort(h, SORT_AVERAGE, 0, "c b a e d");
	check_sort(h, SORT_AVERAGE, 1, "d a e b c");
	check_sort(h, SORT_ALLOCATED, 0, "a d c e b");
	check_sort(h, SORT_ALLOCATED, 1, "b c e a d");
	/* Without a base every difference is 0: size, then count. */
	check_sort(h, SORT_DELTA, 0, "c a b d e");
	check_sort(h, SORT_DELTA, 1, "e d b a c");
	heap_free(h);

	/* Averages of rows with no live block are 0. */
	h = heap_empty();
	add(h, 0, 0, 10, 1, FRAMES(FR("z", "z.c", 1, APP)), 1);
	add(h, 1, 1, 1, 1, FRAMES(FR("y", "y.c", 1, APP)), 1);
	add(h, 0, 0, 10, 1, FRAMES(FR("x", "x.c", 1, APP)), 1);
	check_sort(h, SORT_ALLOCATED, 0, "x z y");
	check_sort(h, SORT_AVERAGE, 0, "y");
	heap_free(h);

	/* Ties go by key with the numbers in it by value: line 6 before 14
	 * before 100 (as strings, 100 < 14 < 6), and a reversed sort leaves
	 * them in that order. */
	h = heap_empty();
	add(h, 8, 1, 8, 1, FRAMES(FR("f", "/src/leak.c", 14, APP)), 1);
	add(h, 8, 1, 8, 1, FRAMES(FR("f", "/src/leak.c", 100, APP)), 1);
	add(h, 8, 1, 8, 1, FRAMES(FR("f", "/src/leak.c", 6, APP)), 1);
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	for (int rev = 0; rev <= 1; rev++) {
		o.reverse = rev;
		compute(m, &o, h, NULL);
		ck_assert_uint_eq(model_row_count(m), 3);
		const unsigned want[] = { 6, 14, 100 };
		for (size_t i = 0; i < 3; i++) {
			const struct model_row *r = model_row(m, i);
			ck_assert_uint_eq(r->frame->line, want[i]);
		}
	}
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_diff)
{
	struct heap *base = heap_empty(), *h = heap_empty();
	/* p only in the base, q in both, r only in the new heap, s unchanged,
	 * t in the base with nothing live, u grown by as much as p shrank. */
	ADD(base, 200, 2, FR("p", "/src/p.c", 1, APP));
	ADD(base, 100, 1, FR("malloc", NULL, 0, LIBC), FR("q", "/src/q.c", 1, APP));
	ADD(base, 10, 1, FR("s", "/src/s.c", 1, APP));
	add(base, 0, 0, 5, 1, FRAMES(FR("t", "/src/t.c", 1, APP)), 1);
	ADD(base, 50, 1, FR("u", "/src/u.c", 1, APP));
	ADD_NONE(base, 8, 1);
	ADD(h, 300, 3, FR("q", "/src/q.c", 1, APP));
	ADD(h, 50, 1, FR("r", "/src/r.c", 1, APP));
	ADD(h, 10, 1, FR("s", "/src/s.c", 1, APP));
	ADD(h, 250, 2, FR("u", "/src/u.c", 1, APP));
	ADD_NONE(h, 8, 1);

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	o.sort = SORT_DELTA;
	compute(m, &o, h, base);
	ck_assert_uint_eq(model_row_count(m), 6);
	CK_DIFF(m, 0, "/src/q.c:1", 300, 3, 200, 2);
	CK_DIFF(m, 1, "/src/u.c:1", 250, 2, 200, 1);
	CK_DIFF(m, 2, "/src/p.c:1", 0, 0, -200, -2);
	CK_DIFF(m, 3, "/src/r.c:1", 50, 1, 50, 1);
	CK_DIFF(m, 4, "/src/s.c:1", 10, 1, 0, 0);
	CK_DIFF(m, 5, "[unrecorded stacks]", 8, 1, 0, 0);
	ck_assert_int_eq(model_find(m, "/src/t.c:1"), -1);

	/* Frames come from the new heap when the site is in it. */
	ck_assert_ptr_eq(model_row(m, 0)->frame, frames_of(h, 0));
	ck_assert_ptr_eq(model_row(m, 2)->frame, frames_of(base, 0));
	ck_assert_uint_eq(model_row(m, 2)->allocated, 0);

	int64_t size, count;
	model_total(m, &size, &count);
	ck_assert_int_eq(size, 618);
	ck_assert_int_eq(count, 8);
	model_base_total(m, &size, &count);
	ck_assert_int_eq(size, 368);
	ck_assert_int_eq(count, 6);

	/* Reversed: smallest change first, the key still breaking ties. */
	o.reverse = 1;
	compute(m, &o, h, base);
	char *keys = row_keys(m);
	ck_assert_str_eq(keys, "[unrecorded stacks] /src/s.c:1 /src/r.c:1 /src/p.c:1 "
			       "/src/u.c:1 /src/q.c:1");
	free(keys);

	/* Sorted by size, the rows only in the base come last. */
	o.sort = SORT_SIZE;
	o.reverse = 0;
	compute(m, &o, h, base);
	keys = row_keys(m);
	ck_assert_str_eq(keys, "/src/q.c:1 /src/u.c:1 /src/r.c:1 /src/s.c:1 "
			       "[unrecorded stacks] /src/p.c:1");
	free(keys);

	/* Filters apply to both heaps. */
	o.exclude = PATS("q");
	compute(m, &o, h, base);
	model_base_total(m, &size, &count);
	ck_assert_int_eq(size, 268);
	ck_assert_int_eq(count, 5);
	ck_assert_int_eq(model_find(m, "/src/q.c:1"), -1);

	/* Cumulative diffs. */
	o.exclude = NULL;
	o.group = GROUP_MODULE;
	o.cumulative = 1;
	compute(m, &o, h, base);
	ck_assert_uint_eq(model_row_count(m), 2);
	CK_DIFF(m, 0, APP, 610, 7, 250, 2);
	CK_DIFF(m, 1, "[unrecorded stacks]", 8, 1, 0, 0);

	/* The same heap as its own base: nothing changed. */
	o.group = GROUP_LINE;
	o.cumulative = 0;
	compute(m, &o, h, h);
	ck_assert_uint_eq(model_row_count(m), 5);
	for (size_t i = 0; i < model_row_count(m); i++) {
		ck_assert_int_eq(model_row(m, i)->size_diff, 0);
		ck_assert_int_eq(model_row(m, i)->count_diff, 0);
	}
	model_free(m);
	heap_free(h);
	heap_free(base);
}
END_TEST

START_TEST(test_delta_order)
{
	/* tracemalloc's compare_to order: |size_diff|, size, |count_diff|, count. */
	struct heap *base = heap_empty(), *h = heap_empty();
	ADD(base, 100, 1, FR("a", "a.c", 1, APP));
	ADD(base, 10, 1, FR("b", "b.c", 1, APP));
	ADD(base, 10, 4, FR("c", "c.c", 1, APP));
	ADD(base, 10, 1, FR("d", "d.c", 1, APP));
	ADD(base, 10, 1, FR("e", "e.c", 1, APP));
	ADD(h, 50, 1, FR("a", "a.c", 1, APP));  /* -50, size 50, count +0 */
	ADD(h, 60, 1, FR("b", "b.c", 1, APP));  /* +50, size 60 */
	ADD(h, 60, 2, FR("c", "c.c", 1, APP));  /* +50, size 60, count -2 */
	ADD(h, 60, 3, FR("d", "d.c", 1, APP));  /* +50, size 60, count +2, count 3 */
	ADD(h, 60, 3, FR("e", "e.c", 1, APP));  /* as d: the key decides */
	struct model *m = model_new();
	struct model_options o = opts(GROUP_FUNCTION);
	o.sort = SORT_DELTA;
	compute(m, &o, h, base);
	char *keys = row_keys(m);
	ck_assert_str_eq(keys, "d e c b a");
	free(keys);
	o.reverse = 1;
	compute(m, &o, h, base);
	keys = row_keys(m);
	ck_assert_str_eq(keys, "a b c d e");
	free(keys);
	model_free(m);
	heap_free(h);
	heap_free(base);
}
END_TEST

START_TEST(test_null_fields)
{
	struct heap *h = heap_empty();
	ADD(h, 8, 1, FR(NULL, NULL, 0, NULL));
	ADD(h, 4, 1, FR("fn", NULL, 0, NULL));
	ADD(h, 2, 1, FR(NULL, NULL, 7, APP));
	ADD(h, 1, 1, FR(NULL, "/src/n.c", 0, NULL));

	static const struct {
		enum model_group g;
		const char *keys;
	} want[] = {
		{ GROUP_LINE, "?? ??:fn " APP " /src/n.c:0" },
		{ GROUP_FUNCTION, "?? fn " APP ":??" },
		{ GROUP_FILE, "?? " APP " /src/n.c" },
		{ GROUP_MODULE, "?? " APP },
		{ GROUP_TRACEBACK, "?? ??:fn " APP " /src/n.c:0" },
	};
	struct model *m = model_new();
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct model_options o = opts(want[i].g);
		o.cumulative = 1;
		o.skip = PATS("*");
		compute(m, &o, h, NULL);
		char *keys = row_keys(m);
		ck_assert_msg(strcmp(keys, want[i].keys) == 0, "%s: got \"%s\"",
			      model_group_name(want[i].g), keys);
		free(keys);
	}
	struct model_options o = opts(GROUP_FUNCTION);
	compute(m, &o, h, NULL);
	CK_ROW(m, 0, "??", 9, 2);
	model_free(m);
	heap_free(h);
}
END_TEST

/* Frames of stripped objects are named by their address in the module: the
 * same address in two modules is two functions. */
START_TEST(test_address_names)
{
	struct heap *h = heap_empty();
	ADD(h, 8, 1, FR("0x10", NULL, 0, LIBFOO));
	ADD(h, 4, 1, FR("0x10", NULL, 0, APP));
	ADD(h, 2, 1, FR("0x20", NULL, 0, APP));
	ADD(h, 1, 1, FR("0x20", NULL, 0, APP));
	struct model *m = model_new();
	struct model_options o = opts(GROUP_FUNCTION);
	compute(m, &o, h, NULL);
	char *keys = row_keys(m);
	ck_assert_str_eq(keys, LIBFOO ":0x10 " APP ":0x10 " APP ":0x20");
	free(keys);
	CK_ROW(m, 0, LIBFOO ":0x10", 8, 1);
	CK_ROW(m, 2, APP ":0x20", 3, 2);
	o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	keys = row_keys(m);
	ck_assert_str_eq(keys, LIBFOO ":0x10 " APP ":0x10 " APP ":0x20");
	free(keys);
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_find)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	compute(m, &o, h, NULL);
	ck_assert_int_eq(model_find(m, "/src/app/render.c:7"), 1);
	ck_assert_int_eq(model_find(m, "[unrecorded stacks]"), 3);
	ck_assert_int_eq(model_find(m, "/src/app/render.c"), -1);
	ck_assert_int_eq(model_find(m, ""), -1);
	ck_assert_int_eq(model_find(m, NULL), -1);
	o.reverse = 1;
	compute(m, &o, h, NULL);
	ck_assert_int_eq(model_find(m, "/src/app/render.c:7"), 3);
	heap_free(h);

	/* Many rows, in several recomputes of one model. */
	enum { N = 100000 };
	h = heap_empty();
	char file[64];
	for (int i = 0; i < N; i++) {
		snprintf(file, sizeof file, "/src/f%d.c", i % 1000);
		add(h, i + 1, 1, (uint64_t)i + 1, 1,
		    FRAMES(FR("f", file, (unsigned)(i / 1000), APP)), 1);
	}
	for (int pass = 0; pass < 2; pass++) {
		o.reverse = pass;
		compute(m, &o, h, NULL);
		ck_assert_uint_eq(model_row_count(m), N);
		CK_ROW(m, 0, pass ? "/src/f0.c:0" : "/src/f999.c:99", pass ? 1 : N, 1);
		snprintf(file, sizeof file, "/src/f%d.c:%d", 4321 % 1000, 4321 / 1000);
		ck_assert_int_eq(model_find(m, file), pass ? 4321 : N - 4322);
	}
	model_free(m);
	heap_free(h);
}
END_TEST

START_TEST(test_born)
{
	struct heap *h = heap_empty(), *base = heap_empty();
	struct heap_counter c = { .live_bytes = 100, .live_blocks = 4, .total_bytes = 500,
				  .total_blocks = 9, .born_bytes = 40, .born_blocks = 2 };
	heap_add_stack(h, &c, FRAMES(FR("f", "/src/b.c", 1, APP), FR("main", "/src/m.c", 1, APP)),
		       2);
	c.born_bytes = 5;
	c.born_blocks = 1;
	heap_add_stack(h, &c, FRAMES(FR("f", "/src/b.c", 1, APP)), 1);
	heap_add_stack(base, &c, FRAMES(FR("f", "/src/b.c", 1, APP)), 1);

	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	o.cumulative = 1;
	compute(m, &o, h, base);
	ck_assert_uint_eq(model_row_count(m), 2);
	const struct model_row *r = model_row(m, 0);
	ck_assert_str_eq(r->key, "/src/b.c:1");
	ck_assert_int_eq(r->size, 200);
	ck_assert_int_eq(r->count, 8);
	ck_assert_uint_eq(r->allocated, 1000);
	ck_assert_uint_eq(r->allocations, 18);
	ck_assert_int_eq(r->born, 45);
	ck_assert_int_eq(r->born_count, 3);
	ck_assert_int_eq(r->size_diff, 100);
	ck_assert_int_eq(r->count_diff, 4);
	r = model_row(m, 1);
	ck_assert_str_eq(r->key, "/src/m.c:1");
	ck_assert_int_eq(r->born, 40);
	ck_assert_int_eq(r->born_count, 2);
	model_free(m);
	heap_free(h);
	heap_free(base);
}
END_TEST

/* Different frames whose keys spell the same string are one row. */
START_TEST(test_same_key)
{
	struct heap *h = heap_empty();
	ADD(h, 10, 1, FR("f", "/lib/x.so", 5, APP), FR("g", NULL, 0, "/lib/x.so"));
	ADD(h, 20, 2, FR("g", NULL, 0, "/lib/x.so"));
	ADD(h, 40, 4, FR("5", NULL, 0, "/lib/x.so"));
	ADD(h, 80, 8, FR("f", "/lib/x.so:5", 0, APP));

	struct model *m = model_new();
	struct model_options o = opts(GROUP_FILE);
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 2);
	CK_ROW(m, 0, "/lib/x.so:5", 80, 8);
	CK_ROW(m, 1, "/lib/x.so", 70, 7);

	/* Counted once per stack even though two frames make the key. */
	o.cumulative = 1;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 2);
	CK_ROW(m, 0, "/lib/x.so:5", 80, 8);
	CK_ROW(m, 1, "/lib/x.so", 70, 7);

	/* file:line and module:function */
	o.group = GROUP_LINE;
	o.cumulative = 0;
	compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_row_count(m), 3);
	CK_ROW(m, 0, "/lib/x.so:5:0", 80, 8);
	CK_ROW(m, 1, "/lib/x.so:5", 50, 5);
	CK_ROW(m, 2, "/lib/x.so:g", 20, 2);
	ck_assert_ptr_eq(model_row(m, 1)->frame, frames_of(h, 0));
	model_free(m);
	heap_free(h);
}
END_TEST

/* --- the cache between computes ---------------------------------------------- */

/* M's rows are FRESH's, in the same order, with the same numbers. */
static void ck_same_rows(const struct model *m, const struct model *fresh)
{
	ck_assert_uint_eq(model_row_count(m), model_row_count(fresh));
	for (size_t i = 0; i < model_row_count(m); i++) {
		const struct model_row *a = model_row(m, i), *b = model_row(fresh, i);
		ck_assert_str_eq(a->key, b->key);
		ck_assert_int_eq(a->size, b->size);
		ck_assert_int_eq(a->count, b->count);
		ck_assert_uint_eq(a->allocated, b->allocated);
		ck_assert_uint_eq(a->allocations, b->allocations);
		ck_assert_int_eq(a->size_diff, b->size_diff);
		ck_assert_int_eq(a->count_diff, b->count_diff);
		ck_assert_int_eq(a->born, b->born);
		ck_assert_uint_eq(a->nframes, b->nframes);
		ck_assert_int_eq(a->frame == NULL, b->frame == NULL);
		ck_assert_int_eq(model_find(m, a->key), (long)i);
	}
	int64_t s1, c1, s2, c2;
	model_total(m, &s1, &c1);
	model_total(fresh, &s2, &c2);
	ck_assert_int_eq(s1, s2);
	ck_assert_int_eq(c1, c2);
	model_base_total(m, &s1, &c1);
	model_base_total(fresh, &s2, &c2);
	ck_assert_int_eq(s1, s2);
	ck_assert_int_eq(c1, c2);
}

/* Compute M (which may hold rows of earlier computes) and check it against
 * a model that computes the same from nothing. */
static void compute_vs_fresh(struct model *m, const struct model_options *o, struct heap *h,
			     struct heap *base)
{
	compute(m, o, h, base);
	struct model *fresh = model_new();
	model_compute(fresh, o, h, base);
	ck_same_rows(m, fresh);
	model_free(fresh);
}

/* The same heap again, then with stacks added (new rows, and new stacks of
 * rows that exist), gives what a new model gives; rows keep their keys. */
START_TEST(test_cache_new_stacks)
{
	static const enum model_group groups[] = { GROUP_LINE, GROUP_FUNCTION, GROUP_TRACEBACK };
	for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
		for (int cumulative = 0; cumulative < 2; cumulative++) {
			struct heap *h = common_heap();
			struct model *m = model_new();
			struct model_options o = opts(groups[g]);
			o.cumulative = cumulative;
			compute_vs_fresh(m, &o, h, NULL);
			const char *key = model_row(m, 0)->key;
			compute_vs_fresh(m, &o, h, NULL);
			ck_assert_ptr_eq(model_row(m, model_find(m, key))->key, key);
			/* A stack of an existing site, and a new site. */
			ADD(h, 1000, 10, FR("render", "/src/app/render.c", 7, APP),
			    FR("main", "/src/app/main.c", 13, APP));
			ADD(h, 5, 1, FR("grow", "/src/app/grow.c", 9, APP),
			    FR("main", "/src/app/main.c", 14, APP));
			/* A stack that had nothing gets something. */
			ADD(h, 0, 0, FR("later", "/src/app/later.c", 2, APP));
			compute_vs_fresh(m, &o, h, NULL);
			ck_assert_ptr_eq(model_row(m, model_find(m, key))->key, key);
			compute_vs_fresh(m, &o, h, h);
			compute_vs_fresh(m, &o, h, NULL);
			model_free(m);
			heap_free(h);
		}
	}
}
END_TEST

/* Row ids: a row keeps its id from one compute to the next (while rows
 * are only added), new rows get new ids, and an option that makes rows
 * anew changes the generation. */
START_TEST(test_row_ids)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	model_compute(m, &o, h, NULL);
	uint64_t gen = model_generation(m);
	size_t n = model_row_count(m);
	uint32_t ids = model_row_ids(m);
	ck_assert_uint_ge(ids, n);
	const char *keys[64];
	uint32_t id[64];
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++) {
		keys[i] = model_row(m, i)->key;
		id[i] = model_row_id(m, i);
		ck_assert_uint_lt(id[i], ids);
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(id[i], id[j]);
	}
	ADD(h, 1 << 20, 1, FR("grow", "/src/app/grow.c", 9, APP));
	o.sort = SORT_COUNT;
	model_compute(m, &o, h, NULL);
	ck_assert_uint_eq(model_generation(m), gen);
	ck_assert_uint_eq(model_row_ids(m), ids + 1);
	for (size_t i = 0; i < n; i++) {
		long at = model_find(m, keys[i]);
		ck_assert_int_ge(at, 0);
		ck_assert_uint_eq(model_row_id(m, (size_t)at), id[i]);
	}
	long grown = model_find(m, "/src/app/grow.c:9");
	ck_assert_int_ge(grown, 0);
	ck_assert_uint_eq(model_row_id(m, (size_t)grown), ids);
	o.group = GROUP_FILE;
	model_compute(m, &o, h, NULL);
	ck_assert_uint_ne(model_generation(m), gen);
	model_free(m);
	heap_free(h);
}
END_TEST

/* Every option that makes rows starts the rows again; the sort does not
 * need to, and patterns are compared by contents. */
START_TEST(test_cache_options)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	compute_vs_fresh(m, &o, h, NULL);
	o.group = GROUP_FILE;
	compute_vs_fresh(m, &o, h, NULL);
	o.group = GROUP_LINE;
	o.skip_system = 0;
	compute_vs_fresh(m, &o, h, NULL);
	o.skip_system = 1;
	compute_vs_fresh(m, &o, h, NULL);
	const char *skip[] = { "parse", NULL };
	o.skip = skip;
	compute_vs_fresh(m, &o, h, NULL);
	char *again = xstrdup("parse");
	const char *skip2[] = { again, NULL };
	o.skip = skip2; /* equal contents, another array */
	compute_vs_fresh(m, &o, h, NULL);
	free(again);
	const char *skip3[] = { "main", NULL };
	o.skip = skip3;
	compute_vs_fresh(m, &o, h, NULL);
	o.skip = NULL;
	const char *include[] = { "*render*", NULL };
	o.include = include;
	compute_vs_fresh(m, &o, h, NULL);
	o.include = NULL;
	const char *exclude[] = { "main.c", NULL };
	o.exclude = exclude;
	o.all_frames = 1;
	compute_vs_fresh(m, &o, h, NULL);
	o.all_frames = 0;
	compute_vs_fresh(m, &o, h, NULL);
	o.exclude = NULL;
	o.cumulative = 1;
	compute_vs_fresh(m, &o, h, NULL);
	o.cumulative = 0;
	o.sort = SORT_COUNT;
	compute_vs_fresh(m, &o, h, NULL);
	o.reverse = 1;
	compute_vs_fresh(m, &o, h, NULL);
	o.sort = SORT_ALLOCATED;
	compute_vs_fresh(m, &o, h, NULL);
	model_free(m);
	heap_free(h);
}
END_TEST

/* A base over another store is counted apart, and its rows do not outlive
 * it; heaps over another store start the rows again. */
START_TEST(test_cache_stores)
{
	struct heap *h = common_heap();
	struct model *m = model_new();
	struct model_options o = opts(GROUP_LINE);
	o.sort = SORT_DELTA;
	compute_vs_fresh(m, &o, h, NULL);
	struct heap *base = heap_empty();
	ADD(base, 900, 9, FR("render", "/src/app/render.c", 7, APP),
	    FR("main", "/src/app/main.c", 13, APP));
	ADD(base, 64, 1, FR("gone", "/src/app/gone.c", 5, APP));
	compute_vs_fresh(m, &o, h, base);
	ck_assert_int_ge(model_find(m, "/src/app/gone.c:5"), 0);
	heap_free(base);
	compute_vs_fresh(m, &o, h, NULL);
	ck_assert_int_eq(model_find(m, "/src/app/gone.c:5"), -1);
	compute_vs_fresh(m, &o, h, h);
	struct heap *other = common_heap();
	heap_free(h);
	compute_vs_fresh(m, &o, other, NULL);
	compute_vs_fresh(m, &o, other, other);
	/* Stack 0 of another store is another stack. */
	struct heap *third = heap_empty();
	ADD(third, 10, 1, FR("x", "/src/app/x.c", 1, APP));
	compute_vs_fresh(m, &o, third, NULL);
	CK_ROW(m, 0, "/src/app/x.c:1", 10, 1);
	model_free(m);
	heap_free(other);
	heap_free(third);
}
END_TEST

/* --- heaps over snapshots: counters that change under the same stacks -------- */

#define SNAP_MODULE "/nonexistent/heaptop-test/prog"

static uint8_t snap_buf[1 << 16];

/* Stack ID has depth id % 4 (the overflow stack 0 has none); stacks >= 8
 * have their pcs in SNAP_MODULE, the others in no module. */
static unsigned snap_depth(uint32_t id)
{
	return id % 4;
}

/* One snapshot: stacks FIRST .. FIRST+COUNT-1 sent, every stack below
 * NCOUNTED counted with values that depend on SCALE. */
static void put_snapshot(struct ht_writer *w, uint64_t seq, uint32_t first, uint32_t count,
			 uint32_t ncounted, int64_t scale)
{
	static const char exe[] = SNAP_MODULE, cmd[] = "prog";
	struct ht_hello he = {
		.pid = 1, .ppid = 1, .depth = 64, .max_stacks = 1000,
		.exe = exe, .exe_len = strlen(exe), .cmdline = cmd, .cmdline_len = strlen(cmd),
	};
	ht_encode_hello(w, &he);
	if (seq == 1) {
		struct ht_module mod = { .bias = 0x400000, .lo = 0x400000, .hi = 0x500000,
					 .path = exe, .path_len = strlen(exe) };
		size_t off = ht_frame_begin(w, HT_MSG_MODULES);
		ht_put_u32(w, 1);
		ht_put_u32(w, 1);
		ht_put_module(w, &mod);
		ht_frame_end(w, off);
	}
	size_t off = ht_frame_begin(w, HT_MSG_STACKS);
	ht_put_u32(w, first);
	ht_put_u32(w, count);
	for (uint32_t id = first; id < first + count; id++) {
		uint64_t pcs[4];
		for (unsigned j = 0; j < snap_depth(id); j++)
			pcs[j] = (id >= 8 ? 0x400000 : 0x1000) + (uint64_t)id * 0x10 + j;
		ht_put_stack(w, pcs, snap_depth(id));
	}
	ht_frame_end(w, off);
	off = ht_frame_begin(w, HT_MSG_COUNTERS);
	ht_put_u32(w, ncounted);
	uint64_t next_id = 0;
	for (uint32_t id = 0; id < ncounted; id++) {
		int64_t v = (id * 7 + scale * 3) % 11; /* some stacks go to 0 */
		struct ht_counter c = { .stack_id = id, .live_bytes = v * 100, .live_blocks = v,
					.total_bytes = (uint64_t)(v + id) * 1000,
					.total_blocks = (uint64_t)(v + id) };
		ht_put_counter(w, &c, &next_id);
	}
	ht_frame_end(w, off);
	struct ht_globals g = { .seq = seq, .stacks = first + count };
	ht_encode_globals(w, &g);
	ht_encode_end(w, seq);
}

static void load_snapshot(struct snapshot *s, uint64_t seq, uint32_t first, uint32_t count,
			  uint32_t ncounted, int64_t scale)
{
	struct ht_writer w;
	char *cause = NULL;
	ht_writer_init(&w, snap_buf, sizeof snap_buf);
	put_snapshot(&w, seq, first, count, ncounted, scale);
	ck_assert(!w.overflow);
	int r = snapshot_load_buffer(s, snap_buf, w.len, "test", &cause);
	ck_assert_msg(r == 0, "%s", cause);
}

/* Heaps over one store, as a live view makes them each refresh: counters
 * change, stacks are added, a mark is a base over the same store. */
START_TEST(test_cache_shared_store)
{
	static const enum model_group groups[] = { GROUP_LINE, GROUP_MODULE, GROUP_TRACEBACK };
	for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
		struct snapshot *s = snapshot_new();
		struct symbolizer *sym = symbolizer_new();
		load_snapshot(s, 1, 0, 12, 12, 1);
		heap_declare_modules(sym, s);
		struct heap_shared *sh = heap_shared_new(s, sym);
		struct model *m = model_new();
		struct model_options o = opts(groups[g]);
		struct heap *mark = heap_from_shared(sh), *h = NULL;
		compute_vs_fresh(m, &o, mark, NULL);
		for (int64_t scale = 2; scale < 6; scale++) {
			uint32_t n = 12 + 4 * (uint32_t)(scale - 1); /* new stacks each time */
			load_snapshot(s, (uint64_t)scale, n - 4, 4, n, scale);
			struct heap *next = heap_from_shared(sh);
			ck_assert_uint_eq(heap_stack_count(next), n);
			compute_vs_fresh(m, &o, next, scale % 2 ? mark : NULL);
			heap_free(h);
			h = next;
		}
		o.sort = SORT_DELTA;
		compute_vs_fresh(m, &o, h, mark);
		model_free(m);
		heap_free(h);
		heap_free(mark);
		heap_shared_unref(sh);
		symbolizer_free(sym);
		snapshot_free(s);
	}
}
END_TEST

static Suite *model_suite(void)
{
	Suite *su = suite_create("model");
	TCase *tc = tcase_create("model");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_group_line);
	tcase_add_test(tc, test_group_function_file_module);
	tcase_add_test(tc, test_group_traceback);
	tcase_add_test(tc, test_skip_system);
	tcase_add_test(tc, test_skip_system_sources);
	tcase_add_test(tc, test_skip_patterns);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_cumulative);
	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_diff);
	tcase_add_test(tc, test_delta_order);
	tcase_add_test(tc, test_null_fields);
	tcase_add_test(tc, test_address_names);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_born);
	tcase_add_test(tc, test_same_key);
	tcase_add_test(tc, test_cache_new_stacks);
	tcase_add_test(tc, test_cache_options);
	tcase_add_test(tc, test_row_ids);
	tcase_add_test(tc, test_cache_stores);
	tcase_add_test(tc, test_cache_shared_store);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(model_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
