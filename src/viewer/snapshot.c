/* The viewer's copy of one agent's heap, built frame by frame (see snapshot.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/readfile.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/snapshot.h"

/* A stack as it came: its own pcs at OFF, then (SHARED > 0) the last
 * SHARED frames of stack BASE, which holds at least one of them itself:
 * bases whose share covers them are skipped when the stack arrives, so a
 * stack is put together in at most DEPTH steps and the pcs held grow with
 * the bytes received, not with what they expand to. */
struct stack_ref {
	size_t off;
	uint16_t depth, shared;
	uint32_t base;
};

/* A module list; owns every path and build-id. */
struct module_list {
	struct snapshot_module *v;
	size_t n;
	uint32_t generation;
};

/* Counters indexed by stack id; ids >= n count as zero. */
struct counter_table {
	struct snapshot_counter *v;
	uint8_t *seen; /* per id: counted in this snapshot (pending table only) */
	uint32_t n;    /* entries allocated and valid in v and seen */
};

struct snapshot {
	/* The stack table: append-only, ids 0 .. nstacks-1, kept across
	 * snapshots because the agent's table is append-only too. */
	uint64_t *pcs;
	size_t npcs, pcs_cap;
	struct stack_ref *stacks;
	uint32_t nstacks;
	size_t stacks_cap;

	/* The agent the stacks came from: a HELLO from any other is refused,
	 * since its stack ids would mean different stacks. */
	int have_ident;
	uint32_t ident_pid;
	uint64_t ident_start_ns;

	/* The last complete snapshot. */
	uint64_t completed;
	struct snapshot_hello hello;
	struct ht_globals globals;
	struct module_list modules;
	struct counter_table counters;

	/* The snapshot being applied.  last is the type of the previous frame
	 * of this snapshot, 0 between snapshots. */
	unsigned last;
	struct snapshot_hello p_hello;
	struct ht_globals p_globals;
	struct module_list p_modules;
	int p_has_modules;
	struct counter_table p_counters;
};

#define TYPE_BIT(t) (1u << (t))

/* Which frame types may follow a frame of each type; index 0 is "between
 * snapshots".  HELLO MODULES? STACKS* COUNTERS+ GLOBALS END. */
static const unsigned frame_follows[] = {
	[0] = TYPE_BIT(HT_MSG_HELLO),
	[HT_MSG_HELLO] = TYPE_BIT(HT_MSG_MODULES) | TYPE_BIT(HT_MSG_STACKS) |
			 TYPE_BIT(HT_MSG_COUNTERS),
	[HT_MSG_MODULES] = TYPE_BIT(HT_MSG_STACKS) | TYPE_BIT(HT_MSG_COUNTERS),
	[HT_MSG_STACKS] = TYPE_BIT(HT_MSG_STACKS) | TYPE_BIT(HT_MSG_COUNTERS),
	[HT_MSG_COUNTERS] = TYPE_BIT(HT_MSG_COUNTERS) | TYPE_BIT(HT_MSG_GLOBALS),
	[HT_MSG_GLOBALS] = TYPE_BIT(HT_MSG_END),
	[HT_MSG_END] = TYPE_BIT(HT_MSG_HELLO),
};

/* Make room for NEED elements of SIZE bytes in *P of *CAP elements. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	*cap = n;
	return xreallocarray(p, n, size);
}

/* Before the first HELLO: zeros and empty strings, so callers need no NULL checks. */
static void hello_init(struct snapshot_hello *h)
{
	*h = (struct snapshot_hello){ .exe = xstrdup(""), .cmdline = xstrdup("") };
}

static void module_list_clear(struct module_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].path);
		free((uint8_t *)l->v[i].build_id);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->generation = 0;
}

/* Make T hold at least N entries; new ones are zero. */
static void counter_table_reserve(struct counter_table *t, uint32_t n)
{
	if (n <= t->n)
		return;
	t->v = xreallocarray(t->v, n, sizeof *t->v);
	t->seen = xreallocarray(t->seen, n, sizeof *t->seen);
	memset(t->v + t->n, 0, (size_t)(n - t->n) * sizeof *t->v);
	memset(t->seen + t->n, 0, (size_t)(n - t->n) * sizeof *t->seen);
	t->n = n;
}

static void counter_table_zero(struct counter_table *t)
{
	if (t->n == 0)
		return;
	memset(t->v, 0, (size_t)t->n * sizeof *t->v);
	memset(t->seen, 0, (size_t)t->n * sizeof *t->seen);
}

