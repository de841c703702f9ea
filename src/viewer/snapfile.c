/*
 * Snapshot files (see snapfile.h): a heap with its frames symbolized,
 * readable without the program, its binaries or their debug info.
 *
 * Format, version 1.  Integers little-endian, nothing aligned, no padding.
 * A str is a u32 length then that many bytes: no NUL among them, none after,
 * length <= SNAPFILE_MAX_STR.
 *
 *   header   8 bytes magic "HTSNAP\0\1" | u32 version (1)
 *   section  u32 id | u64 length | length bytes of payload
 *
 * The header is followed by sections: INFO (1), STRINGS (2), STACKS (3) and
 * END (4), each exactly once and in this order; END has length 0 and ends
 * the file.  Sections with any other id may come anywhere before END and
 * are skipped, so optional data can be added without a new version; a
 * change that an old reader cannot skip gets a new version, which old
 * readers refuse.  Every section's payload is consumed exactly.
 *
 *   INFO     u32 pid | u64 start_ns | u64 time_ns | u64 seq | u64 live_bytes
 *            | u64 live_blocks | u64 peak_bytes | u64 allocs | u64 frees
 *            | u64 total_bytes | u64 agent_bytes | u64 untracked_blocks
 *            | u64 untracked_bytes | u32 agent_flags | u64 sample_bytes
 *            | u32 flags (bit 0: final, what was live at exit; other bits
 *            written 0, ignored) | i32 exit_status | str exe | str cmdline
 *   STRINGS  u32 count | count x str
 *   STACKS   u32 count | count x { i64 live_bytes | i64 live_blocks
 *            | u64 total_bytes | u64 total_blocks | u32 nframes
 *            | nframes x frame }
 *   frame    u32 function | u32 file | u32 module | u32 line
 *            | u8 flags (bit 0: inlined into the next frame; other bits
 *            written 0, ignored)
 *
 * Frames are innermost first.  function, file and module are string
 * references: 0 for none (unknown), k for the k-th string of STRINGS
 * (1-based), so each distinct string is stored once.  A stack has at most
 * SNAPFILE_MAX_FRAMES frames.  Stacks are those of the saved heap that ever
 * allocated, in the heap's order; their index in the loaded heap is their
 * position here (not the agent's stack id).
 *
 * A reader checks, before using it: the magic and version; each section
 * length against the bytes left in the file; each count against the bytes
 * left in its section (a str takes at least 4 bytes, a stack 36, a frame
 * 17); nframes against SNAPFILE_MAX_FRAMES; every str length; every string
 * reference against the count of STRINGS.  Errors name the byte offset.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/readfile.h"
#include "common/xalloc.h"
#include "proto/proto.h"
#include "viewer/heap.h"
#include "viewer/snapfile.h"
#include "viewer/snapshot.h"

#define SNAPFILE_MAGIC "HTSNAP\0\1"
#define SNAPFILE_MAGIC_SIZE 8
#define SNAPFILE_VERSION 1
#define SNAPFILE_HEADER_SIZE 12
#define SNAPFILE_SECTION_HEADER 12

/* Bytes in one str: generous, since demangled C++ names grow long. */
#define SNAPFILE_MAX_STR (1u << 20)
/* Frames in one stack: HT_MAX_DEPTH pcs with deep inline chains. */
#define SNAPFILE_MAX_FRAMES 65536u

/* Fixed sizes, for bounding counts by the bytes left. */
#define SNAPFILE_STR_MIN 4
#define SNAPFILE_STACK_MIN 36
#define SNAPFILE_FRAME_SIZE 17
/* INFO before its strings. */
#define SNAPFILE_INFO_FIXED 120

/* INFO flags */
#define SNAPFILE_INFO_FINAL 0x1u
/* frame flags */
#define SNAPFILE_FRAME_INLINED 0x1u

