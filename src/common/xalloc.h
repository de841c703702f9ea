/*
 * Allocation wrappers for viewer-side code: they never return NULL.  When
 * memory runs out they print "heaptop: out of memory" to stderr and exit(1),
 * so callers need no error path for allocation.  Everything they return is
 * released with free().  Never use these in the agent.
 */
#ifndef HEAPTOP_XALLOC_H
#define HEAPTOP_XALLOC_H

#include <stddef.h>

/* malloc(n); a zero size still returns a unique pointer. */
void *xmalloc(size_t n);
/* calloc(nmemb, size); the multiplication is overflow-checked. */
void *xcalloc(size_t nmemb, size_t size);
/* realloc(p, n); a zero size still returns a unique pointer. */
void *xrealloc(void *p, size_t n);
/* realloc(p, nmemb * size) with the multiplication overflow-checked. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
/* A copy of the string S. */
char *xstrdup(const char *s);
/* A copy of at most N bytes of S, always NUL-terminated. */
char *xstrndup(const char *s, size_t n);
/* A newly allocated string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
