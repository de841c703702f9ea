/* The hooks' per-thread state, as the rest of the agent needs it. */
#ifndef HEAPTOP_HOOKS_H
#define HEAPTOP_HOOKS_H

/* Enter (+1) or leave (-1) agent code on this thread: while inside, the
 * thread's allocations pass through untraced. */
void hooks_busy(int delta);

#endif
