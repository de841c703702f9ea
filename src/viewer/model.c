/*
 * The model: a heap's stacks grouped, filtered, sorted and diffed (see
 * model.h).
 *
 * How a compute stays fast (100 000 stacks of 20 frames in milliseconds):
 *  - every string a frame points to is given a small id once, by address
 *    first (the heaps intern their strings, so the address is met again and
 *    again) and by contents on the first sight of an address (so that the
 *    same file in the base heap gets the same id);
 *  - a frame's key under a grouping is then one 64-bit number made of ids
 *    and the line, and the table from those numbers to rows never touches a
 *    string; a traceback's key is the sequence of its frames' numbers;
 *  - the key string of a row is built only when the row is made, and fnmatch
 *    and the system-object test run once per distinct string, not per frame;
 *  - all of that is done once per stack, not once per compute: a model
 *    remembers each stack's rows (the stack map) for as long as the options
 *    that make rows and the heaps' frame store stay the same, so a live
 *    view's refresh only adds each stack's counters into its rows and sorts
 *    (the sort compares numbers only: the order of the key strings is kept
 *    as a rank per row, updated when rows are made).
 */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/path.h"
#include "common/xalloc.h"
#include "viewer/model.h"

#define UNRECORDED_KEY "[unrecorded stacks]"
#define NONE UINT32_MAX
#define ARENA_CHUNK (64 * 1024)
#define TABLE_MIN 1024
#define UNMAPPED UINT32_MAX /* a stack map entry not made yet */

/* Basename prefixes of the system objects that skip_system skips: the C
 * library, the C++ runtime, libgcc, libm, the dynamic loader, the agent
 * and its operator new, allocators that replace malloc. */
static const char *const system_prefixes[] = {
	"libc.so", "libc-", "libstdc++.so", "libgcc_s.so", "libm.so", "ld-linux",
	"ld64.so", "libheaptop.so", "libheaptop-cxx.so", "libpthread.so", "libdl.so",
	"libc++.so", "libc++abi.so", "libjemalloc.so", "libtcmalloc", "libmimalloc.so",
};

/* Sources of the C++ and Rust standard libraries, whose code is compiled
 * into the program (templates, inline functions, Rust's statically linked
 * std): a frame there is a system frame too, wherever its module.  The
 * libraries' headers (libstdc++, libc++), libstdc++'s own sources, and the
 * paths Rust's std is built under: rustup's toolchains (and their vendored
 * crates), and distributions' (/usr/src/rustc-VERSION/ on Debian). */
static const char *const system_sources[] = {
	"*/include/c++/*", "*/libstdc++-v3/*", "/rustc/*", "/rust/deps/*",
	"/cargo/registry/*", "*/rustc-[0-9]*/library/*", "*/rustc-[0-9]*/vendor/*",
};

static const char *const group_names[] = {
	[GROUP_LINE] = "line", [GROUP_FUNCTION] = "function", [GROUP_FILE] = "file",
	[GROUP_MODULE] = "module", [GROUP_TRACEBACK] = "traceback",
};

#define NGROUPS (sizeof group_names / sizeof group_names[0])

/* --- small pieces ---------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* FNV-1a widened to eight bytes a step (with a multiplier that spreads a
 * whole word): traceback keys run to kilobytes, and hashing them a byte at a
 * time was most of the cost of the traceback grouping. */
static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = FNV_OFFSET ^ n, w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; n > 0; s++, n--)
		h = (h ^ (unsigned char)*s) * FNV_PRIME;
	return h;
}

static uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

/* Tables index with this, so hashes that are plain numbers (addresses,
 * frame keys) spread as well as FNV's. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Make room for NEED elements of SIZE bytes in P, of *CAP elements. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	*cap = n;
	return xreallocarray(p, n, size);
}

struct strbuf {
	char *s;
	size_t len, cap;
};

static void strbuf_add(struct strbuf *b, const char *s, size_t n)
{
	b->s = grow(b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void strbuf_str(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

static void strbuf_set(struct strbuf *b, const char *s)
{
	b->len = 0;
	strbuf_str(b, s);
}

/* Chunks that never move, so the keys handed out stay put until freed. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

static char *arena_strdup(struct arena_chunk **head, const char *s, size_t n)
{
	struct arena_chunk *c = *head;
	if (c == NULL || c->cap - c->used <= n) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
		c = xmalloc(sizeof *c + cap);
		c->next = *head;
		c->used = 0;
		c->cap = cap;
		*head = c;
	}
	char *p = c->data + c->used;
	memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

static void arena_free(struct arena_chunk **head)
{
	while (*head) {
		struct arena_chunk *next = (*head)->next;
		free(*head);
		*head = next;
	}
}

/* --- an open-addressing index: 64-bit hash → 32-bit index ------------------ */

/* Callers probe from itab_first with itab_next until a slot whose idx is
 * NONE (then itab_put there) or whose entry is theirs. */
struct islot {
	uint64_t hash;
	uint32_t idx; /* NONE: empty */
};

struct itab {
	struct islot *v;
	size_t cap, n; /* cap a power of two, n < cap / 2 */
};

static size_t itab_first(const struct itab *t, uint64_t h)
{
	return (size_t)mix64(h) & (t->cap - 1);
}

static size_t itab_next(const struct itab *t, size_t j)
{
	return (j + 1) & (t->cap - 1);
}

static void itab_resize(struct itab *t, size_t cap)
{
	struct islot *old = t->v;
	size_t old_cap = t->cap;
	t->v = xreallocarray(NULL, cap, sizeof *t->v);
	t->cap = cap;
	memset(t->v, 0xff, cap * sizeof *t->v);
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].idx == NONE)
			continue;
		size_t j = itab_first(t, old[i].hash);
		while (t->v[j].idx != NONE)
			j = itab_next(t, j);
		t->v[j] = old[i];
	}
	free(old);
}