enum snapfile_section {
	SNAPFILE_INFO = 1,
	SNAPFILE_STRINGS = 2,
	SNAPFILE_STACKS = 3,
	SNAPFILE_END = 4,
};

static const char *const snapfile_section_names[] = {
	[SNAPFILE_INFO] = "info",
	[SNAPFILE_STRINGS] = "strings",
	[SNAPFILE_STACKS] = "stacks",
	[SNAPFILE_END] = "end",
};

/* --- saving: the string table ---------------------------------------- */

/* Distinct strings of the saved frames, numbered from 1 in first-seen order. */
struct snapfile_strtab {
	const char **v;  /* v[k - 1] is string k; points into the heap or symbolizer */
	uint32_t n;
	size_t cap;
	uint32_t *slots; /* open addressing: 0 empty, else a string number */
	size_t capslots; /* a power of two */
	size_t bytes;    /* written size of all strings, length prefixes included */
};

static size_t snapfile_cut(size_t len)
{
	return len > SNAPFILE_MAX_STR ? SNAPFILE_MAX_STR : len;
}

static uint64_t snapfile_hash(const char *s)
{
	return hash_bytes(s, strlen(s));
}

/* The slot of S: the one holding it, or the empty one where it goes. */
static uint32_t *snapfile_strtab_slot(const struct snapfile_strtab *t, const char *s)
{
	size_t mask = t->capslots - 1;
	for (size_t i = snapfile_hash(s) & mask;; i = (i + 1) & mask) {
		uint32_t k = t->slots[i];
		if (k == 0 || strcmp(t->v[k - 1], s) == 0)
			return &t->slots[i];
	}
}

static void snapfile_strtab_grow(struct snapfile_strtab *t)
{
	free(t->slots);
	t->capslots = t->capslots ? t->capslots * 2 : 1024;
	t->slots = xcalloc(t->capslots, sizeof *t->slots);
	for (uint32_t k = 1; k <= t->n; k++)
		*snapfile_strtab_slot(t, t->v[k - 1]) = k;
}

/* The number of S, added if new; 0 for NULL. */
static uint32_t snapfile_strtab_add(struct snapfile_strtab *t, const char *s)
{
	if (s == NULL)
		return 0;
	if (((size_t)t->n + 1) * 2 > t->capslots)
		snapfile_strtab_grow(t);
	uint32_t *slot = snapfile_strtab_slot(t, s);
	if (*slot != 0)
		return *slot;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	t->v[t->n++] = s;
	t->bytes += 4 + snapfile_cut(strlen(s));
	*slot = t->n;
	return t->n;
}

/* The number of S, which snapfile_strtab_add has seen. */
static uint32_t snapfile_strtab_find(const struct snapfile_strtab *t, const char *s)
{
	return s != NULL ? *snapfile_strtab_slot(t, s) : 0;
}

static void snapfile_strtab_free(struct snapfile_strtab *t)
{
	free(t->v);
	free(t->slots);
}

/* --- saving: encoding ------------------------------------------------ */

static int snapfile_saved(const struct heap *h, uint32_t i)
{
	return heap_counter(h, i).total_blocks > 0;
}

/* Symbolize the saved stacks, number their strings, and return the
 * file's size. */
static size_t snapfile_collect(struct heap *h, struct snapfile_strtab *t)
{
	const struct heap_info *info = heap_info(h);
	size_t size = SNAPFILE_HEADER_SIZE + 4 * SNAPFILE_SECTION_HEADER;
	size += SNAPFILE_INFO_FIXED + 8 + snapfile_cut(strlen(info->exe)) +
		snapfile_cut(strlen(info->cmdline));
	size += 4 + 4; /* the counts of STRINGS and STACKS */
	for (uint32_t i = 0; i < heap_stack_count(h); i++) {
		if (!snapfile_saved(h, i))
			continue;
		const struct heap_frame *f;
		size_t n = heap_frames(h, i, &f);
		if (n > SNAPFILE_MAX_FRAMES)
			n = SNAPFILE_MAX_FRAMES;
		for (size_t j = 0; j < n; j++) {
			snapfile_strtab_add(t, f[j].function);
			snapfile_strtab_add(t, f[j].file);
			snapfile_strtab_add(t, f[j].module);
		}
		size += SNAPFILE_STACK_MIN + n * SNAPFILE_FRAME_SIZE;
	}
	return size + t->bytes;
}

