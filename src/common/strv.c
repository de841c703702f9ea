/* A growable, NULL-terminated array of owned strings. */
#include "config.h"

#include <stdlib.h>

#include "common/strv.h"
#include "common/xalloc.h"

void strv_push(struct strv *a, const char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

void strv_extend(struct strv *a, const struct strv *b)
{
	for (size_t i = 0; i < b->n; i++)
		strv_push(a, b->v[i]);
}

const char *const *strv_array(const struct strv *a)
{
	static const char *const empty[] = { NULL };
	return a->v ? (const char *const *)a->v : empty;
}

void strv_clear(struct strv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}