static void itab_put(struct itab *t, size_t j, uint64_t h, uint32_t idx)
{
	t->v[j] = (struct islot){ .hash = h, .idx = idx };
	if (++t->n * 2 >= t->cap)
		itab_resize(t, t->cap * 2);
}

/* Empty T, keeping its memory for the next compute. */
static void itab_clear(struct itab *t)
{
	if (t->v == NULL)
		itab_resize(t, TABLE_MIN);
	else
		memset(t->v, 0xff, t->cap * sizeof *t->v);
	t->n = 0;
}

/* --- the model ----------------------------------------------------------- */

/* What a row adds up while the heaps are read, apart from the rows so that
 * the counting touches one cache line or two per row. */
struct row_acc {
	int64_t size, count;
	uint64_t allocated, allocations;
	int64_t born, born_count;
	int64_t base_size, base_count;
	uint64_t stamp; /* the last stack mapped to the row (cumulative) */
};

/* The rows of one stack under the cached options: N rows, FIRST itself
 * when N is 1, else stack_rows[FIRST .. FIRST+N); no row when the filters
 * drop the stack; N is UNMAPPED until the stack is first counted. */
struct stack_map {
	uint32_t first;
	uint32_t n;
};

/* A traceback met in this compute: its frame keys are pool[off .. off+n). */
struct traceback {
	size_t off;
	uint32_t n;
	uint32_t row;
};

/* Pattern sets, and the bits of string flags that cache their matches. */
enum { SET_SKIP, SET_EXCLUDE, SET_INCLUDE, NSETS };
#define FLAG_KNOWN(set) (1u << (3 * (set)))
#define FLAG_FULL 1u /* shifted by 3 * set + 1: a pattern matches the string */
#define FLAG_BASE 2u /* ... or its basename */
/* Each *_KNOWN flag has its answer at the bit above it (str_flag). */
#define FLAG_SYSTEM_KNOWN (1u << (3 * NSETS))
#define FLAG_SOURCE_KNOWN (1u << (3 * NSETS + 2))
#define FLAG_FUNCTION_KNOWN (1u << (3 * NSETS + 4))

struct model {
	/* Every key met since the cache was last reset, in order of first
	 * sight; rows that are not listed stay here so that indices never
	 * move (and a site that comes back gets its row back). */
	struct model_row *rows;
	struct row_acc *acc;
	uint32_t nrows;
	size_t rows_cap;

	/* The listed rows, sorted (indices into rows), and back: pos[r] is
	 * row r's listed position or -1. */
	uint32_t *order;
	uint32_t nlisted;
	long *pos;
	size_t order_cap; /* of order and pos */

	/* Strings met since the cache was last reset, by id; id 0 is NULL.
	 * They belong to the heaps' store (and a foreign base's, whose
	 * compute resets the cache after it), so they live as long as the
	 * cache is valid. */
	const char **strs;
	uint16_t *flags; /* FLAG_* */
	uint32_t nstrs;
	size_t strs_cap;
	struct itab by_address; /* string address → id */
	struct itab by_text;    /* string contents → id */

	struct itab sites;      /* frame key → row */
	struct itab by_frames;  /* traceback's frame keys → index in tracebacks */
	struct traceback *tracebacks;
	uint32_t ntracebacks;
	size_t tracebacks_cap;
	uint64_t *pool;         /* the tracebacks' frame keys */
	size_t npool, pool_cap;
	uint64_t *seq;          /* the frame keys of the stack at hand */
	size_t seq_cap;

	struct itab keys;          /* key string → row */
	struct arena_chunk *arena; /* the rows' keys */
	struct strbuf buf;         /* the key being built */

	/* The rows in the order of their keys (ranked[0..nranked)), and each
	 * row's place in it (rank[r]); rows made since are not ranked yet. */
	uint32_t *ranked, *rank;
	uint32_t nranked;
	size_t rank_cap;

	/* The cache: everything above stays from one compute to the next
	 * while the options below and the frame store are the same.  The
	 * stack map is by stack index of that store. */
	int cached;                /* the fields below describe the rows */
	uint64_t store;            /* heap_store_id of the heaps counted */
	enum model_group group;
	int cumulative, all_frames, skip_system;
	char **patterns[NSETS];    /* copies, NULL-terminated; NULL: none */
	struct stack_map *map;
	size_t nmap, map_cap;      /* map[0..nmap) are made or UNMAPPED */
	uint32_t *stack_rows;      /* the rows of stacks with several */
	size_t nstack_rows, stack_rows_cap;
	uint32_t *found;           /* the rows of the stack being mapped */
	size_t nfound, found_cap;

	const char *const *sets[NSETS]; /* = patterns, as the matchers read them */
	uint64_t stamp;                 /* counts stacks mapped (cumulative) */
	uint64_t generation;            /* counts resets: row ids name new rows */
	int have_base;
	int64_t total_size, total_count, base_size, base_count;
};

const char *model_group_name(enum model_group g)
{
	return (unsigned)g < NGROUPS ? group_names[g] : NULL;
}

int model_group_parse(const char *name)
{
	for (size_t i = 0; name != NULL && i < NGROUPS; i++)
		if (strcmp(name, group_names[i]) == 0)
			return (int)i;
	return -1;
}

/* --- pattern sets ----------------------------------------------------------- */

/* An empty pattern list is no list: "when include patterns exist". */
static const char *const *pattern_set(const char *const *p)
{
	return p != NULL && p[0] != NULL ? p : NULL;
}