static void snapfile_put_str(struct ht_writer *w, const char *s)
{
	size_t n = snapfile_cut(strlen(s));
	ht_put_u32(w, (uint32_t)n);
	ht_put_bytes(w, s, n);
}

/* Start a section; returns its offset for snapfile_section_end. */
static size_t snapfile_section_begin(struct ht_writer *w, enum snapfile_section id)
{
	size_t off = w->len;
	ht_put_u32(w, id);
	ht_put_u64(w, 0);
	return off;
}

static void snapfile_section_end(struct ht_writer *w, size_t off)
{
	uint64_t n = w->len - off - SNAPFILE_SECTION_HEADER;
	ht_patch_u32(w, off + 4, (uint32_t)n);
	ht_patch_u32(w, off + 8, (uint32_t)(n >> 32));
}

static void snapfile_put_info(struct ht_writer *w, const struct heap_info *in)
{
	ht_put_u32(w, in->pid);
	ht_put_u64(w, in->start_ns);
	ht_put_u64(w, in->time_ns);
	ht_put_u64(w, in->seq);
	ht_put_u64(w, in->live_bytes);
	ht_put_u64(w, in->live_blocks);
	ht_put_u64(w, in->peak_bytes);
	ht_put_u64(w, in->allocs);
	ht_put_u64(w, in->frees);
	ht_put_u64(w, in->total_bytes);
	ht_put_u64(w, in->agent_bytes);
	ht_put_u64(w, in->untracked_blocks);
	ht_put_u64(w, in->untracked_bytes);
	ht_put_u32(w, in->agent_flags);
	ht_put_u64(w, in->sample_bytes);
	ht_put_u32(w, in->final ? SNAPFILE_INFO_FINAL : 0);
	ht_put_u32(w, (uint32_t)in->exit_status);
	snapfile_put_str(w, in->exe);
	snapfile_put_str(w, in->cmdline);
}

static void snapfile_put_stack(struct ht_writer *w, struct heap *h, uint32_t i,
			       const struct snapfile_strtab *t)
{
	struct heap_counter c = heap_counter(h, i);
	ht_put_u64(w, (uint64_t)c.live_bytes);
	ht_put_u64(w, (uint64_t)c.live_blocks);
	ht_put_u64(w, c.total_bytes);
	ht_put_u64(w, c.total_blocks);
	const struct heap_frame *f;
	size_t n = heap_frames(h, i, &f);
	if (n > SNAPFILE_MAX_FRAMES)
		n = SNAPFILE_MAX_FRAMES; /* the innermost ones, like the agent */
	ht_put_u32(w, (uint32_t)n);
	for (size_t j = 0; j < n; j++) {
		ht_put_u32(w, snapfile_strtab_find(t, f[j].function));
		ht_put_u32(w, snapfile_strtab_find(t, f[j].file));
		ht_put_u32(w, snapfile_strtab_find(t, f[j].module));
		ht_put_u32(w, f[j].line);
		uint8_t flags = f[j].inlined ? SNAPFILE_FRAME_INLINED : 0;
		ht_put_bytes(w, &flags, 1);
	}
}

