/* libwl_atfork.so: a mutex that its fork handlers hold across fork, and a
 * prepare handler the agent cannot order. */
#ifndef WL_ATFORK_H
#define WL_ATFORK_H

void wl_atfork_lock(void);
void wl_atfork_unlock(void);
/* Have FN called inside every fork from now on, after the agent's
 * prepare handler (NULL: nothing), see wl_atfork_compat.c. */
void wl_atfork_window(void (*fn)(void));

#endif