static void patterns_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* A copy of P (NULL-terminated or NULL), or NULL when it is empty. */
static char **patterns_copy(const char *const *p)
{
	p = pattern_set(p);
	if (p == NULL)
		return NULL;
	size_t n = 0;
	while (p[n] != NULL)
		n++;
	char **v = xreallocarray(NULL, n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(p[i]);
	v[n] = NULL;
	return v;
}

/* Does the copy V hold the patterns of P?  Compared by contents: a front
 * end may build equal lists anew for every compute. */
static int patterns_same(char *const *v, const char *const *p)
{
	p = pattern_set(p);
	if (v == NULL || p == NULL)
		return v == NULL && p == NULL;
	size_t i = 0;
	for (; v[i] != NULL && p[i] != NULL; i++)
		if (strcmp(v[i], p[i]) != 0)
			return 0;
	return v[i] == NULL && p[i] == NULL;
}

struct model *model_new(void)
{
	return xcalloc(1, sizeof(struct model));
}

void model_free(struct model *m)
{
	if (m == NULL)
		return;
	free(m->rows);
	free(m->acc);
	free(m->order);
	free(m->pos);
	free((void *)m->strs);
	free(m->flags);
	free(m->by_address.v);
	free(m->by_text.v);
	free(m->sites.v);
	free(m->by_frames.v);
	free(m->tracebacks);
	free(m->pool);
	free(m->seq);
	free(m->keys.v);
	free(m->buf.s);
	arena_free(&m->arena);
	free(m->ranked);
	free(m->rank);
	for (int i = 0; i < NSETS; i++)
		patterns_free(m->patterns[i]);
	free(m->map);
	free(m->stack_rows);
	free(m->found);
	free(m);
}

/* --- string ids ---------------------------------------------------------- */

static uint32_t str_new(struct model *m, const char *s)
{
	if (m->nstrs == m->strs_cap) {
		m->strs_cap = m->strs_cap ? 2 * m->strs_cap : TABLE_MIN;
		m->strs = xreallocarray((void *)m->strs, m->strs_cap, sizeof *m->strs);
		m->flags = xreallocarray(m->flags, m->strs_cap, sizeof *m->flags);
	}
	m->strs[m->nstrs] = s;
	m->flags[m->nstrs] = 0;
	return m->nstrs++;
}

/* The id of a string first met at this address. */
static uint32_t str_id_by_text(struct model *m, const char *s)
{
	uint64_t h = hash_str(s);
	size_t j = itab_first(&m->by_text, h);
	for (; m->by_text.v[j].idx != NONE; j = itab_next(&m->by_text, j))
		if (m->by_text.v[j].hash == h && strcmp(m->strs[m->by_text.v[j].idx], s) == 0)
			return m->by_text.v[j].idx;
	uint32_t id = str_new(m, s);
	itab_put(&m->by_text, j, h, id);
	return id;
}

/* The id of S, equal for equal strings; 0 for NULL.  Ids stay below 2^31
 * (frame keys keep the top bit): that many strings would not fit in memory. */
static uint32_t str_id(struct model *m, const char *s)
{
	if (s == NULL)
		return 0;
	uint64_t addr = (uint64_t)(uintptr_t)s;
	size_t j = itab_first(&m->by_address, addr);
	for (; m->by_address.v[j].idx != NONE; j = itab_next(&m->by_address, j))
		if (m->by_address.v[j].hash == addr)
			return m->by_address.v[j].idx;
	uint32_t id = str_id_by_text(m, s);
	itab_put(&m->by_address, j, addr, id);
	return id;
}

/* FLAG_FULL and FLAG_BASE: does a pattern of SET match string ID? */
static unsigned str_match(struct model *m, int set, uint32_t id)
{
	if (id == 0)
		return 0; /* a NULL field never matches */
	unsigned shift = 3 * (unsigned)set + 1;
	if (!(m->flags[id] & FLAG_KNOWN(set))) {
		const char *s = m->strs[id], *base = path_base(s);
		unsigned bits = FLAG_KNOWN(set);
		for (const char *const *p = m->sets[set]; *p != NULL; p++) {
			if (fnmatch(*p, s, 0) == 0)
				bits |= FLAG_FULL << shift;
			if (fnmatch(*p, base, 0) == 0)
				bits |= FLAG_BASE << shift;
		}
		m->flags[id] |= (uint16_t)bits;
	}
	return (m->flags[id] >> shift) & (FLAG_FULL | FLAG_BASE);
}

/* Is NAME (a module's path) a system object's? */
static int system_module_name(const char *name)
{
	if (name == NULL)
		return 0;
	const char *base = path_base(name);
	for (size_t i = 0; i < sizeof system_prefixes / sizeof system_prefixes[0]; i++)
		if (strncmp(base, system_prefixes[i], strlen(system_prefixes[i])) == 0)
			return 1;
	return 0;
}

int model_system_module(const char *path)
{
	return system_module_name(path);
}

/* Is PATH (a source file's) one of a standard library? */
static int system_source_path(const char *path)
{
	for (size_t i = 0; i < sizeof system_sources / sizeof system_sources[0]; i++)
		if (fnmatch(system_sources[i], path, 0) == 0)
			return 1;
	return 0;
}

/* TEST of string ID (0: none, never), worked out once: KNOWN says the
 * answer is in m->flags, at the bit above KNOWN. */
static int str_flag(struct model *m, uint32_t id, unsigned known, int (*test)(const char *))
{
	if (id == 0)
		return 0;
	if (!(m->flags[id] & known))
		m->flags[id] |= (uint16_t)(known | (test(m->strs[id]) ? known << 1 : 0));
	return (m->flags[id] & known << 1) != 0;
}

/* Functions of the C++ and Rust standard libraries, for frames without a
 * source file (Rust's std is shipped without line tables for much of it,
 * and programs are built without -g): C++'s std::, Rust's std::, core::,
 * alloc:: and the crates Rust's std is built with. */
static const char *const system_namespaces[] = {
	"std::", "core::", "alloc::", "hashbrown::", "gimli::", "addr2line::",
	"miniz_oxide::", "rustc_demangle::", "std_detect::",
};

/* Does the function NAME start in a system namespace?  The namespace may
 * follow a return type ("void std::vector<int>::_M_realloc_insert<...>
 * (...)") or impl brackets ("<alloc::raw_vec::RawVecInner>::grow"). */
static int system_function_name(const char *name)
{
	int depth = 0;
	for (const char *p = name; *p != '\0' && !(*p == '(' && depth == 0); p++) {
		if (*p == '<')
			depth++;
		else if (*p == '>' && depth > 0)
			depth--;
		/* Names start at the beginning, after a space at the top level
		 * (a return type) or after leading impl brackets. */
		int start = p == name || (depth == 0 && p[-1] == ' ') ||
			    (p[-1] == '<' && strspn(name, "<") == (size_t)(p - name));
		if (!start)
			continue;
		for (size_t i = 0; i < sizeof system_namespaces / sizeof system_namespaces[0]; i++)
			if (strncmp(p, system_namespaces[i], strlen(system_namespaces[i])) == 0)
				return 1;
	}
	return 0;
}

/* --- attribution and filters --------------------------------------------- */

static int is_system(struct model *m, const struct heap_frame *f)
{
	if (str_flag(m, str_id(m, f->module), FLAG_SYSTEM_KNOWN, system_module_name))
		return 1;
	if (f->file != NULL)
		return str_flag(m, str_id(m, f->file), FLAG_SOURCE_KNOWN, system_source_path);
	return str_flag(m, str_id(m, f->function), FLAG_FUNCTION_KNOWN, system_function_name);
}

/* Does a pattern of SET match F's location, FILE:LINE (full path or
 * basename)?  What a search in the live view matches too, so that one
 * kept as a filter keeps the rows it showed. */
static int location_matches(struct model *m, int set, const struct heap_frame *f)
{
	if (f->file == NULL || f->line == 0)
		return 0;
	char loc[4096 + 16];
	int n = snprintf(loc, sizeof loc, "%s:%u", f->file, f->line);
	if (n < 0 || (size_t)n >= sizeof loc)
		return 0;
	const char *base = path_base(loc);
	for (const char *const *p = m->sets[set]; *p != NULL; p++)
		if (fnmatch(*p, loc, 0) == 0 || fnmatch(*p, base, 0) == 0)
			return 1;
	return 0;
}

/* Does a pattern of SET match the function, the file (full path or
 * basename), the location FILE:LINE (likewise) or the module (likewise)
 * of F? */
static int frame_matches(struct model *m, int set, const struct heap_frame *f)
{
	if (m->sets[set] == NULL)
		return 0;
	return (str_match(m, set, str_id(m, f->function)) & FLAG_FULL) ||
	       str_match(m, set, str_id(m, f->file)) || str_match(m, set, str_id(m, f->module)) ||
	       location_matches(m, set, f);
}

/* The attributed frame of F[0..N), N > 0 (see model.h).  A system frame is
 * skipped only when a frame outside the system objects exists further out,
 * even when that frame is itself skipped by a pattern. */
static size_t attribute(struct model *m, int skip_system, const struct heap_frame *f, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (!frame_matches(m, SET_SKIP, &f[j]) && !(skip_system && is_system(m, &f[j])))
			return j;
	if (!skip_system)
		return 0;
	/* Every frame is skipped by a pattern or is a system frame: the system
	 * frames beyond the outermost user frame are not skipped after all. */
	size_t j = n;
	while (j > 0 && is_system(m, &f[j - 1]))
		j--;
	for (; j < n; j++)
		if (!frame_matches(m, SET_SKIP, &f[j]))
			return j;
	return 0;
}

/* Do the filters keep the stack F[0..N) attributed to F[ATTR]? */
static int keep_stack(struct model *m, int all_frames, const struct heap_frame *f, size_t n,
		      size_t attr)
{
	size_t lo = all_frames ? 0 : attr, hi = all_frames ? n : attr + 1;
	if (n == 0)
		lo = hi = 0;
	for (size_t j = lo; j < hi; j++)
		if (frame_matches(m, SET_EXCLUDE, &f[j]))
			return 0;
	if (m->sets[SET_INCLUDE] == NULL)
		return 1;
	for (size_t j = lo; j < hi; j++)
		if (frame_matches(m, SET_INCLUDE, &f[j]))
			return 1;
	return 0;
}

/* --- keys ------------------------------------------------------------------ */

/*
 * A frame key: what a frame's key string is made of under one grouping, as
 * one number.  Bit 63 says which form the key takes; bits 32..62 hold a
 * string id; bits 0..31 a line or a second string id:
 *   line      file:line, or (fallback) module and function
 *   function  function, or (fallback) module, and the address that names
 *             a function without a symbol
 *   file      file, or (fallback) module
 *   module    module
 * Equal keys, equal strings; different numbers may still spell the same
 * string (the key table merges those rows).
 */
#define FALLBACK (1ull << 63)

static uint64_t frame_key(struct model *m, enum model_group g, const struct heap_frame *f)
{
	const char *s = g == GROUP_FUNCTION ? f->function : g == GROUP_MODULE ? f->module : f->file;
	if (s != NULL && !(g == GROUP_FUNCTION && heap_address_name(s))) {
		uint32_t x = g == GROUP_LINE || g == GROUP_TRACEBACK ? f->line : 0;
		return (uint64_t)str_id(m, s) << 32 | x;
	}
	uint32_t x = g != GROUP_FILE && g != GROUP_MODULE ? str_id(m, f->function) : 0;
	return FALLBACK | (uint64_t)str_id(m, f->module) << 32 | x;
}

/* Append the key string of frame key K under G to m->buf. */
static void key_append(struct model *m, enum model_group g, uint64_t k)
{
	uint32_t a = (uint32_t)(k >> 32) & 0x7fffffff, x = (uint32_t)k;
	int line = g == GROUP_LINE || g == GROUP_TRACEBACK;
	strbuf_str(&m->buf, a ? m->strs[a] : "??");
	if (!(k & FALLBACK) && line) {
		char num[16], *p = num + sizeof num;
		do
			*--p = (char)('0' + x % 10);
		while ((x /= 10) != 0);
		*--p = ':';
		strbuf_add(&m->buf, p, (size_t)(num + sizeof num - p));
	} else if ((k & FALLBACK) && line && x != 0) {
		strbuf_str(&m->buf, ":"); /* no file: MODULE:FUNCTION */
		strbuf_str(&m->buf, m->strs[x]);
	} else if ((k & FALLBACK) && g == GROUP_FUNCTION && a != 0) {
		/* unknown function: MODULE:?? or MODULE:ADDRESS */
		strbuf_str(&m->buf, ":");
		strbuf_str(&m->buf, x ? m->strs[x] : "??");
	}
}

static uint32_t row_new(struct model *m, const struct heap_frame *f, size_t n)
{
	if (m->nrows == m->rows_cap) {
		m->rows_cap = m->rows_cap ? 2 * m->rows_cap : TABLE_MIN;
		m->rows = xreallocarray(m->rows, m->rows_cap, sizeof *m->rows);
		m->acc = xreallocarray(m->acc, m->rows_cap, sizeof *m->acc);
	}
	uint32_t r = m->nrows++;
	m->rows[r] = (struct model_row){
		.key = arena_strdup(&m->arena, m->buf.s, m->buf.len),
		.frame = n ? f : NULL, .frames = n ? f : NULL, .nframes = n,
	};
	m->acc[r] = (struct row_acc){ 0 };
	return r;
}

/* The slot of KEY (hash H) in the key table: its row's, or the empty
 * slot where it belongs. */
static size_t key_slot(const struct model *m, const char *key, uint64_t h)
{
	size_t j = itab_first(&m->keys, h);
	for (; m->keys.v[j].idx != NONE; j = itab_next(&m->keys, j))
		if (m->keys.v[j].hash == h && strcmp(m->rows[m->keys.v[j].idx].key, key) == 0)
			break;
	return j;
}

/* The row of the key string in m->buf, made with frames F[0..N) if new. */
static uint32_t key_row(struct model *m, const struct heap_frame *f, size_t n)
{
	uint64_t h = hash_bytes(m->buf.s, m->buf.len);
	size_t j = key_slot(m, m->buf.s, h);
	if (m->keys.v[j].idx != NONE)
		return m->keys.v[j].idx;
	uint32_t r = row_new(m, f, n);
	itab_put(&m->keys, j, h, r);
	return r;
}

/* The row of frame F under G (not GROUP_TRACEBACK).  A frame key is its own
 * hash in the sites table: equal hashes, equal sites. */
static uint32_t site_row(struct model *m, enum model_group g, const struct heap_frame *f)
{
	uint64_t k = frame_key(m, g, f);
	size_t j = itab_first(&m->sites, k);
	for (; m->sites.v[j].idx != NONE; j = itab_next(&m->sites, j))
		if (m->sites.v[j].hash == k)
			return m->sites.v[j].idx;
	strbuf_set(&m->buf, "");
	key_append(m, g, k);
	uint32_t row = key_row(m, f, 1);
	itab_put(&m->sites, j, k, row);
	return row;
}

static uint64_t seq_hash(const uint64_t *k, size_t n)
{
	uint64_t h = FNV_OFFSET;
	for (size_t i = 0; i < n; i++)
		h = mix64(h ^ k[i]);
	return h;
}

/* Remember that the frame keys in m->seq[0..N) (hash H) make ROW, in
 * slot J of the by_frames table. */
static void traceback_add(struct model *m, size_t j, uint64_t h, size_t n, uint32_t row)
{
	m->pool = grow(m->pool, &m->pool_cap, m->npool + n, sizeof *m->pool);
	memcpy(m->pool + m->npool, m->seq, n * sizeof *m->seq);
	m->tracebacks = grow(m->tracebacks, &m->tracebacks_cap, (size_t)m->ntracebacks + 1,
			     sizeof *m->tracebacks);
	m->tracebacks[m->ntracebacks] = (struct traceback){ m->npool, (uint32_t)n, row };
	m->npool += n;
	itab_put(&m->by_frames, j, h, m->ntracebacks++);
}

/* The row of the traceback F[0..N), N > 0. */
static uint32_t traceback_row(struct model *m, const struct heap_frame *f, size_t n)
{
	m->seq = grow(m->seq, &m->seq_cap, n, sizeof *m->seq);
	for (size_t i = 0; i < n; i++)
		m->seq[i] = frame_key(m, GROUP_LINE, &f[i]);
	uint64_t h = seq_hash(m->seq, n);
	size_t j = itab_first(&m->by_frames, h);
	for (; m->by_frames.v[j].idx != NONE; j = itab_next(&m->by_frames, j)) {
		const struct traceback *t = &m->tracebacks[m->by_frames.v[j].idx];
		if (m->by_frames.v[j].hash == h && t->n == n &&
		    memcmp(m->pool + t->off, m->seq, n * sizeof *m->seq) == 0)
			return t->row;
	}
	strbuf_set(&m->buf, "");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_str(&m->buf, "\n");
		key_append(m, GROUP_LINE, m->seq[i]);
	}
	uint32_t row = key_row(m, f, n);
	traceback_add(m, j, h, n, row);
	return row;
}