static void snapfile_encode(struct ht_writer *w, struct heap *h, const struct snapfile_strtab *t)
{
	ht_put_bytes(w, SNAPFILE_MAGIC, SNAPFILE_MAGIC_SIZE);
	ht_put_u32(w, SNAPFILE_VERSION);

	size_t off = snapfile_section_begin(w, SNAPFILE_INFO);
	snapfile_put_info(w, heap_info(h));
	snapfile_section_end(w, off);

	off = snapfile_section_begin(w, SNAPFILE_STRINGS);
	ht_put_u32(w, t->n);
	for (uint32_t k = 0; k < t->n; k++)
		snapfile_put_str(w, t->v[k]);
	snapfile_section_end(w, off);

	off = snapfile_section_begin(w, SNAPFILE_STACKS);
	size_t count_at = w->len;
	uint32_t count = 0;
	ht_put_u32(w, 0);
	for (uint32_t i = 0; i < heap_stack_count(h); i++) {
		if (!snapfile_saved(h, i))
			continue;
		snapfile_put_stack(w, h, i, t);
		count++;
	}
	ht_patch_u32(w, count_at, count);
	snapfile_section_end(w, off);

	off = snapfile_section_begin(w, SNAPFILE_END);
	snapfile_section_end(w, off);
}

/* --- saving: the file ------------------------------------------------ */

static int snapfile_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Make the rename in PATH's directory durable; best effort. */
static void snapfile_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Why PATH could not be written, ERR having come from its temporary TMP:
 * the file asked for when the directory is at fault (as it is for both),
 * else the temporary too, which the user may find in the way. */
static char *save_cause(const char *path, const char *tmp, int err)
{
	if (err == ENOENT || err == ENOTDIR || err == EACCES || err == EROFS)
		return xasprintf("%s: %s", path, strerror(err));
	return xasprintf("%s: writing %s: %s", path, tmp, strerror(err));
}

/* Write BUF to PATH.tmp, sync it, rename it to PATH.  The file is 0600, like
 * the agent's: command lines and paths may be private. */
static int snapfile_write_atomic(const char *path, const uint8_t *buf, size_t len,
				 char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*cause = save_cause(path, tmp, errno);
		free(tmp);
		return -1;
	}
	int r = snapfile_write_all(fd, buf, len) == 0 && fsync(fd) == 0 ? 0 : -1;
	int e = errno;
	if (close(fd) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r == 0 && rename(tmp, path) < 0) {
		r = -1;
		e = errno;
	}
	if (r < 0) {
		*cause = save_cause(path, tmp, e);
		unlink(tmp);
	} else {
		snapfile_sync_dir(path);
	}
	free(tmp);
	return r;
}

int snapfile_check_writable(const char *path, char **cause)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		*cause = xasprintf("%s: %s", path, strerror(EISDIR));
		return -1;
	}
	/* The file written is PATH.tmp, renamed: try making that. */
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = 0;
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	} else if (errno != EEXIST) {
		*cause = save_cause(path, tmp, errno);
		r = -1;
	}
	free(tmp);
	return r;
}

int snapfile_save(const char *path, struct heap *h, char **cause)
{
	struct snapfile_strtab t = { 0 };
	size_t cap = snapfile_collect(h, &t);
	struct ht_writer w;
	uint8_t *buf = NULL;
	/* The bound should hold; should it not, grow and encode again. */
	for (;;) {
		buf = xrealloc(buf, cap);
		ht_writer_init(&w, buf, cap);
		snapfile_encode(&w, h, &t);
		if (!w.overflow)
			break;
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	}
	snapfile_strtab_free(&t);
	int r = snapfile_write_atomic(path, buf, w.len, cause);
	free(buf);
	return r;
}

/* --- loading --------------------------------------------------------- */

struct snapfile_in {
	const uint8_t *base; /* the whole file */
	size_t len;
	const char *name;
	struct ht_reader r;  /* the section being read */
	struct heap *h;      /* made once INFO is read */
	const char **strs;   /* strs[k] is string k, interned in h; strs[0] NULL */
	uint32_t nstrs;
	struct heap_frame *frames; /* one stack's frames, while read */
	size_t capframes;
	char *cause;
};

