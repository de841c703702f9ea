/*
 * libFuzzer target for the wire protocol.  The input is used twice: as a
 * byte stream split by ht_frame_parse, and as the bare payload of every
 * message type (so that the decoders get deep without the fuzzer having to
 * find a valid header first).
 *
 * Oracle besides the sanitizers: the format has exactly one encoding for
 * each value, so whatever decodes must re-encode to the same bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src -I BUILDDIR \
 *	tests/fuzz/fuzz_proto.c src/proto/proto.c -o fuzz_proto
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expect(int cond)
{
	if (!cond)
		abort();
}

static int redo_request(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_request q;
	if (ht_decode_request(f, &q))
		return 0;
	ht_encode_request(w, q.have_stacks, q.have_modules_gen, q.flags);
	return 1;
}

static int redo_hello(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_hello h;
	if (ht_decode_hello(f, &h))
		return 0;
	expect(h.exe_len <= HT_MAX_STR && h.cmdline_len <= HT_MAX_STR);
	expect(h.depth <= HT_MAX_DEPTH);
	ht_encode_hello(w, &h);
	return 1;
}

static int redo_globals(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_globals g;
	if (ht_decode_globals(f, &g))
		return 0;
	ht_encode_globals(w, &g);
	return 1;
}

static int redo_end(const struct ht_frame *f, struct ht_writer *w)
{
	uint64_t seq;
	if (ht_decode_end(f, &seq))
		return 0;
	ht_encode_end(w, seq);
	return 1;
}

static int redo_modules(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_module_iter it;
	struct ht_module m;
	int rc;
	if (ht_modules_begin(&it, f))
		return 0;
	size_t off = ht_frame_begin(w, HT_MSG_MODULES);
	ht_put_u32(w, it.generation);
	ht_put_u32(w, it.count);
	while ((rc = ht_modules_next(&it, &m)) == 1) {
		expect(m.path_len <= HT_MAX_STR && m.build_id_len <= HT_MAX_BUILD_ID);
		expect(m.lo <= m.hi);
		ht_put_module(w, &m);
	}
	ht_frame_end(w, off);
	return rc == 0;
}

static int redo_stacks(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_stack_iter it;
	uint64_t pcs[HT_MAX_DEPTH];
	const uint8_t *raw;
	uint32_t id;
	uint16_t depth;
	int rc;
	if (ht_stacks_begin(&it, f))
		return 0;
	size_t off = ht_frame_begin(w, HT_MSG_STACKS);
	ht_put_u32(w, it.first_id);
	ht_put_u32(w, it.count);
	while ((rc = ht_stacks_next(&it, &id, &depth, &raw)) == 1) {
		expect(depth <= HT_MAX_DEPTH);
		expect(id == it.first_id + it.index - 1);
		expect(it.shared <= depth && (!it.shared || it.base < id));
		for (unsigned i = 0; i < depth - it.shared; i++)
			pcs[i] = ht_pc_at(raw, i);
		ht_put_stack_shared(w, pcs, depth, it.base, it.shared);
	}
	ht_frame_end(w, off);
	return rc == 0;
}

static int redo_counters(const struct ht_frame *f, struct ht_writer *w)
{
	struct ht_counter_iter it;
	struct ht_counter c;
	int rc;
	if (ht_counters_begin(&it, f))
		return 0;
	size_t off = ht_frame_begin(w, HT_MSG_COUNTERS);
	ht_put_u32(w, it.count);
	uint64_t next_id = 0;
	while ((rc = ht_counters_next(&it, &c)) == 1)
		ht_put_counter(w, &c, &next_id);
	ht_frame_end(w, off);
	return rc == 0;
}

/* Decode F; if it decodes, re-encode it and compare with the original. */
static void check_frame(const struct ht_frame *f)
{
	static int (*const redo[])(const struct ht_frame *, struct ht_writer *) = {
		[HT_MSG_REQUEST] = redo_request, [HT_MSG_HELLO] = redo_hello,
		[HT_MSG_MODULES] = redo_modules, [HT_MSG_STACKS] = redo_stacks,
		[HT_MSG_COUNTERS] = redo_counters, [HT_MSG_GLOBALS] = redo_globals,
		[HT_MSG_END] = redo_end,
	};
	size_t cap = HT_HEADER_SIZE + (size_t)f->length;
	uint8_t *buf = malloc(cap);
	struct ht_writer w;

	expect(buf != NULL);
	ht_writer_init(&w, buf, cap);
	if (redo[f->type](f, &w)) {
		/* The same bytes, in a buffer of exactly the original's size. */
		expect(!w.overflow && w.len == cap);
		expect(memcmp(buf + HT_HEADER_SIZE, f->payload, f->length) == 0);
	}
	free(buf);
}

/* Split DATA into frames as a client would; stop at the first bad one. */
static void check_stream(const uint8_t *data, size_t size)
{
	size_t off = 0;
	for (;;) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(data + off, size - off, &f, &err);
		if (n < 0)
			expect(err != NULL);
		if (n <= 0)
			return;
		expect((size_t)n <= size - off && (size_t)n == HT_HEADER_SIZE + f.length);
		expect(f.type >= HT_MSG_REQUEST && f.type <= HT_MSG_END);
		check_frame(&f);
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_stream(data, size);
	if (size > HT_MAX_FRAME)
		return 0;
	for (uint16_t t = HT_MSG_REQUEST; t <= HT_MSG_END; t++) {
		struct ht_frame f = { .type = t, .length = (uint32_t)size, .payload = data };
		check_frame(&f);
	}
	return 0;
}