/* --- the stack map ------------------------------------------------------------ */

static void found_add(struct model *m, uint32_t r)
{
	m->found = grow(m->found, &m->found_cap, m->nfound + 1, sizeof *m->found);
	m->found[m->nfound++] = r;
}

/* Find or make the rows of the stack F[0..N) attributed to F[ATTR] into
 * m->found. */
static void find_rows(struct model *m, const struct model_options *o, const struct heap_frame *f,
		      size_t n, size_t attr)
{
	if (n == 0) {
		strbuf_set(&m->buf, UNRECORDED_KEY);
		found_add(m, key_row(m, NULL, 0));
	} else if (o->group == GROUP_TRACEBACK) {
		found_add(m, traceback_row(m, f + attr, n - attr));
	} else if (o->cumulative) {
		/* Every distinct key once, so recursion is not counted twice. */
		m->stamp++;
		for (size_t j = attr; j < n; j++) {
			uint32_t r = site_row(m, o->group, f + j);
			if (m->acc[r].stamp != m->stamp) {
				m->acc[r].stamp = m->stamp;
				found_add(m, r);
			}
		}
	} else {
		found_add(m, site_row(m, o->group, f + attr));
	}
}

/* The rows of stack I of H into m->found; none when the filters drop it. */
static void stack_find(struct model *m, const struct model_options *o, struct heap *h, uint32_t i)
{
	const struct heap_frame *f = NULL;
	size_t n = heap_frames(h, i, &f);
	size_t attr = n ? attribute(m, o->skip_system, f, n) : 0;
	m->nfound = 0;
	if (keep_stack(m, o->all_frames, f, n, attr))
		find_rows(m, o, f, n, attr);
}