struct snapshot *snapshot_new(void)
{
	struct snapshot *s = xcalloc(1, sizeof *s);
	hello_init(&s->hello);
	hello_init(&s->p_hello);
	return s;
}

void snapshot_free(struct snapshot *s)
{
	if (s == NULL)
		return;
	free(s->pcs);
	free(s->stacks);
	free((char *)s->hello.exe);
	free((char *)s->hello.cmdline);
	free((char *)s->p_hello.exe);
	free((char *)s->p_hello.cmdline);
	module_list_clear(&s->modules);
	module_list_clear(&s->p_modules);
	free(s->counters.v);
	free(s->counters.seen);
	free(s->p_counters.v);
	free(s->p_counters.seen);
	free(s);
}

void snapshot_abort(struct snapshot *s)
{
	s->last = 0;
	s->p_has_modules = 0;
	module_list_clear(&s->p_modules);
}

int snapshot_in_progress(const struct snapshot *s)
{
	return s->last != 0 && s->last != HT_MSG_END;
}

static char *bad_frame(const struct ht_frame *f, const char *err)
{
	return xasprintf("bad %s frame: %s", ht_msg_name(f->type), err);
}

static int apply_hello(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	struct ht_hello h;
	const char *err = ht_decode_hello(f, &h);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	if (s->have_ident && (h.pid != s->ident_pid || h.start_ns != s->ident_start_ns)) {
		*cause = xasprintf("HELLO from another agent (pid %u, started at %llu ns; "
				   "expected pid %u, started at %llu ns)",
				   h.pid, (unsigned long long)h.start_ns, s->ident_pid,
				   (unsigned long long)s->ident_start_ns);
		return -1;
	}
	s->have_ident = 1;
	s->ident_pid = h.pid;
	s->ident_start_ns = h.start_ns;

	free((char *)s->p_hello.exe);
	free((char *)s->p_hello.cmdline);
	s->p_hello = (struct snapshot_hello){
		.pid = h.pid, .ppid = h.ppid, .start_ns = h.start_ns,
		.depth = h.depth, .flags = h.flags,
		.sample_bytes = h.sample_bytes, .max_stacks = h.max_stacks,
		.exe = xstrndup(h.exe ? h.exe : "", h.exe_len),
		.cmdline = xstrndup(h.cmdline ? h.cmdline : "", h.cmdline_len),
	};
	memset(&s->p_globals, 0, sizeof s->p_globals);
	module_list_clear(&s->p_modules);
	s->p_has_modules = 0;
	counter_table_zero(&s->p_counters);
	return 0;
}

static int apply_modules(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	struct ht_module_iter it;
	const char *err = ht_modules_begin(&it, f);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	struct module_list *l = &s->p_modules;
	module_list_clear(l);
	l->generation = it.generation;
	/* The iterator checked count against the frame length: safe to size by it. */
	l->v = xcalloc(it.count, sizeof *l->v);
	struct ht_module m;
	int r;
	while ((r = ht_modules_next(&it, &m)) == 1) {
		struct snapshot_module *d = &l->v[l->n++];
		d->path = xstrndup(m.path ? m.path : "", m.path_len);
		d->build_id_len = m.build_id_len;
		d->build_id = m.build_id_len ? memcpy(xmalloc(m.build_id_len),
						      m.build_id, m.build_id_len) : NULL;
		d->bias = m.bias;
		d->lo = m.lo;
		d->hi = m.hi;
	}
	if (r < 0) {
		*cause = bad_frame(f, it.r.error ? it.r.error : "bad module");
		return -1;
	}
	s->p_has_modules = 1;
	return 0;
}

