/*
 * Part of libwl_atfork.so: a prepare handler registered through the C
 * library's own pthread_atfork, as a binary built before glibc 2.3.2
 * does, or one with a weak reference to it (gperftools, tcmalloc): that
 * call never passes through __register_atfork, so the
 * agent cannot put its handlers first, and as it is registered before the
 * agent's (a library's constructor runs before the preloaded agent's),
 * it runs after the agent's prepare handler, inside the fork.  It calls
 * what wl_atfork_window set, if anything.
 */
#include <stddef.h>

#include "wl_atfork.h"

/* The C library's own (x86-64's first version): not libc_nonshared.a's,
 * which the other file of the library links in and which calls
 * __register_atfork. */
extern int libc_pthread_atfork(void (*)(void), void (*)(void), void (*)(void));
__asm__(".symver libc_pthread_atfork, pthread_atfork@GLIBC_2.2.5");

static void (*window)(void);

void wl_atfork_window(void (*fn)(void))
{
	__atomic_store_n(&window, fn, __ATOMIC_RELEASE);
}

static void prepare(void)
{
	void (*fn)(void) = __atomic_load_n(&window, __ATOMIC_ACQUIRE);
	if (fn)
		fn();
}

/* Before the library's other constructor, whose pthread_atfork call has
 * the agent register its handlers. */
__attribute__((constructor(101))) static void register_compat(void)
{
	libc_pthread_atfork(prepare, NULL, NULL);
}