/* Room in the stack map for stacks 0 .. N-1. */
static void map_reserve(struct model *m, size_t n)
{
	if (n <= m->nmap)
		return;
	m->map = grow(m->map, &m->map_cap, n, sizeof *m->map);
	for (size_t i = m->nmap; i < n; i++)
		m->map[i] = (struct stack_map){ 0, UNMAPPED };
	m->nmap = n;
}

/* The rows of stack I of H (below m->nmap), mapped on first use: sets
 * *ROWS and returns how many. */
static size_t stack_rows(struct model *m, const struct model_options *o, struct heap *h, uint32_t i,
			 const uint32_t **rows)
{
	struct stack_map *s = &m->map[i];
	if (s->n == UNMAPPED) {
		stack_find(m, o, h, i);
		s->n = (uint32_t)m->nfound;
		if (m->nfound == 1) {
			s->first = m->found[0];
		} else if (m->nfound > 1) {
			s->first = (uint32_t)m->nstack_rows;
			m->stack_rows = grow(m->stack_rows, &m->stack_rows_cap,
					     m->nstack_rows + m->nfound, sizeof *m->stack_rows);
			memcpy(m->stack_rows + m->nstack_rows, m->found,
			       m->nfound * sizeof *m->found);
			m->nstack_rows += m->nfound;
		}
	}
	*rows = s->n == 1 ? &s->first : m->stack_rows + s->first;
	return s->n;
}

