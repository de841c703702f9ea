/* Allocation wrappers that never return NULL (see xalloc.h). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* The viewer cannot do anything useful without memory: say so and stop. */
static _Noreturn void xalloc_fail(void)
{
	fputs("heaptop: out of memory\n", stderr);
	exit(1);
}

void *xmalloc(size_t n)
{
	/* malloc(0) may legally return NULL; ask for one byte instead. */
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		xalloc_fail();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	void *p = calloc(nmemb, size);
	if (p == NULL)
		xalloc_fail();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	/* realloc(p, 0) frees p and may return NULL: never let that happen. */
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		xalloc_fail();
	return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		xalloc_fail();
	return xrealloc(p, nmemb * size);
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *p;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	/* vasprintf fails only for lack of memory (or a bad format, which
	 * the format attribute catches at compile time). */
	if (n < 0)
		xalloc_fail();
	return p;
}