static size_t snapfile_off(const struct snapfile_in *in)
{
	return (size_t)(in->r.p - in->base);
}

/* Fail with "NAME: WHAT at byte AT"; returns -1. */
static int snapfile_fail(struct snapfile_in *in, const char *what, size_t at)
{
	in->cause = xasprintf("%s: %s at byte %zu", in->name, what, at);
	return -1;
}

/* After the reads of a record that began at AT: fail if they ran out. */
static int snapfile_check(struct snapfile_in *in, size_t at, const char *what)
{
	return in->r.error ? snapfile_fail(in, what, at) : 0;
}

/* A str of the section, checked; NULL after a failure.  *N gets its length. */
static const char *snapfile_get_str(struct snapfile_in *in, size_t *n)
{
	size_t at = snapfile_off(in);
	uint32_t len = ht_get_u32(&in->r);
	if (!in->r.error && len > SNAPFILE_MAX_STR) {
		snapfile_fail(in, "string too long", at);
		return NULL;
	}
	const char *p = (const char *)ht_get_bytes(&in->r, len);
	if (p == NULL) {
		snapfile_fail(in, "string past the end of its section", at);
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL) {
		snapfile_fail(in, "string with a NUL byte", at);
		return NULL;
	}
	*n = len;
	return p;
}

static int snapfile_read_info(struct snapfile_in *in)
{
	size_t at = snapfile_off(in);
	struct heap_info info = { .pid = ht_get_u32(&in->r) };
	uint64_t *u64s[] = {
		&info.start_ns, &info.time_ns, &info.seq, &info.live_bytes,
		&info.live_blocks, &info.peak_bytes, &info.allocs, &info.frees,
		&info.total_bytes, &info.agent_bytes, &info.untracked_blocks,
		&info.untracked_bytes,
	};
	for (size_t i = 0; i < sizeof u64s / sizeof *u64s; i++)
		*u64s[i] = ht_get_u64(&in->r);
	info.agent_flags = ht_get_u32(&in->r);
	info.sample_bytes = ht_get_u64(&in->r);
	info.final = (ht_get_u32(&in->r) & SNAPFILE_INFO_FINAL) != 0;
	info.exit_status = (int)(int32_t)ht_get_u32(&in->r);
	if (snapfile_check(in, at, "info section too short") < 0)
		return -1;
	size_t exe_len, cmdline_len = 0;
	const char *exe = snapfile_get_str(in, &exe_len);
	const char *cmdline = exe ? snapfile_get_str(in, &cmdline_len) : NULL;
	if (cmdline == NULL)
		return -1;
	/* NUL-terminated for heap_new, which copies them. */
	char *e = xstrndup(exe, exe_len), *c = xstrndup(cmdline, cmdline_len);
	info.exe = e;
	info.cmdline = c;
	in->h = heap_new(&info);
	free(e);
	free(c);
	return 0;
}

static int snapfile_read_strings(struct snapfile_in *in)
{
	size_t at = snapfile_off(in);
	uint32_t n = ht_get_u32(&in->r);
	if (snapfile_check(in, at, "strings section too short") < 0)
		return -1;
	/* Bounded by the bytes really there before it sizes anything. */
	if (n > (size_t)(in->r.end - in->r.p) / SNAPFILE_STR_MIN)
		return snapfile_fail(in, "string count exceeds its section", at);
	in->strs = xcalloc((size_t)n + 1, sizeof *in->strs);
	for (uint32_t k = 1; k <= n; k++) {
		size_t len;
		const char *p = snapfile_get_str(in, &len);
		if (p == NULL)
			return -1;
		in->strs[k] = heap_intern(in->h, p, len);
	}
	in->nstrs = n;
	return 0;
}

/* A string reference read at AT; -1 when out of range. */
static int snapfile_ref(struct snapfile_in *in, uint32_t k, size_t at, const char **out)
{
	if (k > in->nstrs)
		return snapfile_fail(in, "string index out of range", at);
	*out = in->strs[k];
	return 0;
}

