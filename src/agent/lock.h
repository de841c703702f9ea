/* A tiny spin lock for the agent's short critical sections.  It never
 * allocates and never enters the kernel unless it has spun for a while, when
 * it yields so that a preempted holder can run. */
#ifndef HEAPTOP_LOCK_H
#define HEAPTOP_LOCK_H

#include <sched.h>

static inline void lock_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Take the lock L (an int that is 0 when free). */
static inline void lock_acquire(int *l)
{
	unsigned spins = 0;
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				lock_pause();
			else
				sched_yield();
		}
	}
}

/* Release the lock L. */
static inline void lock_release(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
