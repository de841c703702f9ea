/* Source lines by path and number, read once and kept (see linecache.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/linecache.h"

/* How far into a file a NUL byte makes it binary (git's heuristic). */
#define BINARY_PROBE 8000

/* One requested path.  data holds the contents plus a NUL; line endings of
 * indexed lines are overwritten with NULs, so each line is a C string in
 * place.  data == NULL: missing. */
struct lc_file {
	char *path;            /* as requested: the key */
	struct lc_file *next;  /* hash chain */
	char *data;
	size_t size;           /* bytes of contents in data */
	size_t scanned;        /* contents before this offset are indexed */
	size_t *starts;        /* offsets of lines 1 .. nlines */
	size_t nlines, cap;
};

struct lc_substitution {
	char *from, *to;
};

struct linecache {
	struct lc_file **buckets;  /* chained hash table of files */
	size_t nbuckets;           /* a power of two */
	size_t nfiles;
	struct lc_substitution *subs;
	size_t nsubs;
	char **dirs;
	size_t ndirs;
	size_t max_bytes;
};

struct linecache *linecache_new(void)
{
	struct linecache *lc = xcalloc(1, sizeof *lc);
	lc->nbuckets = 64;
	lc->buckets = xcalloc(lc->nbuckets, sizeof *lc->buckets);
	lc->max_bytes = LINECACHE_MAX_BYTES;
	return lc;
}

static void file_free(struct lc_file *f)
{
	free(f->path);
	free(f->data);
	free(f->starts);
	free(f);
}

void linecache_free(struct linecache *lc)
{
	if (!lc)
		return;
	for (size_t i = 0; i < lc->nbuckets; i++) {
		struct lc_file *f, *next;
		for (f = lc->buckets[i]; f; f = next) {
			next = f->next;
			file_free(f);
		}
	}
	for (size_t i = 0; i < lc->nsubs; i++) {
		free(lc->subs[i].from);
		free(lc->subs[i].to);
	}
	for (size_t i = 0; i < lc->ndirs; i++)
		free(lc->dirs[i]);
	free(lc->buckets);
	free(lc->subs);
	free(lc->dirs);
	free(lc);
}

/* A new setting may find files that were missing: forget those (files that
 * were found stay, so lines already handed out stay valid). */
