/* heaptop wire protocol: the one encoder and decoder both sides use. */
#include "config.h"

#include <string.h>

#include "proto/proto.h"

void ht_writer_init(struct ht_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->overflow = 0;
}

void ht_put_bytes(struct ht_writer *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void ht_put_u16(struct ht_writer *w, uint16_t v)
{
	uint8_t *p = ht_reserve(w, 2);
	if (p)
		ht_store_u16(p, v);
}

void ht_put_u32(struct ht_writer *w, uint32_t v)
{
	uint8_t *p = ht_reserve(w, 4);
	if (p)
		ht_store_u32(p, v);
}

void ht_put_u64(struct ht_writer *w, uint64_t v)
{
	uint8_t *p = ht_reserve(w, 8);
	if (p)
		ht_store_u64(p, v);
}

void ht_put_str(struct ht_writer *w, const char *s, size_t n)
{
	if (n > HT_MAX_STR)
		n = HT_MAX_STR;
	ht_put_u32(w, (uint32_t)n);
	ht_put_bytes(w, s, n);
}

void ht_patch_u32(struct ht_writer *w, size_t off, uint32_t v)
{
	if (w->overflow || off + 4 > w->len)
		return;
	ht_store_u32(w->buf + off, v);
}

size_t ht_frame_begin(struct ht_writer *w, enum ht_msg_type type)
{
	size_t off = w->len;
	ht_put_u32(w, HT_MAGIC);
	ht_put_u16(w, HT_VERSION);
	ht_put_u16(w, (uint16_t)type);
	ht_put_u32(w, 0);
	return off;
}

void ht_frame_end(struct ht_writer *w, size_t off)
{
	if (w->overflow)
		return;
	size_t n = w->len - off - HT_HEADER_SIZE;
	if (n > HT_MAX_FRAME) {
		w->overflow = 1;
		return;
	}
	ht_patch_u32(w, off + 8, (uint32_t)n);
}

void ht_encode_request(struct ht_writer *w, uint32_t have_stacks,
		       uint32_t have_modules_gen, uint32_t flags)
{
	size_t off = ht_frame_begin(w, HT_MSG_REQUEST);
	ht_put_u32(w, have_stacks);
	ht_put_u32(w, have_modules_gen);
	ht_put_u32(w, flags);
	ht_frame_end(w, off);
}

void ht_encode_hello(struct ht_writer *w, const struct ht_hello *h)
{
	size_t off = ht_frame_begin(w, HT_MSG_HELLO);
	ht_put_u32(w, h->pid);
	ht_put_u32(w, h->ppid);
	ht_put_u64(w, h->start_ns);
	ht_put_u32(w, h->depth);
	ht_put_u32(w, h->flags);
	ht_put_u64(w, h->sample_bytes);
	ht_put_u64(w, h->max_stacks);
	ht_put_str(w, h->exe, h->exe_len);
	ht_put_str(w, h->cmdline, h->cmdline_len);
	ht_frame_end(w, off);
}

/* The fields of struct ht_globals in wire order. */
static uint64_t *globals_field(struct ht_globals *g, int i)
{
	uint64_t *f[HT_GLOBALS_FIELDS] = {
		&g->seq, &g->realtime_ns, &g->monotonic_ns, &g->live_bytes,
		&g->live_blocks, &g->peak_bytes, &g->allocs, &g->frees,
		&g->total_bytes, &g->agent_bytes, &g->untracked_blocks,
		&g->untracked_bytes, &g->stacks, &g->flags, &g->exit_status,
		&g->mark_ns,
	};
	return f[i];
}

void ht_encode_globals(struct ht_writer *w, const struct ht_globals *g)
{
	struct ht_globals copy = *g;
	size_t off = ht_frame_begin(w, HT_MSG_GLOBALS);
	for (int i = 0; i < HT_GLOBALS_FIELDS; i++)
		ht_put_u64(w, *globals_field(&copy, i));
	ht_frame_end(w, off);
}

void ht_encode_end(struct ht_writer *w, uint64_t seq)
{
	size_t off = ht_frame_begin(w, HT_MSG_END);
	ht_put_u64(w, seq);
	ht_frame_end(w, off);
}

void ht_put_module(struct ht_writer *w, const struct ht_module *m)
{
	size_t path_len = m->path_len > HT_MAX_STR ? HT_MAX_STR : m->path_len;
	size_t id_len = m->build_id_len > HT_MAX_BUILD_ID ? 0 : m->build_id_len;
	ht_put_u64(w, m->bias);
	ht_put_u64(w, m->lo);
	ht_put_u64(w, m->hi);
	ht_put_u16(w, (uint16_t)path_len);
	ht_put_u16(w, (uint16_t)id_len);
	ht_put_bytes(w, m->path, path_len);
	ht_put_bytes(w, m->build_id, id_len);
}

void ht_put_stack_shared(struct ht_writer *w, const uint64_t *pcs, unsigned depth,
			 uint32_t base, unsigned shared)
{
	if (depth > HT_MAX_DEPTH) {
		/* Cut to the innermost frames: the outer ones, shared, go. */
		shared = 0;
		depth = HT_MAX_DEPTH;
	}
	if (shared > depth)
		shared = depth;
	uint8_t *p = ht_reserve(w, ht_stack_head_size(shared));
	if (p)
		ht_store_stack_head(p, depth, shared, base);
	for (unsigned i = 0; i < depth - shared; i++)
		ht_put_u64(w, pcs[i]);
}

void ht_put_stack(struct ht_writer *w, const uint64_t *pcs, unsigned depth)
{
	ht_put_stack_shared(w, pcs, depth, 0, 0);
}

void ht_put_counter(struct ht_writer *w, const struct ht_counter *c, uint64_t *next_id)
{
	uint8_t rec[HT_COUNTER_RECORD_MAX];
	size_t n = ht_store_counter(rec, c, next_id);
	uint8_t *p = ht_reserve(w, n);
	if (p)
		memcpy(p, rec, n);
}

static uint32_t load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

long ht_frame_parse(const void *buf, size_t len, struct ht_frame *f, const char **err)
{
	const uint8_t *p = buf;
	if (len < HT_HEADER_SIZE) {
		/* Reject a bad magic as early as its bytes arrive.  With no
		 * bytes, BUF may be NULL, which memcmp must not be given. */
		static const uint8_t magic[4] = { 'H', 'T', 'O', 'P' };
		if (len > 0 && memcmp(p, magic, len < 4 ? len : 4) != 0) {
			*err = "not a heaptop frame (bad magic)";
			return -1;
		}
		return 0;
	}
	if (load_u32(p) != HT_MAGIC) {
		*err = "not a heaptop frame (bad magic)";
		return -1;
	}
	uint16_t version = (uint16_t)(p[4] | p[5] << 8);
	if (version != HT_VERSION) {
		*err = "unsupported protocol version";
		return -1;
	}
	uint16_t type = (uint16_t)(p[6] | p[7] << 8);
	if (type < HT_MSG_REQUEST || type > HT_MSG_END) {
		*err = "unknown frame type";
		return -1;
	}
	uint32_t length = load_u32(p + 8);
	if (length > HT_MAX_FRAME) {
		*err = "frame too large";
		return -1;
	}
	if (len - HT_HEADER_SIZE < length)
		return 0;
	f->type = type;
	f->length = length;
	f->payload = p + HT_HEADER_SIZE;
	return (long)(HT_HEADER_SIZE + length);
}

void ht_reader_init(struct ht_reader *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
	r->error = NULL;
}

void ht_reader_fail(struct ht_reader *r, const char *msg)
{
	if (!r->error)
		r->error = msg;
	r->p = r->end;
}

const uint8_t *ht_get_bytes(struct ht_reader *r, size_t n)
{
	if (r->error || (size_t)(r->end - r->p) < n) {
		ht_reader_fail(r, "truncated frame");
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

uint16_t ht_get_u16(struct ht_reader *r)
{
	const uint8_t *p = ht_get_bytes(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t ht_get_u32(struct ht_reader *r)
{
	const uint8_t *p = ht_get_bytes(r, 4);
	return p ? load_u32(p) : 0;
}

uint64_t ht_get_u64(struct ht_reader *r)
{
	const uint8_t *p = ht_get_bytes(r, 8);
	return p ? (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32 : 0;
}

const char *ht_get_str(struct ht_reader *r, size_t max, size_t *n)
{
	uint32_t len = ht_get_u32(r);
	if (len > max) {
		ht_reader_fail(r, "string too long");
		*n = 0;
		return NULL;
	}
	const uint8_t *p = ht_get_bytes(r, len);
	*n = p ? len : 0;
	return (const char *)p;
}

const char *ht_reader_finish(struct ht_reader *r)
{
	if (!r->error && r->p != r->end)
		r->error = "trailing bytes in frame";
	return r->error;
}

static const char *expect_type(const struct ht_frame *f, enum ht_msg_type t)
{
	return f->type == t ? NULL : "unexpected frame type";
}

const char *ht_decode_request(const struct ht_frame *f, struct ht_request *out)
{
	const char *err = expect_type(f, HT_MSG_REQUEST);
	if (err)
		return err;
	struct ht_reader r;
	ht_reader_init(&r, f->payload, f->length);
	out->have_stacks = ht_get_u32(&r);
	out->have_modules_gen = ht_get_u32(&r);
	out->flags = ht_get_u32(&r);
	return ht_reader_finish(&r);
}

const char *ht_decode_hello(const struct ht_frame *f, struct ht_hello *out)
{
	const char *err = expect_type(f, HT_MSG_HELLO);
	if (err)
		return err;
	struct ht_reader r;
	ht_reader_init(&r, f->payload, f->length);
	out->pid = ht_get_u32(&r);
	out->ppid = ht_get_u32(&r);
	out->start_ns = ht_get_u64(&r);
	out->depth = ht_get_u32(&r);
	out->flags = ht_get_u32(&r);
	out->sample_bytes = ht_get_u64(&r);
	out->max_stacks = ht_get_u64(&r);
	out->exe = ht_get_str(&r, HT_MAX_STR, &out->exe_len);
	out->cmdline = ht_get_str(&r, HT_MAX_STR, &out->cmdline_len);
	if (!r.error && out->depth > HT_MAX_DEPTH)
		ht_reader_fail(&r, "stack depth out of range");
	return ht_reader_finish(&r);
}

const char *ht_decode_globals(const struct ht_frame *f, struct ht_globals *out)
{
	const char *err = expect_type(f, HT_MSG_GLOBALS);
	if (err)
		return err;
	struct ht_reader r;
	ht_reader_init(&r, f->payload, f->length);
	for (int i = 0; i < HT_GLOBALS_FIELDS; i++)
		*globals_field(out, i) = ht_get_u64(&r);
	return ht_reader_finish(&r);
}

const char *ht_decode_end(const struct ht_frame *f, uint64_t *seq)
{
	const char *err = expect_type(f, HT_MSG_END);
	if (err)
		return err;
	struct ht_reader r;
	ht_reader_init(&r, f->payload, f->length);
	*seq = ht_get_u64(&r);
	return ht_reader_finish(&r);
}

const char *ht_modules_begin(struct ht_module_iter *it, const struct ht_frame *f)
{
	const char *err = expect_type(f, HT_MSG_MODULES);
	if (err)
		return err;
	ht_reader_init(&it->r, f->payload, f->length);
	it->generation = ht_get_u32(&it->r);
	it->count = ht_get_u32(&it->r);
	it->index = 0;
	if (!it->r.error && it->count > HT_MAX_MODULES)
		ht_reader_fail(&it->r, "too many modules");
	/* Each module takes at least 28 bytes: a count beyond that is a lie. */
	if (!it->r.error && it->count > (size_t)(it->r.end - it->r.p) / 28)
		ht_reader_fail(&it->r, "module count exceeds frame");
	return it->r.error;
}

int ht_modules_next(struct ht_module_iter *it, struct ht_module *m)
{
	if (it->r.error)
		return -1;
	if (it->index == it->count)
		return ht_reader_finish(&it->r) ? -1 : 0;
	m->bias = ht_get_u64(&it->r);
	m->lo = ht_get_u64(&it->r);
	m->hi = ht_get_u64(&it->r);
	m->path_len = ht_get_u16(&it->r);
	m->build_id_len = ht_get_u16(&it->r);
	if (!it->r.error && m->path_len > HT_MAX_STR)
		ht_reader_fail(&it->r, "module path too long");
	if (!it->r.error && m->build_id_len > HT_MAX_BUILD_ID)
		ht_reader_fail(&it->r, "build-id too long");
	if (!it->r.error && m->lo > m->hi)
		ht_reader_fail(&it->r, "module range inverted");
	m->path = (const char *)ht_get_bytes(&it->r, m->path_len);
	m->build_id = ht_get_bytes(&it->r, m->build_id_len);
	if (it->r.error)
		return -1;
	it->index++;
	return 1;
}

const char *ht_stacks_begin(struct ht_stack_iter *it, const struct ht_frame *f)
{
	const char *err = expect_type(f, HT_MSG_STACKS);
	if (err)
		return err;
	ht_reader_init(&it->r, f->payload, f->length);
	it->first_id = ht_get_u32(&it->r);
	it->count = ht_get_u32(&it->r);
	it->index = 0;
	it->shared = 0;
	it->base = 0;
	if (!it->r.error && it->count > (size_t)(it->r.end - it->r.p) / HT_STACK_HEAD_SIZE)
		ht_reader_fail(&it->r, "stack count exceeds frame");
	if (!it->r.error && (uint64_t)it->first_id + it->count > UINT32_MAX)
		ht_reader_fail(&it->r, "stack ids overflow");
	return it->r.error;
}

int ht_stacks_next(struct ht_stack_iter *it, uint32_t *id, uint16_t *depth,
		   const uint8_t **pcs)
{
	if (it->r.error)
		return -1;
	if (it->index == it->count)
		return ht_reader_finish(&it->r) ? -1 : 0;
	uint32_t this_id = it->first_id + it->index;
	uint16_t d = ht_get_u16(&it->r), shared = ht_get_u16(&it->r);
	uint32_t base = 0;
	if (!it->r.error && d > HT_MAX_DEPTH)
		ht_reader_fail(&it->r, "stack too deep");
	if (!it->r.error && shared > d)
		ht_reader_fail(&it->r, "stack shares more frames than it has");
	if (!it->r.error && shared) {
		base = ht_get_u32(&it->r);
		if (!it->r.error && base >= this_id)
			ht_reader_fail(&it->r, "stack shares frames with a later stack");
	}
	const uint8_t *p = ht_get_bytes(&it->r, (size_t)(d - shared) * 8);
	if (it->r.error)
		return -1;
	it->index++;
	it->shared = shared;
	it->base = base;
	*id = this_id;
	*depth = d;
	*pcs = p;
	return 1;
}

uint64_t ht_pc_at(const uint8_t *pcs, unsigned i)
{
	const uint8_t *p = pcs + (size_t)i * 8;
	return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

const char *ht_counters_begin(struct ht_counter_iter *it, const struct ht_frame *f)
{
	const char *err = expect_type(f, HT_MSG_COUNTERS);
	if (err)
		return err;
	ht_reader_init(&it->r, f->payload, f->length);
	it->count = ht_get_u32(&it->r);
	it->index = 0;
	it->next_id = 0;
	/* Every record takes 2 bytes at least: a count the bytes that came
	 * cannot hold is refused before anyone allocates by it. */
	size_t left = (size_t)(it->r.end - it->r.p);
	if (!it->r.error && it->count > HT_MAX_COUNTERS)
		ht_reader_fail(&it->r, "too many counter records in one frame");
	else if (!it->r.error && it->count > left / HT_COUNTER_RECORD_MIN)
		ht_reader_fail(&it->r, "counter count does not match frame length");
	return it->r.error;
}

int ht_counters_next(struct ht_counter_iter *it, struct ht_counter *c)
{
	if (it->r.error)
		return -1;
	if (it->index == it->count)
		return ht_reader_finish(&it->r) ? -1 : 0;
	unsigned sizes = ht_get_u16(&it->r);
	uint64_t f[HT_COUNTER_FIELDS];
	if (!it->r.error && sizes >> (2 * HT_COUNTER_FIELDS))
		ht_reader_fail(&it->r, "counter record: bad field sizes");
	for (unsigned i = 0; i < HT_COUNTER_FIELDS && !it->r.error; i++) {
		unsigned code = sizes >> (2 * i) & 3, n = ht_counter_code_bytes(code);
		const uint8_t *b = n ? ht_get_bytes(&it->r, n) : NULL;
		f[i] = 0;
		for (unsigned k = n; b && k-- > 0;)
			f[i] = f[i] << 8 | b[k];
		/* One encoding per record: a field in more bytes than it
		 * needs is refused, so records compare byte for byte. */
		if (!it->r.error && ht_counter_code(f[i]) != code)
			ht_reader_fail(&it->r, "counter record: field not in its fewest bytes");
	}
	if (it->r.error)
		return -1;
	if (f[0] > UINT32_MAX || it->next_id + f[0] > UINT32_MAX) {
		ht_reader_fail(&it->r, "counter record: stack id past 2^32 - 1");
		return -1;
	}
	c->stack_id = (uint32_t)(it->next_id + f[0]);
	it->next_id = (uint64_t)c->stack_id + 1;
	c->live_bytes = ht_unzigzag(f[1]);
	c->live_blocks = ht_unzigzag(f[2]);
	c->total_bytes = f[3];
	c->total_blocks = f[4];
	c->born_bytes = ht_unzigzag(f[5]);
	c->born_blocks = ht_unzigzag(f[6]);
	it->index++;
	return 1;
}

const char *ht_msg_name(unsigned type)
{
	static const char *const names[] = {
		[HT_MSG_REQUEST] = "REQUEST", [HT_MSG_HELLO] = "HELLO",
		[HT_MSG_MODULES] = "MODULES", [HT_MSG_STACKS] = "STACKS",
		[HT_MSG_COUNTERS] = "COUNTERS", [HT_MSG_GLOBALS] = "GLOBALS",
		[HT_MSG_END] = "END",
	};
	if (type < sizeof names / sizeof names[0] && names[type])
		return names[type];
	return "unknown";
}
