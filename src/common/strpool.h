/*
 * A string pool: each distinct string stored once, NUL-terminated, at an
 * address that never changes until the pool is freed.  Equal strings from
 * one pool are the same pointer.
 */
#ifndef HEAPTOP_STRPOOL_H
#define HEAPTOP_STRPOOL_H

#include <stddef.h>

struct strpool;

struct strpool *strpool_new(void);
/* Free the pool and every string it handed out; NULL is allowed. */
void strpool_free(struct strpool *p);
/* The pool's copy of the LEN bytes at S (which should hold no NUL). */
const char *strpool_intern(struct strpool *p, const char *s, size_t len);
/* Distinct strings held, and their bytes with their NULs. */
size_t strpool_count(const struct strpool *p);
size_t strpool_bytes(const struct strpool *p);

#endif