/* --- compute --------------------------------------------------------------- */

static void row_add(struct model *m, uint32_t r, const struct heap_counter *c, int base)
{
	struct row_acc *a = &m->acc[r];
	if (base) {
		a->base_size += c->live_bytes;
		a->base_count += c->live_blocks;
		return;
	}
	a->size += c->live_bytes;
	a->count += c->live_blocks;
	a->allocated += c->total_bytes;
	a->allocations += c->total_blocks;
	a->born += c->born_bytes;
	a->born_count += c->born_blocks;
}

/* Count every stack of H that the filters keep into the rows; through the
 * stack map when H is over the cached store (MAPPED), else finding the
 * rows of every stack. */
static void add_heap(struct model *m, const struct model_options *o, struct heap *h, int base,
		     int mapped)
{
	int64_t *size = base ? &m->base_size : &m->total_size;
	int64_t *count = base ? &m->base_count : &m->total_count;
	uint32_t nstacks = heap_stack_count(h);
	if (mapped)
		map_reserve(m, nstacks);
	for (uint32_t i = 0; i < nstacks; i++) {
		struct heap_counter c = heap_counter(h, i);
		if (c.live_blocks == 0 && c.total_blocks == 0)
			continue;
		const uint32_t *rows;
		size_t n;
		if (mapped) {
			n = stack_rows(m, o, h, i, &rows);
		} else {
			stack_find(m, o, h, i);
			rows = m->found;
			n = m->nfound;
		}
		if (n == 0)
			continue;
		*size += c.live_bytes;
		*count += c.live_blocks;
		for (size_t k = 0; k < n; k++)
			row_add(m, rows[k], &c, base);
	}
}

/* Do the rows and the stack map hold for options O over store STORE? */
static int cache_valid(const struct model *m, const struct model_options *o, uint64_t store)
{
	if (!m->cached || m->store != store || m->group != o->group ||
	    m->cumulative != (o->cumulative != 0) || m->all_frames != (o->all_frames != 0) ||
	    m->skip_system != (o->skip_system != 0))
		return 0;
	return patterns_same(m->patterns[SET_SKIP], o->skip) &&
	       patterns_same(m->patterns[SET_EXCLUDE], o->exclude) &&
	       patterns_same(m->patterns[SET_INCLUDE], o->include);
}