static int apply_stacks(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	struct ht_stack_iter it;
	const char *err = ht_stacks_begin(&it, f);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	if (it.first_id != s->nstacks) {
		*cause = xasprintf("STACKS frame starts at stack %u, expected %u",
				   it.first_id, s->nstacks);
		return -1;
	}
	/* A frame is taken whole or not at all. */
	uint32_t nstacks0 = s->nstacks;
	size_t npcs0 = s->npcs;
	uint32_t id;
	uint16_t depth;
	const uint8_t *pcs;
	char *why = NULL; /* what is wrong beyond the decoder's checks */
	int r;
	while ((r = ht_stacks_next(&it, &id, &depth, &pcs)) == 1) {
		/* The base is an earlier id, so a stack held or taken above. */
		unsigned shared = it.shared;
		uint32_t base = shared ? it.base : 0;
		if (shared && shared > s->stacks[base].depth) {
			why = xasprintf("stack %u shares %u frames with stack %u, which has %u",
					id, shared, base, s->stacks[base].depth);
			r = -1;
			break;
		}
		/* Frames the base has from its own base are that one's: shares
		 * only shrink along the way, so this ends within DEPTH steps. */
		while (shared && shared <= s->stacks[base].shared)
			base = s->stacks[base].base;
		unsigned own = depth - shared;
		s->stacks = grow(s->stacks, &s->stacks_cap, (size_t)s->nstacks + 1,
				 sizeof *s->stacks);
		s->pcs = grow(s->pcs, &s->pcs_cap, s->npcs + own, sizeof *s->pcs);
		s->stacks[s->nstacks++] = (struct stack_ref){
			.off = s->npcs, .depth = depth, .shared = (uint16_t)shared, .base = base,
		};
		for (unsigned i = 0; i < own; i++)
			s->pcs[s->npcs++] = ht_pc_at(pcs, i);
	}
	if (r < 0) {
		s->nstacks = nstacks0;
		s->npcs = npcs0;
		*cause = why ? why : bad_frame(f, it.r.error ? it.r.error : "bad stack");
		return -1;
	}
	return 0;
}

static int apply_counters(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	struct ht_counter_iter it;
	const char *err = ht_counters_begin(&it, f);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	struct counter_table *t = &s->p_counters;
	counter_table_reserve(t, s->nstacks);
	struct ht_counter c;
	int r;
	while ((r = ht_counters_next(&it, &c)) == 1) {
		if (c.stack_id >= s->nstacks) {
			*cause = xasprintf("COUNTERS name stack %u, but only %u stacks are known",
					   c.stack_id, s->nstacks);
			return -1;
		}
		if (t->seen[c.stack_id]) {
			*cause = xasprintf("COUNTERS name stack %u twice", c.stack_id);
			return -1;
		}
		t->seen[c.stack_id] = 1;
		t->v[c.stack_id] = (struct snapshot_counter){
			.live_bytes = c.live_bytes, .live_blocks = c.live_blocks,
			.total_bytes = c.total_bytes, .total_blocks = c.total_blocks,
			.born_bytes = c.born_bytes, .born_blocks = c.born_blocks,
		};
	}
	if (r < 0) {
		*cause = bad_frame(f, it.r.error ? it.r.error : "bad counter");
		return -1;
	}
	return 0;
}

static int apply_globals(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	const char *err = ht_decode_globals(f, &s->p_globals);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	return 0;
}

/* The pending snapshot becomes the visible one. */
static void commit(struct snapshot *s)
{
	struct snapshot_hello h = s->hello;
	s->hello = s->p_hello;
	s->p_hello = h;
	s->globals = s->p_globals;
	if (s->p_has_modules) {
		struct module_list l = s->modules;
		s->modules = s->p_modules;
		s->p_modules = l;
		module_list_clear(&s->p_modules);
		s->p_has_modules = 0;
	}
	struct counter_table t = s->counters;
	s->counters = s->p_counters;
	s->p_counters = t;
	s->completed++;
}

static int apply_end(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	uint64_t seq;
	const char *err = ht_decode_end(f, &seq);
	if (err) {
		*cause = bad_frame(f, err);
		return -1;
	}
	if (seq != s->p_globals.seq) {
		*cause = xasprintf("END of snapshot %llu does not match GLOBALS of snapshot %llu",
				   (unsigned long long)seq,
				   (unsigned long long)s->p_globals.seq);
		return -1;
	}
	commit(s);
	return 1;
}

int snapshot_apply_frame(struct snapshot *s, const struct ht_frame *f, char **cause)
{
	unsigned type = f->type;
	if (type < HT_MSG_HELLO || type > HT_MSG_END ||
	    !(frame_follows[s->last] & TYPE_BIT(type))) {
		if (snapshot_in_progress(s))
			*cause = xasprintf("unexpected %s frame after %s", ht_msg_name(type),
					   ht_msg_name(s->last));
		else
			*cause = xasprintf("expected HELLO to start a snapshot, got %s",
					   ht_msg_name(type));
		snapshot_abort(s);
		return -1;
	}
	int r;
	switch (type) {
	case HT_MSG_HELLO:
		r = apply_hello(s, f, cause);
		break;
	case HT_MSG_MODULES:
		r = apply_modules(s, f, cause);
		break;
	case HT_MSG_STACKS:
		r = apply_stacks(s, f, cause);
		break;
	case HT_MSG_COUNTERS:
		r = apply_counters(s, f, cause);
		break;
	case HT_MSG_GLOBALS:
		r = apply_globals(s, f, cause);
		break;
	default:
		r = apply_end(s, f, cause);
		break;
	}
	if (r < 0) {
		snapshot_abort(s);
		return -1;
	}
	s->last = type;
	return r;
}

