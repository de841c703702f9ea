/* A tiny spin lock for the agent's short critical sections.  It never
 * allocates and never enters the kernel unless it has spun for a while, when
 * it yields so that a preempted holder can run.  A held lock holds its
 * owner's thread pointer: a fork handler that runs in a signal handler
 * must not wait for a lock the code it interrupted holds (lock_mine). */
#ifndef HEAPTOP_LOCK_H
#define HEAPTOP_LOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "agent/forklog.h"

static inline void lock_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* This thread's tag: its thread pointer, one load. */
static inline uintptr_t lock_self(void)
{
#if defined(__x86_64__)
	uintptr_t tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return tp;
#else
	return (uintptr_t)pthread_self();
#endif
}

static inline int lock_try(uintptr_t *l, uintptr_t me)
{
	uintptr_t free_ = 0;
	return __atomic_compare_exchange_n(l, &free_, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Wait until L looks free, or, when GATED, until it is a fork's (0). */
static __attribute__((noinline, unused)) int lock_wait(uintptr_t *l, int gated)
{
	unsigned spins = 0;
	uintptr_t held;
	while ((held = __atomic_load_n(l, __ATOMIC_RELAXED))) {
		if (gated && forklog_holds(l, held))
			return 0;
		if (++spins < 128)
			lock_pause();
		else
			sched_yield();
	}
	return 1;
}

/* Take the lock L (0 when free). */
static inline void lock_acquire(uintptr_t *l)
{
	uintptr_t me = lock_self();
	while (!lock_try(l, me))
		lock_wait(l, 0);
}

/* The same for the hooks: -1 without it when the handlers of a fork in
 * progress hold it (the caller writes to the fork log instead), else 0
 * with it. */
static inline int lock_acquire_gated(uintptr_t *l)
{
	uintptr_t me = lock_self();
	while (!lock_try(l, me))
		if (!lock_wait(l, 1))
			return -1;
	return 0;
}

/* Release the lock L. */
static inline void lock_release(uintptr_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Whether this thread holds L. */
static inline int lock_mine(const uintptr_t *l)
{
	return __atomic_load_n(l, __ATOMIC_RELAXED) == lock_self();
}

#endif