/* Forget every row, string and stack: a compute over STORE under O
 * starts from nothing. */
static void model_reset(struct model *m, const struct model_options *o, uint64_t store)
{
	m->generation++;
	m->nrows = m->nlisted = m->ntracebacks = m->nranked = 0;
	m->npool = m->nmap = m->nstack_rows = 0;
	m->stamp = 0;
	arena_free(&m->arena);
	m->nstrs = 0;
	str_new(m, NULL); /* id 0 */
	itab_clear(&m->by_address);
	itab_clear(&m->by_text);
	itab_clear(&m->sites);
	itab_clear(&m->by_frames);
	itab_clear(&m->keys);
	m->store = store;
	m->group = o->group;
	m->cumulative = o->cumulative != 0;
	m->all_frames = o->all_frames != 0;
	m->skip_system = o->skip_system != 0;
	const char *const *sets[NSETS] = {
		[SET_SKIP] = o->skip, [SET_EXCLUDE] = o->exclude, [SET_INCLUDE] = o->include,
	};
	for (int i = 0; i < NSETS; i++) {
		patterns_free(m->patterns[i]);
		m->patterns[i] = patterns_copy(sets[i]);
		m->sets[i] = (const char *const *)m->patterns[i];
	}
}

/* Zero what the rows add up, keeping the rows. */
static void model_begin(struct model *m)
{
	m->nlisted = 0;
	m->have_base = 0;
	m->total_size = m->total_count = m->base_size = m->base_count = 0;
	for (uint32_t r = 0; r < m->nrows; r++)
		m->acc[r] = (struct row_acc){ .stamp = m->acc[r].stamp };
}

/* --- sorting --------------------------------------------------------------- */

/*
 * A sort puts each row's numbers into an item as unsigned keys, most
 * significant first, that order like the numbers do; items then compare
 * without touching the rows, which matters with 100 000 rows.  Rows equal
 * in every number compare by key: by the row's rank in key order, made
 * when the row was (key strings are compared once per new row, not in
 * every sort).
 */
#define SORT_KEYS 4

struct sort_item {
	uint64_t k[SORT_KEYS];
	uint32_t rank; /* the row's place in key order */
	uint32_t row;
};

/* --- the rows in key order ------------------------------------------------------ */

struct key_item {
	const char *key;
	uint32_t row;
};

/* Keys in the order a person reads them: the numbers in them by value, so
 * that leak.c:6 comes before leak.c:14 (strverscmp is 0 for equal keys
 * only, as strcmp). */
static int key_order(const char *a, const char *b)
{
	return strverscmp(a, b);
}

static int compare_keys(const void *pa, const void *pb)
{
	const struct key_item *a = pa, *b = pb;
	return key_order(a->key, b->key);
}

/* The first place in ranked[LO..HI) whose key is after KEY (keys are
 * distinct: the key table merges equal ones). */