static void forget_missing(struct linecache *lc)
{
	for (size_t i = 0; i < lc->nbuckets; i++) {
		struct lc_file **pp = &lc->buckets[i];
		while (*pp) {
			struct lc_file *f = *pp;
			if (f->data) {
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			file_free(f);
			lc->nfiles--;
		}
	}
}

void linecache_add_substitution(struct linecache *lc, const char *from, const char *to)
{
	/* "/build/" means "/build": matching is by whole components. */
	size_t n = strlen(from);
	while (n > 1 && from[n - 1] == '/')
		n--;
	lc->subs = xreallocarray(lc->subs, lc->nsubs + 1, sizeof *lc->subs);
	lc->subs[lc->nsubs].from = xstrndup(from, n);
	lc->subs[lc->nsubs].to = xstrdup(to);
	lc->nsubs++;
	forget_missing(lc);
}

void linecache_add_source_dir(struct linecache *lc, const char *dir)
{
	lc->dirs = xreallocarray(lc->dirs, lc->ndirs + 1, sizeof *lc->dirs);
	lc->dirs[lc->ndirs++] = xstrdup(dir);
	forget_missing(lc);
}

void linecache_set_max_bytes(struct linecache *lc, size_t max)
{
	lc->max_bytes = max;
}

/* Read up to MAX bytes of FD into a NUL-terminated buffer; NULL on error. */
static char *read_fd(int fd, size_t max, size_t *size)
{
	char *buf = xmalloc(max + 1);
	size_t n = 0;
	while (n < max) {
		ssize_t r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*size = n;
	return buf;
}

/* Load PATH into F when it is a readable, regular, non-binary file. */
static int file_load(struct lc_file *f, const char *path, size_t max)
{
	/* O_NONBLOCK: a FIFO in the way must not hang the viewer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	int cut = (uintmax_t)st.st_size > max;
	size_t size;
	char *data = read_fd(fd, cut ? max : (size_t)st.st_size, &size);
	close(fd);
	if (!data)
		return -1;
	if (memchr(data, '\0', size < BINARY_PROBE ? size : BINARY_PROBE)) {
		free(data);
		return -1;
	}
	if (cut) {
		/* Serve no half line: keep what precedes the last newline. */
		char *nl = memrchr(data, '\n', size);
		size = nl ? (size_t)(nl - data) + 1 : 0;
		data[size] = '\0';
	}
	f->data = data;
	f->size = size;
	return 0;
}

/* What follows FROM in PATH (from a '/' or the end), or NULL when FROM is
 * not a leading part of PATH ending at a component end. */
static const char *after_prefix(const char *from, const char *path)
{
	size_t n = strlen(from);
	if (n == 0 || strncmp(path, from, n) != 0)
		return NULL;
	if (from[n - 1] == '/') /* the root: keep the path's own slash */
		return path + n - 1;
	return path[n] == '/' || path[n] == '\0' ? path + n : NULL;
}

static int try_substitutions(const struct linecache *lc, struct lc_file *f, const char *path)
{
	for (size_t i = 0; i < lc->nsubs; i++) {
		const struct lc_substitution *s = &lc->subs[i];
		const char *rest = after_prefix(s->from, path);
		if (!rest)
			continue;
		char *p = xasprintf("%s%s", s->to, rest);
		int ok = file_load(f, p, lc->max_bytes) == 0;
		free(p);
		if (ok)
			return 0;
	}
	return -1;
}

/* DIR/REL for REL = PATH without leading '/', then without each leading
 * component in turn: the longest tail first, so that of two files with
 * the same basename the one in the matching subdirectory wins. */
static int try_dir(const struct linecache *lc, struct lc_file *f, const char *dir,
		   const char *path)
{
	const char *rel = path;
	while (*rel) {
		while (*rel == '/')
			rel++;
		if (!*rel)
			break;
		char *p = xasprintf("%s/%s", dir, rel);
		int ok = file_load(f, p, lc->max_bytes) == 0;
		free(p);
		if (ok)
			return 0;
		rel += strcspn(rel, "/");
	}
	return -1;
}

/* Fill F from the first candidate for PATH that loads (see linecache.h). */
static void file_find(const struct linecache *lc, struct lc_file *f, const char *path)
{
	if (try_substitutions(lc, f, path) == 0 || file_load(f, path, lc->max_bytes) == 0)
		return;
	for (size_t i = 0; i < lc->ndirs; i++)
		if (try_dir(lc, f, lc->dirs[i], path) == 0)
			return;
}

static size_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

static void grow(struct linecache *lc)
{
	size_t n = lc->nbuckets * 2;
	struct lc_file **b = xcalloc(n, sizeof *b);
	for (size_t i = 0; i < lc->nbuckets; i++) {
		struct lc_file *f, *next;
		for (f = lc->buckets[i]; f; f = next) {
			next = f->next;
			size_t j = hash_path(f->path) & (n - 1);
			f->next = b[j];
			b[j] = f;
		}
	}
	free(lc->buckets);
	lc->buckets = b;
	lc->nbuckets = n;
}

/* The entry for PATH, looked up on first use. */
static struct lc_file *file_get(struct linecache *lc, const char *path)
{
	size_t i = hash_path(path) & (lc->nbuckets - 1);
	for (struct lc_file *f = lc->buckets[i]; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	struct lc_file *f = xcalloc(1, sizeof *f);
	f->path = xstrdup(path);
	file_find(lc, f, path);
	if (++lc->nfiles > lc->nbuckets)
		grow(lc);
	i = hash_path(path) & (lc->nbuckets - 1);
	f->next = lc->buckets[i];
	lc->buckets[i] = f;
	return f;
}

/* Index the next line of F: record its start, NUL its line ending. */
static void index_next(struct lc_file *f)
{
	if (f->nlines == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->starts = xreallocarray(f->starts, f->cap, sizeof *f->starts);
	}
	size_t start = f->scanned;
	f->starts[f->nlines++] = start;
	char *nl = memchr(f->data + start, '\n', f->size - start);
	size_t end = nl ? (size_t)(nl - f->data) : f->size;
	f->scanned = nl ? end + 1 : f->size;
	if (end > start && f->data[end - 1] == '\r')
		end--;
	f->data[end] = '\0';
}

const char *linecache_line(struct linecache *lc, const char *path, unsigned line)
{
	if (!path || line == 0)
		return NULL;
	struct lc_file *f = file_get(lc, path);
	if (!f->data)
		return NULL;
	while (f->nlines < line && f->scanned < f->size)
		index_next(f);
	return line <= f->nlines ? f->data + f->starts[line - 1] : NULL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

const char *linecache_strip(const char *s, size_t *len)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}
