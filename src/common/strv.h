/* A growable, NULL-terminated array of owned strings. */
#ifndef HEAPTOP_STRV_H
#define HEAPTOP_STRV_H

#include <stddef.h>

struct strv {
	char **v; /* NULL-terminated once anything was pushed; NULL before */
	size_t n;
};

/* Append a copy of S. */
void strv_push(struct strv *a, const char *s);
/* Append copies of every string of B. */
void strv_extend(struct strv *a, const struct strv *b);
/* The array for APIs that take "const char *const *" (never NULL). */
const char *const *strv_array(const struct strv *a);
/* Free every string and the array; A is empty again. */
void strv_clear(struct strv *a);

#endif
