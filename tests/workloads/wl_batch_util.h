/* wl_batch's second source file (see wl_batch.c). */
#ifndef HEAPTOP_WL_BATCH_UTIL_H
#define HEAPTOP_WL_BATCH_UTIL_H

#include <stddef.h>

/* Keep P live until the program exits. */
void wl_hold(void *p);
/* malloc or abort: the wrapper that tests skip with -k xmalloc. */
void *xmalloc(size_t n);
/* 5 x malloc(640) */
void util_alloc(void);
/* 2 x calloc(1, 900) */
void util_calloc(void);

#endif