static int snapfile_read_frame(struct snapfile_in *in, struct heap_frame *f)
{
	size_t at = snapfile_off(in);
	uint32_t function = ht_get_u32(&in->r);
	uint32_t file = ht_get_u32(&in->r);
	uint32_t module = ht_get_u32(&in->r);
	f->line = ht_get_u32(&in->r);
	const uint8_t *flags = ht_get_bytes(&in->r, 1);
	if (snapfile_check(in, at, "stacks section too short") < 0)
		return -1;
	f->inlined = (*flags & SNAPFILE_FRAME_INLINED) != 0;
	if (snapfile_ref(in, function, at, &f->function) < 0 ||
	    snapfile_ref(in, file, at + 4, &f->file) < 0 ||
	    snapfile_ref(in, module, at + 8, &f->module) < 0)
		return -1;
	return 0;
}

static int snapfile_read_stack(struct snapfile_in *in)
{
	size_t at = snapfile_off(in);
	struct heap_counter c;
	c.live_bytes = (int64_t)ht_get_u64(&in->r);
	c.live_blocks = (int64_t)ht_get_u64(&in->r);
	c.total_bytes = ht_get_u64(&in->r);
	c.total_blocks = ht_get_u64(&in->r);
	size_t nat = snapfile_off(in);
	uint32_t n = ht_get_u32(&in->r);
	if (snapfile_check(in, at, "stacks section too short") < 0)
		return -1;
	if (n > SNAPFILE_MAX_FRAMES ||
	    n > (size_t)(in->r.end - in->r.p) / SNAPFILE_FRAME_SIZE)
		return snapfile_fail(in, "frame count out of range", nat);
	if (n > in->capframes) {
		in->capframes = n;
		in->frames = xreallocarray(in->frames, n, sizeof *in->frames);
	}
	for (uint32_t j = 0; j < n; j++)
		if (snapfile_read_frame(in, &in->frames[j]) < 0)
			return -1;
	heap_add_stack(in->h, &c, in->frames, n);
	return 0;
}

static int snapfile_read_stacks(struct snapfile_in *in)
{
	size_t at = snapfile_off(in);
	uint32_t n = ht_get_u32(&in->r);
	if (snapfile_check(in, at, "stacks section too short") < 0)
		return -1;
	if (n > (size_t)(in->r.end - in->r.p) / SNAPFILE_STACK_MIN)
		return snapfile_fail(in, "stack count exceeds its section", at);
	for (uint32_t i = 0; i < n; i++)
		if (snapfile_read_stack(in) < 0)
			return -1;
	return 0;
}

/* Read the payload of section ID, which in->r covers. */
static int snapfile_read_section(struct snapfile_in *in, unsigned id)
{
	int r = 0;
	switch (id) {
	case SNAPFILE_INFO:
		r = snapfile_read_info(in);
		break;
	case SNAPFILE_STRINGS:
		r = snapfile_read_strings(in);
		break;
	case SNAPFILE_STACKS:
		r = snapfile_read_stacks(in);
		break;
	default:
		break; /* END: nothing in it */
	}
	if (r < 0)
		return -1;
	if (in->r.p != in->r.end) {
		char *what = xasprintf("trailing bytes in the %s section",
				       snapfile_section_names[id]);
		snapfile_fail(in, what, snapfile_off(in));
		free(what);
		return -1;
	}
	return 0;
}