int snapshot_load_buffer(struct snapshot *s, const void *buf, size_t len,
			 const char *name, char **cause)
{
	const uint8_t *p = buf;
	size_t off = 0;
	if (len == 0) {
		*cause = xasprintf("%s: empty, not a heaptop snapshot", name);
		return -1;
	}
	while (off < len) {
		struct ht_frame f;
		const char *err = NULL;
		long n = ht_frame_parse(p + off, len - off, &f, &err);
		if (n < 0) {
			/* Say "not a snapshot" only for what is not one at all. */
			if (off == 0 && memcmp(p, "HTOP", len < 4 ? len : 4) != 0)
				*cause = xasprintf("%s: not a heaptop snapshot", name);
			else
				*cause = xasprintf("%s: byte %zu: %s", name, off, err);
			snapshot_abort(s);
			return -1;
		}
		if (n == 0)
			break;
		char *why = NULL;
		if (snapshot_apply_frame(s, &f, &why) < 0) {
			*cause = xasprintf("%s: byte %zu: %s", name, off, why);
			free(why);
			return -1;
		}
		off += (size_t)n;
	}
	if (off < len || snapshot_in_progress(s)) {
		*cause = xasprintf("%s: truncated at byte %zu", name, len);
		snapshot_abort(s);
		return -1;
	}
	return 0;
}

struct snapshot *snapshot_from_buffer(const void *buf, size_t len, const char *name,
				      char **cause)
{
	struct snapshot *s = snapshot_new();
	if (snapshot_load_buffer(s, buf, len, name, cause) == 0)
		return s;
	snapshot_free(s);
	return NULL;
}

struct snapshot *snapshot_load_file(const char *path, char **cause)
{
	size_t len;
	uint8_t *buf = readfile(path, &len, cause);
	if (!buf)
		return NULL;
	struct snapshot *s = snapshot_from_buffer(buf, len, path, cause);
	free(buf);
	return s;
}

uint64_t snapshot_completed(const struct snapshot *s)
{
	return s->completed;
}

const struct snapshot_hello *snapshot_hello(const struct snapshot *s)
{
	return &s->hello;
}

const struct ht_globals *snapshot_globals(const struct snapshot *s)
{
	return &s->globals;
}

uint32_t snapshot_module_generation(const struct snapshot *s)
{
	return s->modules.generation;
}

size_t snapshot_module_count(const struct snapshot *s)
{
	return s->modules.n;
}

const struct snapshot_module *snapshot_module(const struct snapshot *s, size_t i)
{
	return i < s->modules.n ? &s->modules.v[i] : NULL;
}

const struct snapshot_module *snapshot_module_at(const struct snapshot *s, uint64_t pc)
{
	for (size_t i = 0; i < s->modules.n; i++) {
		const struct snapshot_module *m = &s->modules.v[i];
		if (pc >= m->lo && pc < m->hi)
			return m;
	}
	return NULL;
}

uint32_t snapshot_stack_count(const struct snapshot *s)
{
	return s->nstacks;
}

unsigned snapshot_stack(const struct snapshot *s, uint32_t id, uint64_t *pcs)
{
	if (id >= s->nstacks)
		return 0;
	const struct stack_ref *x = &s->stacks[id];
	unsigned depth = x->depth, n = 0, k = depth; /* the last K of X to go */
	for (;;) {
		if (k > x->shared) {
			unsigned own = x->depth - x->shared, take = k - x->shared;
			memcpy(pcs + n, s->pcs + x->off + own - take, take * sizeof *pcs);
			n += take;
			k = x->shared;
		}
		if (k == 0)
			return depth;
		x = &s->stacks[x->base];
	}
}

struct snapshot_counter snapshot_counter(const struct snapshot *s, uint32_t id)
{
	if (id >= s->counters.n)
		return (struct snapshot_counter){ 0 };
	return s->counters.v[id];
}
