/* libwl_atfork.so: a mutex that its fork handlers hold across fork. */
#ifndef WL_ATFORK_H
#define WL_ATFORK_H

void wl_atfork_lock(void);
void wl_atfork_unlock(void);

#endif