static size_t ranked_search(const struct model *m, size_t lo, size_t hi, const char *key)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_order(m->rows[m->ranked[mid]].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Rank the rows made since the last ranking: sort them by key, merge them
 * into m->ranked (a binary search each, so few new rows cost few string
 * comparisons), and renumber the ranks from the first place that moved. */
static void rank_rows(struct model *m)
{
	uint32_t old = m->nranked, nnew = m->nrows - old;
	if (nnew == 0)
		return;
	struct key_item *fresh = xreallocarray(NULL, nnew, sizeof *fresh);
	for (uint32_t i = 0; i < nnew; i++)
		fresh[i] = (struct key_item){ m->rows[old + i].key, old + i };
	qsort(fresh, nnew, sizeof *fresh, compare_keys);
	uint32_t *merged = xreallocarray(NULL, m->nrows, sizeof *merged);
	size_t from = 0, out = 0, first = SIZE_MAX;
	for (uint32_t i = 0; i < nnew; i++) {
		size_t at = ranked_search(m, from, old, fresh[i].key);
		while (from < at)
			merged[out++] = m->ranked[from++];
		if (first == SIZE_MAX)
			first = out;
		merged[out++] = fresh[i].row;
	}
	while (from < old)
		merged[out++] = m->ranked[from++];
	free(fresh);
	free(m->ranked);
	m->ranked = merged;
	m->nranked = m->nrows;
	m->rank = grow(m->rank, &m->rank_cap, m->nrows, sizeof *m->rank);
	for (size_t i = first; i < m->nrows; i++)
		m->rank[m->ranked[i]] = (uint32_t)i;
}

/* Unsigned numbers that order like V, like |V|, like D (never NaN here). */
static uint64_t order_i64(int64_t v)
{
	return (uint64_t)v ^ (1ull << 63);
}

static uint64_t magnitude(int64_t v)
{
	return v < 0 ? -(uint64_t)v : (uint64_t)v;
}

static uint64_t order_double(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	return bits >> 63 ? ~bits : bits | (1ull << 63);
}

static void keys_size(const struct model_row *r, uint64_t *k)
{
	k[0] = order_i64(r->size);
}

static void keys_count(const struct model_row *r, uint64_t *k)
{
	k[0] = order_i64(r->count);
}

/* Size per block; rows with no live block average 0. */
static void keys_average(const struct model_row *r, uint64_t *k)
{
	k[0] = order_double(r->count ? (double)r->size / (double)r->count : 0.0);
}

static void keys_allocated(const struct model_row *r, uint64_t *k)
{
	k[0] = r->allocated;
}

/* tracemalloc's StatisticDiff order: |size_diff|, size, |count_diff|, count. */
static void keys_delta(const struct model_row *r, uint64_t *k)
{
	k[0] = magnitude(r->size_diff);
	k[1] = order_i64(r->size);
	k[2] = magnitude(r->count_diff);
	k[3] = order_i64(r->count);
}

static const struct {
	const char *name;
	void (*keys)(const struct model_row *r, uint64_t *k);
} sorts[] = {
	[SORT_SIZE] = { "size", keys_size },
	[SORT_COUNT] = { "count", keys_count },
	[SORT_AVERAGE] = { "average", keys_average },
	[SORT_ALLOCATED] = { "allocated", keys_allocated },
	[SORT_DELTA] = { "delta", keys_delta },
};

#define NSORTS (sizeof sorts / sizeof sorts[0])

const char *model_sort_name(enum model_sort s)
{
	return (unsigned)s < NSORTS ? sorts[s].name : NULL;
}

int model_sort_parse(const char *name)
{
	for (size_t i = 0; name != NULL && i < NSORTS; i++)
		if (strcmp(name, sorts[i].name) == 0)
			return (int)i;
	return -1;
}

/* Keys ascending, then the row's key string ascending.  The direction is
 * already in the keys, so the comparison needs no context. */
static int compare_items(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	for (int i = 0; i < SORT_KEYS; i++)
		if (a->k[i] != b->k[i])
			return a->k[i] < b->k[i] ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Sort m->order[0..nlisted) under O: largest first (smallest with
 * reverse), then by key either way, so that equal rows keep their places
 * from one refresh to the next. */
static void sort_rows(struct model *m, const struct model_options *o)
{
	unsigned s = (unsigned)o->sort < NSORTS ? (unsigned)o->sort : SORT_SIZE;
	struct sort_item *items = xreallocarray(NULL, m->nlisted, sizeof *items);
	for (uint32_t i = 0; i < m->nlisted; i++) {
		struct sort_item *it = &items[i];
		*it = (struct sort_item){ .row = m->order[i], .rank = m->rank[m->order[i]] };
		sorts[s].keys(&m->rows[it->row], it->k);
		for (int j = 0; !o->reverse && j < SORT_KEYS; j++)
			it->k[j] = ~it->k[j];
	}
	qsort(items, m->nlisted, sizeof *items, compare_items);
	for (uint32_t i = 0; i < m->nlisted; i++)
		m->order[i] = items[i].row;
	free(items);
}

static int row_listed(const struct model *m, const struct model_options *o,
		      const struct model_row *r)
{
	if (r->count != 0 || (o->sort == SORT_ALLOCATED && r->allocations != 0))
		return 1;
	return m->have_base && (r->size != 0 || r->size_diff != 0 || r->count_diff != 0);
}

/* Give the rows their numbers, then list and sort the rows to show. */
static void list_rows(struct model *m, const struct model_options *o)
{
	if (m->nrows > m->order_cap) {
		free(m->order);
		free(m->pos);
		m->order_cap = m->nrows;
		m->order = xreallocarray(NULL, m->nrows, sizeof *m->order);
		m->pos = xreallocarray(NULL, m->nrows, sizeof *m->pos);
	}
	for (uint32_t r = 0; r < m->nrows; r++) {
		struct model_row *row = &m->rows[r];
		const struct row_acc *a = &m->acc[r];
		row->size = a->size;
		row->count = a->count;
		row->allocated = a->allocated;
		row->allocations = a->allocations;
		row->born = a->born;
		row->born_count = a->born_count;
		row->size_diff = m->have_base ? a->size - a->base_size : 0;
		row->count_diff = m->have_base ? a->count - a->base_count : 0;
		m->pos[r] = -1;
		if (row_listed(m, o, row))
			m->order[m->nlisted++] = r;
	}
	rank_rows(m);
	sort_rows(m, o);
	for (uint32_t i = 0; i < m->nlisted; i++)
		m->pos[m->order[i]] = (long)i;
}

void model_compute(struct model *m, const struct model_options *o, struct heap *heap,
		   struct heap *base)
{
	uint64_t store = heap_store_id(heap);
	/* A base over another store has stacks of its own under the same
	 * indices: it is counted without the map, and its strings (which may
	 * go with it) must not stay in the tables past this compute. */
	int foreign = base != NULL && heap_store_id(base) != store;
	if (!cache_valid(m, o, store))
		model_reset(m, o, store);
	model_begin(m);
	add_heap(m, o, heap, 0, 1);
	if (base != NULL) {
		m->have_base = 1;
		add_heap(m, o, base, 1, !foreign);
	}
	list_rows(m, o);
	m->cached = !foreign;
}

size_t model_row_count(const struct model *m)
{
	return m->nlisted;
}

const struct model_row *model_row(const struct model *m, size_t i)
{
	return i < m->nlisted ? &m->rows[m->order[i]] : NULL;
}

uint32_t model_row_id(const struct model *m, size_t i)
{
	return m->order[i];
}

uint32_t model_row_ids(const struct model *m)
{
	return m->nrows;
}

uint64_t model_generation(const struct model *m)
{
	return m->generation;
}

void model_total(const struct model *m, int64_t *size, int64_t *count)
{
	*size = m->total_size;
	*count = m->total_count;
}

void model_base_total(const struct model *m, int64_t *size, int64_t *count)
{
	*size = m->base_size;
	*count = m->base_count;
}

long model_find(const struct model *m, const char *key)
{
	if (m->keys.v == NULL || key == NULL)
		return -1;
	size_t j = key_slot(m, key, hash_str(key));
	return m->keys.v[j].idx == NONE ? -1 : m->pos[m->keys.v[j].idx];
}
