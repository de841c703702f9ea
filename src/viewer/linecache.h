/*
 * Source lines by path and number, like Python's linecache: each file is
 * read once, on first request, and kept until linecache_free; its lines are
 * indexed lazily, only as far as the highest line asked for.  A file that
 * cannot be found or read is remembered as missing and answers NULL; that
 * is never an error.
 *
 * Paths from the debug info are build paths; two settings map them to local
 * files (like gdb's set substitute-path and directory).  A path is tried,
 * in this order, and the first regular, non-binary file that opens wins:
 *   1. for each substitution, in the order added, whose FROM is a leading
 *      part of the path (ending at a '/' or at the end): TO + the rest;
 *   2. the path itself;
 *   3. for each source dir, in the order added: DIR/<the path without its
 *      leading '/'>, then with each leading component removed in turn,
 *      down to DIR/<basename>.
 *
 * Lines end at "\n" or "\r\n"; the last line needs no newline.  A file with
 * a NUL byte in its first 8000 bytes is binary and counts as missing (git's
 * test).  Files larger than the size limit are read up to the last complete
 * line within it.
 *
 * Ownership: the cache owns every line it returns; a line stays valid until
 * linecache_free (adding a setting forgets only missing files).
 */
#ifndef HEAPTOP_LINECACHE_H
#define HEAPTOP_LINECACHE_H

#include <stddef.h>

/* Bytes read from one file at most, by default. */
#define LINECACHE_MAX_BYTES ((size_t)64 << 20)

struct linecache;

/* An empty cache without substitutions or source dirs. */
struct linecache *linecache_new(void);
/* Free LC with every line it handed out. */
void linecache_free(struct linecache *lc);

/* Try paths starting with FROM with TO in their place first. */
void linecache_add_substitution(struct linecache *lc, const char *from, const char *to);
/* Look for files under DIR too (--source-dir). */
void linecache_add_source_dir(struct linecache *lc, const char *dir);
/* Read at most MAX bytes of each file loaded from now on. */
void linecache_set_max_bytes(struct linecache *lc, size_t max);

/* Line LINE (from 1) of the file PATH without its line ending, or NULL
 * when PATH is NULL, LINE is 0 or beyond the end, or the file is missing. */
const char *linecache_line(struct linecache *lc, const char *path, unsigned line);

/* S without leading and trailing whitespace: returns where it starts and
 * stores its length in *LEN (S is not modified, so the result is not
 * NUL-terminated where trailing whitespace was cut). */
const char *linecache_strip(const char *s, size_t *len);

#endif
