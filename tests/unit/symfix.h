/*
 * Fixture for test_symbolizer: functions at known places, compiled with
 * -g -O2.  The line numbers the test checks are taken with __LINE__ in
 * symfix.c itself, so editing that file cannot silently break the test.
 */
#ifndef HEAPTOP_SYMFIX_H
#define HEAPTOP_SYMFIX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* First line of symfix_leaf's definition. */
extern const unsigned symfix_leaf_line;
/* Lines of the call inside the inlined function and of the call that
 * inlines it; set by symfix_outer when it runs. */
extern unsigned symfix_capture_line;
extern unsigned symfix_call_line;

/* A plain out-of-line function. */
int symfix_leaf(int x);
/* Calls an always_inline function that calls a noinline one; returns that
 * call's return address, which lies inside the inlined code. */
void *symfix_outer(int x);
/* Address of symfix_ns::Widget::poke(int) in symfix_cxx.cc. */
uintptr_t symfix_cxx_address(void);

#ifdef __cplusplus
}
#endif

#endif
