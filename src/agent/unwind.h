/* A fast x86-64 stack walker driven by the modules' DWARF call-frame
 * information, with a process-wide cache of unwind rules per pc.  It only
 * answers when it is sure; otherwise the caller uses libunwind. */
#ifndef HEAPTOP_UNWIND_H
#define HEAPTOP_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* Whether this build has the walker (x86-64 only). */
int unwind_available(void);
/* Bytes of a thread's walk state (zeroed before its first walk). */
size_t unwind_logs_size(void);
/* Write the return addresses of the calling stack into PCS, the agent's own
 * frames dropped, at most MAX of them; every read stays in [LO, HI), the
 * thread's stack; STATE is the thread's walk state.  Returns how many, or
 * -1 when a frame's rule is unknown or a read would leave the stack (use
 * libunwind for this stack).  While a fork is in progress a frame whose
 * rule is not in the cache yet ends the stack. */
int unwind_dwarf(void *state, uintptr_t *pcs, unsigned max, uintptr_t lo, uintptr_t hi);
/* HEAPTOP_UNWIND_CHECK: count one capture that fell back, or that did not
 * and was compared with libunwind's (N and REF its frames and libunwind's).
 * The totals go to stderr when the process exits. */
void unwind_check_fallback(void);
void unwind_check_compare(const uintptr_t *pcs, unsigned n, const uintptr_t *ref, unsigned nref);

#endif
