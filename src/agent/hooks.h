/* The hooks' per-thread state, as the rest of the agent needs it. */
#ifndef HEAPTOP_HOOKS_H
#define HEAPTOP_HOOKS_H

#include <stddef.h>

/* Enter (+1) or leave (-1) agent code on this thread: while inside, the
 * thread's allocations pass through untraced. */
void hooks_busy(int delta);
/* Whether this thread is inside agent code (a signal handler interrupted
 * it there). */
int hooks_inside(void);
/* Record nothing from now on: a child whose tables cannot be trusted. */
void hooks_off(void);

/* The fork handlers, between taking the agent's locks and releasing
 * them: apply what the hooks wrote to the fork log (forklog.h); in the
 * CHILD only the entries written before the fork. */
void hooks_fork_apply(int child);

/* Called by libheaptop-cxx.so (found with dlsym), see hooks.c. */
void __heaptop_alloc2(void *p, size_t size, size_t align);
void __heaptop_free(void *p);
void __heaptop_cxx_enter(void);
void __heaptop_cxx_leave(void);
void __heaptop_busy(int delta);
void __heaptop_cxx_loaded(const void *code);

#endif
