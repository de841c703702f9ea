/*
 * What libheaptop-cxx.so (cxx.c) shares with the agent beyond its calls:
 * the part of a thread's state that its operators read and write
 * themselves.  Marking the thread as inside the allocator's operator new,
 * and in sampling mode taking a block with no sample point off the
 * countdown, then cost no call into the agent (three calls a new cost
 * cppcheck on tcmalloc 17 % of its run, sampled).  The agent gives each
 * thread a pointer to its own once (HEAPTOP_CXX_THREAD).  The layout is
 * the two libraries' alone, and the function's name carries its version:
 * a shim and an agent of different builds find no such function and fall
 * back to calls (rename it when the layout changes).
 */
#ifndef HEAPTOP_CXXABI_H
#define HEAPTOP_CXXABI_H

#include <stddef.h>
#include <stdint.h>

struct heaptop_thread_shared {
	int busy;          /* > 0 while in agent code: allocations pass through */
	int in_cxx;        /* in an allocator's operator new, called by
			      libheaptop-cxx.so's */
	int64_t countdown; /* sampling: bytes until the next sample point;
			      0 until the generator is seeded */
	uintptr_t cxx_inner; /* the block last recorded in there, made
				through malloc or told by an operator
				nested in it (0: none) */
};

/* The agent's globals the shim reads. */
struct heaptop_shared {
	const int *sampling;   /* sampling is on (0 until the settings are read) */
	const uint8_t *filter; /* the sampled blocks' filter (below) */
};

/* Exported by the agent, found by the shim with dlsym: the calling
 * thread's state, and the globals in *G. */
#define HEAPTOP_CXX_THREAD "__heaptop_cxx_thread2"
struct heaptop_thread_shared *__heaptop_cxx_thread2(struct heaptop_shared *g);

/* Sampling: 4-bit counters of the addresses of sampled blocks, so that
 * the free of a block never sampled (most) needs no look-up. */
#define HEAPTOP_FILTER_SLOTS (1u << 14)

static inline unsigned heaptop_filter_slot(uintptr_t p)
{
	return (unsigned)(((uint64_t)(p >> 3) * UINT64_C(0x9E3779B97F4A7C15)) >> 50);
}

/* Whether a sampled block may live at P (never a false no). */
static inline int heaptop_maybe_sampled(const uint8_t *filter, uintptr_t p)
{
	unsigned slot = heaptop_filter_slot(p);
	return __atomic_load_n(&filter[slot >> 1], __ATOMIC_RELAXED) >> (slot & 1) * 4 & 0xf;
}

/* Sampling (the caller knows it is on): whether a block of SIZE bytes made
 * now holds no sample point, its bytes then taken off the countdown.  Not
 * decided here (0) inside the agent or an operator new of the shim, or
 * before the countdown is seeded: the agent then decides. */
static inline int heaptop_sample_skip(struct heaptop_thread_shared *t, size_t size)
{
	if (t->busy || t->in_cxx)
		return 0;
	int64_t left = t->countdown;
	if (left <= 0 || (uint64_t)size >= (uint64_t)left)
		return 0;
	t->countdown = left - (int64_t)size;
	return 1;
}

#endif