/* The magic and version; returns the offset of the first section or -1. */
static int snapfile_read_header(struct snapfile_in *in)
{
	const uint8_t *p = in->base;
	size_t n = in->len < SNAPFILE_MAGIC_SIZE ? in->len : SNAPFILE_MAGIC_SIZE;
	if (in->len == 0) {
		in->cause = xasprintf("%s: empty, not a heaptop snapshot file", in->name);
		return -1;
	}
	if (memcmp(p, SNAPFILE_MAGIC, n) != 0) {
		in->cause = xasprintf("%s: not a heaptop snapshot file", in->name);
		return -1;
	}
	if (in->len < SNAPFILE_HEADER_SIZE) {
		in->cause = xasprintf("%s: truncated at byte %zu", in->name, in->len);
		return -1;
	}
	ht_reader_init(&in->r, p + SNAPFILE_MAGIC_SIZE, 4);
	uint32_t version = ht_get_u32(&in->r);
	if (version != SNAPFILE_VERSION) {
		in->cause = xasprintf("%s: unsupported snapshot version %u (this heaptop "
				      "reads version %u)", in->name, version, SNAPFILE_VERSION);
		return -1;
	}
	return 0;
}

/* Walk the sections after the header, reading the known ones in order. */
static int snapfile_read_sections(struct snapfile_in *in)
{
	size_t off = SNAPFILE_HEADER_SIZE;
	unsigned want = SNAPFILE_INFO;
	while (want <= SNAPFILE_END) {
		if (in->len - off < SNAPFILE_SECTION_HEADER)
			goto truncated;
		ht_reader_init(&in->r, in->base + off, SNAPFILE_SECTION_HEADER);
		uint32_t id = ht_get_u32(&in->r);
		uint64_t len = ht_get_u64(&in->r);
		if (len > in->len - off - SNAPFILE_SECTION_HEADER)
			goto truncated;
		size_t at = off;
		off += SNAPFILE_SECTION_HEADER;
		ht_reader_init(&in->r, in->base + off, (size_t)len);
		off += (size_t)len;
		if (id < SNAPFILE_INFO || id > SNAPFILE_END)
			continue; /* not known to this version: skip */
		if (id != want) {
			char *what = xasprintf("%s section where the %s section belongs",
					       snapfile_section_names[id],
					       snapfile_section_names[want]);
			snapfile_fail(in, what, at);
			free(what);
			return -1;
		}
		if (snapfile_read_section(in, id) < 0)
			return -1;
		want++;
	}
	if (off != in->len)
		return snapfile_fail(in, "trailing bytes after the end section", off);
	return 0;
truncated:
	in->cause = xasprintf("%s: truncated at byte %zu", in->name, in->len);
	return -1;
}

struct heap *snapfile_load_buffer(const void *buf, size_t len, const char *name,
				  char **cause)
{
	struct snapfile_in in = { .base = buf, .len = len, .name = name };
	int r = snapfile_read_header(&in);
	if (r == 0)
		r = snapfile_read_sections(&in);
	free(in.strs);
	free(in.frames);
	if (r < 0) {
		heap_free(in.h);
		*cause = in.cause;
		return NULL;
	}
	return in.h;
}

struct heap *snapfile_load(const char *path, char **cause)
{
	size_t len;
	uint8_t *buf = readfile(path, &len, cause);
	if (!buf)
		return NULL;
	struct heap *h = snapfile_load_buffer(buf, len, path, cause);
	free(buf);
	return h;
}

struct heap *snapfile_load_any(const char *path, struct symbolizer *sym,
			       struct snapshot **raw, char **cause)
{
	*raw = NULL;
	size_t len;
	uint8_t *buf = readfile(path, &len, cause);
	if (!buf)
		return NULL;
	/* A frame stream starts with the frame magic, "HTOP". */
	if (len < 4 || memcmp(buf, "HTOP", 4) != 0) {
		struct heap *h = snapfile_load_buffer(buf, len, path, cause);
		free(buf);
		return h;
	}
	struct snapshot *s = snapshot_from_buffer(buf, len, path, cause);
	free(buf);
	if (!s)
		return NULL;
	heap_declare_modules(sym, s);
	*raw = s;
	return heap_from_snapshot(s, sym);
}
