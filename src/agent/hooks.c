/*
 * The interposed allocation functions.  Each one calls the next allocator
 * (found with dlsym(RTLD_NEXT), so jemalloc or tcmalloc under us still
 * work) and records the result.  Rules that keep the target's behaviour
 * intact: results, errno and alignment are the next allocator's; a block is
 * forgotten before it is handed back (another thread may get the address at
 * once); nothing here ever allocates through the hooks or holds a lock while
 * unwinding, or waits for a fork in progress (forklog.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <malloc.h>
#include <libunwind.h>

#include "agent/agent.h"
#include "agent/cxxabi.h"
#include "agent/hooks.h"
#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/modules.h"
#include "agent/ptrmap.h"
#include "agent/server.h"
#include "agent/stacktab.h"
#include "agent/unwind.h"

#define FLUSH_BYTES (64 << 10) /* per-thread live delta folded in past this */
#define CXX_MADE 4 /* blocks made inside an operator new that are kept */

struct thread_state {
	struct heaptop_thread_shared shared; /* busy, in_cxx, cxx_inner and
						the sampling countdown
						(cxxabi.h) */
	unsigned stripe;   /* counter stripe + 1; 0 until assigned */
	int64_t pending;   /* live-byte change not yet in live_flushed */
	int registered;    /* the exit destructor is armed */
	uint64_t rng;      /* sampling: xorshift state; 0 until seeded */
	uintptr_t stack_lo, stack_hi; /* frame-pointer walks stay in here;
					 hi 0: not known yet, 1: unknown */
	int in_getattr;    /* in pthread_getattr_np, which holds the lock of
			      the thread it was asked about */
	struct walk_bufs *bufs; /* mapped at the first walk */
	/* The blocks the hooks saw inside the shim's outermost operator new
	 * so far, oldest first (the first of them cleared the list: the shim
	 * clears shared.cxx_inner when it calls the allocator's operator). */
	struct cxx_made {
		uintptr_t at;
		size_t size;
		int kept; /* it is in the pointer map */
	} cxx_made[CXX_MADE];
	unsigned cxx_nmade;
	uint32_t freed_log; /* the fork log's number + 1 of the FREE entry
			       forget wrote last, 0: none */
	uint64_t freed_seen; /* forklog_seen then */
	/* The new stack this thread logged last, and its fork (forklog_seen):
	 * a loop that allocates from one stack during a fork shares its pcs. */
	uint64_t new_stack_seen;
	const uintptr_t *new_stack_pcs;
	uint32_t new_stack_at;
	unsigned new_stack_depth;
};

/*
 * What a walk writes, per thread: the stack's pcs, libunwind's frames and
 * the DWARF walker's logs, 8 KiB.  Mapped at the thread's first walk and
 * given back when it exits, not in static TLS, which glibc carves out of
 * every thread's stack (a PTHREAD_STACK_MIN thread has 16 KiB), nor on
 * the stack of the hooks.
 */
struct walk_bufs {
	uintptr_t pcs[HT_MAX_DEPTH];
	void *unw[HT_MAX_DEPTH + 16];
	_Alignas(16) unsigned char logs[]; /* unwind_logs_size() */
};

static __thread struct thread_state ts __attribute__((tls_model("initial-exec")));

static struct {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void (*exit)(int) __attribute__((noreturn));
	void (*Exit)(int) __attribute__((noreturn));
	void (*quick_exit)(int) __attribute__((noreturn));
	int (*dlclose)(void *);
	int (*getattr)(pthread_t, pthread_attr_t *);
} real;

enum { NOT_READY, RESOLVING, RESOLVED };
static int resolve_state;
enum { CORE_NOT_READY, CORE_READY, CORE_OFF };
static int core_ready; /* CORE_OFF: records nothing (hooks_off) */
static uintptr_t init_lock;
static int64_t live_flushed;   /* sum of the threads' flushed deltas */
static unsigned next_stripe;
static int sampling;           /* agent_settings.sample != 0, once known */
static pthread_key_t exit_key;
static pthread_t main_thread;  /* set by the constructor, which it runs */

/* Whether sampling is on; when it is, the next allocators are known. */
static inline int sampling_on(void)
{
	return __atomic_load_n(&sampling, __ATOMIC_ACQUIRE);
}

/* dlsym may allocate before any allocator is known: serve those requests
 * from a static arena that free() recognises and ignores. */
#define ARENA_BYTES (256 << 10)
static _Alignas(64) uint8_t arena[ARENA_BYTES];
static size_t arena_used;

static void *arena_alloc(size_t size)
{
	size_t need = ((size + 15) & ~(size_t)15) + 16;
	size_t at = __atomic_fetch_add(&arena_used, need, __ATOMIC_RELAXED);
	if (at + need > ARENA_BYTES || need < size)
		return NULL;
	*(size_t *)(arena + at) = size;
	return arena + at + 16; /* zeroed: it is static storage, used once */
}

static int in_arena(const void *p)
{
	return (const uint8_t *)p >= arena && (const uint8_t *)p < arena + ARENA_BYTES;
}

static size_t arena_size(const void *p)
{
	return *(const size_t *)((const uint8_t *)p - 16);
}

/* Whether the malloc at F is another than the C library's (jemalloc,
 * tcmalloc, mimalloc), whose small blocks sit in dense slabs. */
static int dense_allocator(const void *f)
{
	Dl_info di;
	if (!f || !dladdr(f, &di) || !di.dli_fname)
		return 0;
	const char *base = strrchr(di.dli_fname, '/');
	base = base ? base + 1 : di.dli_fname;
	/* libc.so.6, libc-2.31.so before glibc 2.34, glibc's debugging
	 * malloc (libc_malloc_debug.so) */
	return strncmp(base, "libc.so", 7) != 0 && strncmp(base, "libc-", 5) != 0 &&
	       strncmp(base, "libc_malloc_debug", 17) != 0;
}

static void resolve(void)
{
	if (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) == RESOLVED)
		return;
	lock_acquire(&init_lock);
	if (resolve_state == NOT_READY) {
		resolve_state = RESOLVING;
		real.malloc = dlsym(RTLD_NEXT, "malloc");
		real.calloc = dlsym(RTLD_NEXT, "calloc");
		real.realloc = dlsym(RTLD_NEXT, "realloc");
		real.free = dlsym(RTLD_NEXT, "free");
		real.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
		real.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
		real.memalign = dlsym(RTLD_NEXT, "memalign");
		real.valloc = dlsym(RTLD_NEXT, "valloc");
		real.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
		real.exit = dlsym(RTLD_NEXT, "_exit");
		real.Exit = dlsym(RTLD_NEXT, "_Exit");
		real.quick_exit = dlsym(RTLD_NEXT, "quick_exit");
		real.dlclose = dlsym(RTLD_NEXT, "dlclose");
		real.getattr = dlsym(RTLD_NEXT, "pthread_getattr_np");
		if (dense_allocator((const void *)real.malloc))
			ptrmap_dense();
		__atomic_store_n(&resolve_state, RESOLVED, __ATOMIC_RELEASE);
	}
	lock_release(&init_lock);
}

void hooks_busy(int delta)
{
	ts.shared.busy += delta;
}

int hooks_inside(void)
{
	return ts.shared.busy;
}

void hooks_off(void)
{
	__atomic_store_n(&core_ready, CORE_OFF, __ATOMIC_RELEASE);
}

void agent_thread_untraced(void)
{
	ts.shared.busy = 1;
}

static void flush_pending(void)
{
	__atomic_add_fetch(&live_flushed, ts.pending, __ATOMIC_RELAXED);
	ts.pending = 0;
}

static size_t walk_bufs_size(void)
{
	return sizeof(struct walk_bufs) + unwind_logs_size();
}

static void thread_exit(void *arg)
{
	flush_pending();
	struct walk_bufs *b = ts.bufs;
	if (b) {
		/* Forgotten before it goes: a signal handler that allocates in
		 * between maps another. */
		__atomic_store_n(&ts.bufs, NULL, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		mem_unmap(b, walk_bufs_size());
	}
	/* A later destructor may allocate again: arm this one again then. */
	ts.registered = 0;
}

/* Have thread_exit run when this thread exits (once armed, until it runs). */
static inline void arm_thread_exit(void)
{
	if (!ts.registered) {
		ts.registered = 1;
		pthread_setspecific(exit_key, &ts);
	}
}

/* The thread's walk buffers, mapped now; NULL when memory is short. */
static __attribute__((noinline)) struct walk_bufs *walk_bufs_make(void)
{
	ts.bufs = mem_map(walk_bufs_size());
	if (ts.bufs)
		arm_thread_exit();
	return ts.bufs;
}

/* The tables and settings, made ready by the first allocation (which may
 * come before any constructor runs). */
static void core_init(void)
{
	/* Before anything is recorded: the next malloc and what it tells
	 * the pointer map's layout (dense_allocator). */
	resolve();
	lock_acquire(&init_lock);
	if (core_ready == CORE_NOT_READY) {
		agent_settings_load();
		stacktab_configure(agent_settings.max_stacks);
		modules_init();
		pthread_key_create(&exit_key, thread_exit);
		__atomic_store_n(&sampling, agent_settings.sample != 0, __ATOMIC_RELEASE);
		__atomic_store_n(&core_ready, CORE_READY, __ATOMIC_RELEASE);
	}
	lock_release(&init_lock);
}

static unsigned my_stripe(void)
{
	if (!ts.stripe)
		ts.stripe = __atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED) %
				    STACKTAB_STRIPES + 1;
	return ts.stripe - 1;
}

/* Track the change D of this thread's live bytes and the peak it makes.
 * The peak is exact for the allocating thread; others' unflushed deltas
 * (under FLUSH_BYTES each) are folded in when they flush or at a snapshot. */
static inline __attribute__((always_inline)) void live_change(int64_t d)
{
	ts.pending += d;
	if (ts.pending >= FLUSH_BYTES || ts.pending <= -FLUSH_BYTES)
		flush_pending();
	if (d > 0) {
		int64_t now = __atomic_load_n(&live_flushed, __ATOMIC_RELAXED) + ts.pending;
		if (now > 0)
			agent_peak_raise((uint64_t)now);
	}
	arm_thread_exit();
}

/* Drop the leading frames that are libunwind's and ours (up to and
 * including the hook); keep at most the configured depth. */
static unsigned keep_caller_frames(void *const *buf, int n, uintptr_t *pcs)
{
	int i = 0;
	while (i < n && !modules_in_agent((uintptr_t)buf[i]))
		i++;
	while (i < n && modules_in_agent((uintptr_t)buf[i]))
		i++;
	if (i == n)
		i = 0;
	unsigned depth = 0;
	for (; i < n && depth < agent_settings.depth; i++)
		pcs[depth++] = (uintptr_t)buf[i];
	return depth;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The mapping of /proc/self/maps that holds AT into *LO and *HI, with *LO
 * lowered to the end of the mapping below it (the room a stack grows
 * into).  Read with system calls only: no lock, no allocation. */
static int mapping_around(uintptr_t at, uintptr_t *lo, uintptr_t *hi)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[1024];
	uintptr_t num = 0, start = 0, below = 0;
	int field = 0, found = 0; /* 0: start, 1: end, 2: the rest of the line */
	while (!found) {
		ssize_t n = syscall(SYS_read, fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && !found; i++) {
			int d = field < 2 ? hex_digit(buf[i]) : -1;
			if (d >= 0) {
				num = num << 4 | (uintptr_t)d;
			} else if (field == 0 && buf[i] == '-') {
				start = num;
				num = 0;
				field = 1;
			} else if (field == 1) {
				if (start <= at && at < num) {
					*lo = below;
					*hi = num;
					found = 1;
				} else if (num <= at) {
					below = num;
				}
				field = 2;
			} else if (buf[i] == '\n') {
				num = 0;
				field = 0;
			}
		}
	}
	syscall(SYS_close, fd);
	return found;
}

/* The main thread's stack: its mapping, and at most RLIMIT_STACK of it, as
 * glibc's pthread_getattr_np finds it, but without it: that takes the
 * thread's lock and reads the file with fopen, so an allocation made while
 * the program itself is in pthread_getattr_np (Rust's runtime calls it
 * before anything else) would wait on that lock for ever. */
static int main_stack_bounds(void)
{
	extern void *__libc_stack_end;
	uintptr_t lo, hi;
	struct rlimit rl;
	if (!mapping_around((uintptr_t)__libc_stack_end, &lo, &hi))
		return 0;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < hi - lo)
		lo = hi - rl.rlim_cur;
	ts.stack_lo = lo;
	ts.stack_hi = hi;
	return 1;
}

static int is_main_thread(void)
{
	if (main_thread)
		return pthread_equal(pthread_self(), main_thread);
	return syscall(SYS_gettid) == getpid();
}

/* This thread's stack bounds, found once. */
static __attribute__((noinline)) int find_stack_bounds(void)
{
	if (ts.stack_hi == 1)
		return 0;
	/* The program is in pthread_getattr_np (which allocates) and holds a
	 * thread's lock, maybe this one's: ask again at the next allocation. */
	if (ts.in_getattr)
		return 0;
	ts.stack_hi = 1;
	if (is_main_thread())
		return main_stack_bounds();
	/* Another thread's stack is where pthread_create put it, which
	 * pthread_getattr_np tells without reading files.  Its allocation
	 * passes through: the thread is busy. */
	pthread_attr_t attr;
	void *addr;
	size_t size;
	if (!real.getattr || real.getattr(pthread_self(), &attr) != 0)
		return 0;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size > 0) {
		ts.stack_lo = (uintptr_t)addr;
		ts.stack_hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&attr);
	return ts.stack_hi > 1;
}

/* This thread's stack, where a walk may read. */
static inline int stack_bounds(void)
{
	return ts.stack_hi > 1 || find_stack_bounds();
}

/*
 * The frame-pointer walk (HEAPTOP_UNWIND=fp): each frame holds the caller's
 * frame pointer and the return address.  It only ever moves towards the top
 * of this thread's stack and never leaves it, so every address it reads is
 * mapped: code without frame pointers can garble the stack it finds, never
 * crash the target.  It writes the caller's frames straight into PCS.
 */
static int walk_frame_pointers(uintptr_t *pcs)
{
	const uintptr_t *fp = __builtin_frame_address(0);
	unsigned n = 0, max = agent_settings.depth;
	/* In locals: the stores to PCS could alias ts and force reloads. */
	const uintptr_t lo = ts.stack_lo, hi = ts.stack_hi - 2 * sizeof *fp;
	int ours = 1; /* still in the agent's own frames */
	if ((uintptr_t)fp < lo || (uintptr_t)fp > hi)
		return -1; /* another stack than the thread's own */
	while (n < max) {
		uintptr_t at = (uintptr_t)fp;
		if ((at & 7) || at < lo || at > hi)
			break;
		uintptr_t ret = fp[1], next = fp[0];
		if (ret < 4096)
			break;
		if (!ours || !(ours = modules_in_agent(ret)))
			pcs[n++] = ret;
		if (next <= at)
			break;
		fp = (const uintptr_t *)next;
	}
	return (int)n;
}

/* libunwind, set up at its first use: it opens a pipe then (to check
 * addresses), which the DWARF walker mostly spares the program. */
static void libunwind_init(void)
{
	static int ready;
	if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		return;
	lock_acquire(&init_lock);
	if (!ready) {
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	lock_release(&init_lock);
}

/* The caller's stack by libunwind into PCS: how many frames, or -1 while
 * a fork is in progress (libunwind takes the loader's lock, and the hooks
 * do not wait for the fork to end). */
static __attribute__((noinline)) int capture_libunwind(struct walk_bufs *b, uintptr_t *pcs)
{
	libunwind_init();
	if (modules_loader_try() < 0)
		return -1;
	int n = unw_backtrace(b->unw, (int)agent_settings.depth + 16);
	modules_loader_leave();
	return (int)keep_caller_frames(b->unw, n, pcs);
}

/* HEAPTOP_UNWIND_CHECK: the DWARF walker's N frames against libunwind's. */
static __attribute__((noinline)) void check_unwind(struct walk_bufs *b, unsigned n)
{
	uintptr_t ref[HT_MAX_DEPTH];
	int nref = capture_libunwind(b, ref);
	if (nref >= 0)
		unwind_check_compare(b->pcs, n, ref, (unsigned)nref);
}

/* The caller's stack into B->pcs, the agent's own frames dropped: by the
 * DWARF walker (the default), which hands the stacks it is not sure of to
 * libunwind, by libunwind, or by frame pointers, which also hand a stack
 * that is not the thread's own (a coroutine's, a signal stack) to
 * libunwind. */
static inline __attribute__((always_inline)) unsigned capture(struct walk_bufs *b)
{
	if (agent_settings.unwind == AGENT_UNWIND_DWARF && stack_bounds()) {
		int n = unwind_dwarf(b->logs, b->pcs, agent_settings.depth, ts.stack_lo,
				     ts.stack_hi);
		if (n >= 0) {
			if (agent_settings.unwind_check)
				check_unwind(b, (unsigned)n);
			return (unsigned)n;
		}
		if (agent_settings.unwind_check)
			unwind_check_fallback();
	} else if (agent_settings.unwind == AGENT_UNWIND_FP && stack_bounds()) {
		int n = walk_frame_pointers(b->pcs);
		if (n >= 0)
			return (unsigned)n;
	}
	int n = capture_libunwind(b, b->pcs);
	/* A fork is in progress: the agent's own frames have frame pointers,
	 * which give the caller at least (the rules of a hook that has not
	 * walked before are not in the walker's cache yet). */
	if (n < 0 && stack_bounds())
		n = walk_frame_pointers(b->pcs);
	return n >= 0 ? (unsigned)n : 0;
}

/*
 * Sampling by bytes: sample points fall as a Poisson process of mean
 * interval agent_settings.sample over the bytes allocated; a block is
 * sampled when one falls in it, which happens with probability
 * p = 1 - exp(-size / interval), and is then counted with weight 1/p: the
 * estimates of bytes and blocks are unbiased.  Unsampled blocks cost a
 * subtraction inline in the hook, and their free a load from
 * sampled_filter, 4-bit counters of the addresses of sampled blocks
 * (cxxabi.h, as libheaptop-cxx.so reads it too).
 */
static uint8_t sampled_filter[HEAPTOP_FILTER_SLOTS / 2]; /* 8 KiB */

static int maybe_sampled(uintptr_t p)
{
	return heaptop_maybe_sampled(sampled_filter, p);
}

static double uniform(void)
{
	if (!ts.rng) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ts.rng = ((uint64_t)(uintptr_t)&ts ^ (uint64_t)t.tv_nsec << 20) | 1;
	}
	ts.rng ^= ts.rng >> 12;
	ts.rng ^= ts.rng << 25;
	ts.rng ^= ts.rng >> 27;
	/* 53 random bits in (0, 1]. */
	return ((ts.rng * UINT64_C(2685821657736338717)) >> 11) * 0x1.0p-53 + 0x1.0p-53;
}

static int64_t next_interval(void)
{
	return (int64_t)(-log(uniform()) * (double)agent_settings.sample) + 1;
}

/* Whether this allocation of SIZE bytes holds a sample point. */
static int sample_hit(size_t size)
{
	if (!ts.rng)
		ts.shared.countdown = next_interval(); /* seeds the generator */
	ts.shared.countdown -= (int64_t)size;
	if (ts.shared.countdown > 0)
		return 0;
	do
		ts.shared.countdown += next_interval();
	while (ts.shared.countdown <= 0);
	return 1;
}

/* The sampling estimate of a block of SIZE bytes (blocks in units of
 * 1/AGENT_SAMPLE_UNIT). */
static __attribute__((noinline)) void sampled_weight(uint64_t size, uint64_t *bytes,
						     uint64_t *blocks)
{
	double p = -expm1(-(double)size / (double)agent_settings.sample);
	double w = p > 1e-12 ? 1 / p : 1e12;
	*bytes = (uint64_t)llround((double)size * w);
	*blocks = (uint64_t)llround(w * AGENT_SAMPLE_UNIT);
}

/* What a block of SIZE bytes counts for: itself, or its estimate. */
static inline void block_weight(uint64_t size, uint64_t *bytes, uint64_t *blocks)
{
	if (__builtin_expect(agent_settings.sample != 0, 0)) {
		sampled_weight(size, bytes, blocks);
		return;
	}
	*bytes = size;
	*blocks = 1;
}

/* The born slot of a block tagged TAG: its mark parity while that mark is
 * the current one. */
static int born_slot(unsigned tag)
{
	return tag && tag == agent_mark_tag() ? (int)(tag & 1) : -1;
}

static inline __attribute__((always_inline)) void charge(unsigned stripe,
							   const struct ptrmap_rec *r)
{
	uint64_t bytes, blocks;
	block_weight(r->size, &bytes, &blocks);
	stacktab_charge(stripe, r->stack, bytes, blocks, born_slot(r->tag));
	live_change((int64_t)bytes);
}

static inline __attribute__((always_inline)) void credit(unsigned stripe,
							   const struct ptrmap_rec *r)
{
	uint64_t bytes, blocks;
	block_weight(r->size, &bytes, &blocks);
	stacktab_credit(stripe, r->stack, bytes, blocks, born_slot(r->tag));
	live_change(-(int64_t)bytes);
}

static void filter_add(uintptr_t p, int delta)
{
	unsigned slot = heaptop_filter_slot(p), shift = (slot & 1) * 4;
	uint8_t *f = &sampled_filter[slot >> 1];
	uint8_t v = __atomic_load_n(f, __ATOMIC_RELAXED);
	for (;;) {
		unsigned n = v >> shift & 0xf;
		/* A saturated counter stays so: it only costs lookups. */
		if (n == 0xf || (delta < 0 && n == 0))
			return;
		uint8_t w = (uint8_t)((v & ~(0xf << shift)) | (unsigned)((int)n + delta) << shift);
		if (__atomic_compare_exchange_n(f, &v, w, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
	}
}

/* Block P with record R went into the map, new (INS 0) or in place of OLD
 * (1), whose free never reached us: count it. */
static inline __attribute__((always_inline)) void count_placed(unsigned stripe, uintptr_t p,
								 const struct ptrmap_rec *r, int ins,
								 const struct ptrmap_rec *old)
{
	if (ins == 1)
		credit(stripe, old);
	else if (agent_settings.sample)
		filter_add(p, 1);
	charge(stripe, r);
}

/* Block P, with record R, left the map: count its free. */
static inline __attribute__((always_inline)) void count_freed(unsigned stripe, uintptr_t p,
								const struct ptrmap_rec *r)
{
	if (agent_settings.sample)
		filter_add(p, -1);
	credit(stripe, r);
}

static void unforget(void *p, const struct ptrmap_rec *r);

/*
 * While a fork is in progress, what the hooks would do to the tables and
 * cannot (the fork handlers hold the locks) goes to the fork log, which
 * the handlers apply after the fork (forklog.h).  Each of these returns
 * -2 when the fork went on meanwhile and the caller should try the tables
 * again (the hooks may wait for the handlers now).
 */

/* Block P with record R (of stack R->stack, or if that is
 * STACKTAB_FORKING, PCS[0..DEPTH)): 2 logged, -1 the log is full (the
 * block goes untracked). */
static __attribute__((noinline, cold)) int log_alloc(uintptr_t p, const struct ptrmap_rec *r,
						     const uintptr_t *pcs, unsigned depth)
{
	uint32_t num;
	int full;
	struct forklog_entry *e = forklog_reserve(&num, &full);
	if (!e)
		return full ? -1 : -2;
	e->p = p;
	e->size = r->size;
	e->tag = (uint8_t)r->tag;
	e->stack = r->stack;
	if (r->stack == STACKTAB_FORKING) {
		e->stack = FORKLOG_NEW_STACK;
		if (ts.new_stack_seen >> FORKLOG_GEN_SHIFT == forklog_seen >> FORKLOG_GEN_SHIFT &&
		    ts.new_stack_depth == depth &&
		    memcmp(ts.new_stack_pcs, pcs, depth * sizeof *pcs) == 0) {
			e->pcs_at = ts.new_stack_at;
			e->depth = (uint16_t)depth;
		} else {
			uintptr_t *at = forklog_pcs(e, depth);
			if (at) {
				memcpy(at, pcs, depth * sizeof *pcs);
				ts.new_stack_seen = forklog_seen;
				ts.new_stack_pcs = at;
				ts.new_stack_at = e->pcs_at;
				ts.new_stack_depth = depth;
			}
			/* else stays at depth 0: an unknown stack */
		}
	}
	/* Before the block reaches the program, whose free must look it up. */
	if (agent_settings.sample)
		filter_add(p, 1);
	forklog_publish(e, FORKLOG_ALLOC);
	return 2;
}

/* Forget P (FREE) or take its record back (RETRACT): 0 logged (or the
 * log is full: the block stays in the map until its address comes
 * back), -2 try again. */
static __attribute__((noinline, cold)) int log_remove(uintptr_t p, enum forklog_kind kind)
{
	uint32_t num;
	int full;
	struct forklog_entry *e = forklog_reserve(&num, &full);
	if (!e)
		return full ? 0 : -2;
	e->p = p;
	forklog_publish(e, kind);
	if (kind == FORKLOG_FREE) {
		ts.freed_log = num + 1;
		ts.freed_seen = forklog_seen;
	}
	return 0;
}

/* realloc failed to move P, whose FREE is entry NUM: put it back, in the
 * same fork's log, or once that is applied, from what the FREE found.
 * Lost if another fork came in between. */
static __attribute__((noinline, cold)) void log_unfree(uintptr_t p, uint32_t num)
{
	uint64_t seen = forklog_seen;
	uint32_t gen = (uint32_t)(ts.freed_seen >> FORKLOG_GEN_SHIFT) & 0xffffff;
	forklog_seen = ts.freed_seen;
	for (;;) {
		uint32_t n;
		int full;
		struct forklog_entry *e = forklog_reserve(&n, &full);
		if (e) {
			e->p = p;
			e->size = num;
			forklog_publish(e, FORKLOG_UNFREE);
			break;
		}
		if (full || forklog_gen() != gen)
			break;
		if (!forklog_raised()) {
			enum forklog_kind kind;
			struct forklog_entry *f = forklog_entry(num, 0, &kind);
			if (f && kind == FORKLOG_FREE && f->found) {
				struct ptrmap_rec r = { f->size, f->stack, f->tag };
				unforget((void *)p, &r);
			}
			break;
		}
		sched_yield(); /* the handlers apply that fork's log */
	}
	forklog_seen = seen;
}

/* A fork stopped putting P with R (its stack R->stack, or if that is
 * STACKTAB_FORKING, PCS[0..DEPTH)) into the map: log it, or if the fork
 * went on meanwhile, put it there now.  As ptrmap_insert returns, or 2:
 * logged. */
static __attribute__((noinline, cold)) int place_forking(uintptr_t p, struct ptrmap_rec *r,
							 struct ptrmap_rec *old,
							 const uintptr_t *pcs, unsigned depth)
{
	for (;;) {
		int ins = log_alloc(p, r, pcs, depth);
		if (ins != -2)
			return ins;
		if (r->stack == STACKTAB_FORKING)
			r->stack = stacktab_intern(pcs, depth);
		if (r->stack != STACKTAB_FORKING && (ins = ptrmap_insert(p, r, old)) != -2)
			return ins;
	}
}

/* The same for removing P (KIND: FREE or RETRACT): as ptrmap_remove
 * returns, or 0: logged. */
static __attribute__((noinline, cold)) int remove_forking(uintptr_t p, struct ptrmap_rec *r,
							  enum forklog_kind kind)
{
	for (;;) {
		int found = log_remove(p, kind);
		if (found != -2 || (found = ptrmap_remove(p, r)) >= 0)
			return found;
	}
}

/* Block P with record R did not go into the map (too large, or a fork
 * in progress): count it untracked, or log it, or if the fork went on
 * meanwhile put it there now.  As ptrmap_insert returns (0 or 1) when it
 * is in the map now, -1 when untracked, -2 when logged. */
static __attribute__((noinline, cold)) int record_rare(uintptr_t p, struct ptrmap_rec *r,
						       struct ptrmap_rec *old,
						       const uintptr_t *pcs, unsigned depth,
						       unsigned stripe)
{
	int ins = r->size > PTRMAP_MAX_SIZE ? -1 : place_forking(p, r, old, pcs, depth);
	if (ins == 2)
		return -2;
	if (ins < 0) {
		uint64_t bytes, blocks;
		block_weight(r->size, &bytes, &blocks);
		stacktab_untracked(stripe, bytes, blocks);
		return -1;
	}
	return ins;
}

/* Block P of SIZE bytes was made inside the shim's operator new. */
static __attribute__((noinline)) void cxx_note(void *p, size_t size)
{
	if (!ts.shared.cxx_inner)
		ts.cxx_nmade = 0; /* the first in this operator */
	else if (ts.cxx_nmade == CXX_MADE) {
		memmove(ts.cxx_made, ts.cxx_made + 1, (CXX_MADE - 1) * sizeof ts.cxx_made[0]);
		ts.cxx_nmade--;
	}
	ts.cxx_made[ts.cxx_nmade++] = (struct cxx_made){ (uintptr_t)p, size, 0 };
	ts.shared.cxx_inner = (uintptr_t)p;
}

/* Record block P of SIZE bytes, sampled or not (SAMPLED: it is, whatever
 * the countdown says).  Inline in the commonest hooks (malloc, calloc,
 * realloc): a frame fewer for every walk to step through. */
static inline __attribute__((always_inline)) void record_block(void *p, size_t size,
								int sampled)
{
	if (!p || ts.shared.busy)
		return;
	int ready = __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE);
	if (__builtin_expect(ready != CORE_READY, 0)) {
		if (ready == CORE_OFF)
			return;
		ts.shared.busy++;
		core_init();
		ts.shared.busy--;
	}
	if (ts.shared.in_cxx) /* see __heaptop_alloc2 */
		cxx_note(p, size);
	if (agent_settings.sample && !sampled && !sample_hit(size))
		return;
	int saved_errno = errno;
	ts.shared.busy++;
	if (size <= PTRMAP_MAX_SIZE)
		ptrmap_prefetch((uintptr_t)p); /* its miss overlaps the walk */
	unsigned stripe = my_stripe();
	/* Not on the stack: this frame is inline in the hooks. */
	struct walk_bufs *b = ts.bufs ? ts.bufs : walk_bufs_make();
	static const uintptr_t no_pcs[1];
	unsigned depth = b ? capture(b) : 0;
	const uintptr_t *pcs = b ? b->pcs : no_pcs;
	struct ptrmap_rec r = { size, stacktab_intern(pcs, depth), agent_mark_tag() }, old;
	int ins = -2;
	if (__builtin_expect(size <= PTRMAP_MAX_SIZE && r.stack != STACKTAB_FORKING, 1))
		ins = ptrmap_insert((uintptr_t)p, &r, &old);
	if (__builtin_expect(ins < 0, 0))
		ins = record_rare((uintptr_t)p, &r, &old, pcs, depth, stripe);
	if (ins >= 0)
		count_placed(stripe, (uintptr_t)p, &r, ins, &old);
	if (ts.shared.in_cxx && ins != -1 && ts.cxx_nmade)
		ts.cxx_made[ts.cxx_nmade - 1].kept = 1;
	ts.shared.busy--;
	errno = saved_errno;
}

/*
 * In sampling mode whether a block holds a sample point follows from its
 * size, before it exists.  Most do not: then this takes their bytes off
 * the countdown and the hook tail-calls the next allocator, with no frame
 * of ours and nothing to do after.  (So an allocation that fails still
 * moves the countdown, which biases nothing measurable.  And that call
 * does not mark the thread busy: an allocator whose calloc or realloc
 * called back into our malloc would have its bytes counted twice towards
 * the next sample, and its small blocks estimated up to twice too high;
 * glibc's, jemalloc's and tcmalloc's do not.)
 */
static inline int sample_skip(size_t size)
{
	return sampling_on() && heaptop_sample_skip(&ts.shared, size);
}

/* Whether P can go straight to the next allocator in sampling mode: the
 * filter says it was never sampled, and it is not from the start-up arena. */
static inline __attribute__((always_inline)) int unsampled_block(const void *p)
{
	return !maybe_sampled((uintptr_t)p) && !in_arena(p);
}

static __attribute__((noinline)) void record_alloc_slow(void *p, size_t size)
{
	record_block(p, size, 0);
}

/* Record block P of SIZE bytes.  In sampling mode most blocks hold no
 * sample point: for them this is a subtraction, inline in the hook. */
static inline __attribute__((always_inline)) void record_alloc(void *p, size_t size)
{
	if (p && sample_skip(size))
		return;
	record_alloc_slow(p, size);
}

/* The same with the recording inline too, for the commonest hooks. */
static inline __attribute__((always_inline)) void record_alloc_here(void *p, size_t size)
{
	if (p && sample_skip(size))
		return;
	record_block(p, size, 0);
}

/* Forget P; returns 1 when it was tracked, with its record. */
static inline __attribute__((always_inline)) int forget(void *p, struct ptrmap_rec *r)
{
	if (!p || ts.shared.busy || __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE) != CORE_READY)
		return 0;
	if (agent_settings.sample && !maybe_sampled((uintptr_t)p))
		return 0; /* never sampled: no lookup */
	ts.shared.busy++;
	int found = ptrmap_remove((uintptr_t)p, r);
	if (__builtin_expect(found < 0, 0))
		found = remove_forking((uintptr_t)p, r, FORKLOG_FREE);
	if (found)
		count_freed(my_stripe(), (uintptr_t)p, r);
	ts.shared.busy--;
	return found;
}

/* Put back a block that realloc failed to move. */
static void unforget(void *p, const struct ptrmap_rec *r)
{
	struct ptrmap_rec old;
	ts.shared.busy++;
	int ins = ptrmap_insert((uintptr_t)p, r, &old);
	if (ins == -2) {
		struct ptrmap_rec rec = *r;
		ins = place_forking((uintptr_t)p, &rec, &old, NULL, 0);
	}
	if (ins == 0 || ins == 1)
		count_placed(my_stripe(), (uintptr_t)p, r, ins, &old);
	ts.shared.busy--;
}

/* Call the next allocator with this thread marked busy: an allocator that
 * calls back into the hooks (glibc's reallocarray calls realloc, others
 * build memalign on malloc) must not have its inner calls counted again. */
#define NEXT(call) ({ ts.shared.busy++; __typeof__(call) r_ = (call); ts.shared.busy--; r_; })

static __attribute__((noinline)) void *malloc_traced(size_t size)
{
	resolve();
	if (!real.malloc)
		return arena_alloc(size);
	void *p = NEXT(real.malloc(size));
	record_alloc_here(p, size);
	return p;
}

EXPORT void *malloc(size_t size)
{
	if (sample_skip(size))
		return real.malloc(size);
	return malloc_traced(size);
}

static __attribute__((noinline)) void *calloc_traced(size_t n, size_t size)
{
	resolve();
	if (!real.calloc) {
		size_t bytes;
		if (__builtin_mul_overflow(n, size, &bytes)) {
			errno = ENOMEM;
			return NULL;
		}
		return arena_alloc(bytes);
	}
	void *p = NEXT(real.calloc(n, size));
	if (p)
		record_alloc_here(p, n * size); /* cannot overflow: calloc succeeded */
	return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t bytes;
	if (!__builtin_mul_overflow(n, size, &bytes) && sample_skip(bytes))
		return real.calloc(n, size);
	return calloc_traced(n, size);
}

static __attribute__((noinline)) void free_traced(void *p)
{
	if (!p || in_arena(p))
		return;
	int saved_errno = errno;
	struct ptrmap_rec r;
	forget(p, &r);
	resolve();
	ts.shared.busy++;
	real.free(p);
	ts.shared.busy--;
	errno = saved_errno;
}

/* In sampling mode most frees are of blocks the filter says were never
 * sampled: those go straight to the next allocator, with no frame of ours
 * (a free that reached the hooks again would count nothing twice). */
EXPORT void free(void *p)
{
	if (sampling_on() && unsampled_block(p)) {
		real.free(p);
		return;
	}
	free_traced(p);
}

/* realloc and reallocarray (checked for overflow) end here. */
static void *realloc_common(void *p, size_t size)
{
	struct ptrmap_rec old;
	/* Forgetting may map counters (a failure would leave ENOMEM behind a
	 * realloc that succeeds): errno is the allocator's alone. */
	int saved_errno = errno;
	ts.freed_log = 0;
	int had = forget(p, &old);
	uint32_t logged = ts.freed_log; /* forget wrote to the fork log */
	errno = saved_errno;
	void *q = NEXT(real.realloc(p, size));
	if (q)
		record_alloc_here(q, size);
	else if ((had || logged) && size != 0) {
		saved_errno = errno; /* the allocator's ENOMEM */
		/* failed: the old block is still live */
		if (had)
			unforget(p, &old);
		else
			log_unfree((uintptr_t)p, logged - 1);
		errno = saved_errno;
	}
	return q;
}

static __attribute__((noinline)) void *realloc_traced(void *p, size_t size)
{
	resolve();
	if (p && in_arena(p)) {
		void *q = malloc(size);
		if (q)
			memcpy(q, p, arena_size(p) < size ? arena_size(p) : size);
		return q;
	}
	if (!real.realloc)
		return p ? NULL : arena_alloc(size);
	return realloc_common(p, size);
}

/* An unsampled block moved or grown into an unsampled one, with the next
 * allocator's realloc semantics whole (size 0 takes the traced path). */
EXPORT void *realloc(void *p, size_t size)
{
	if (sampling_on() && size && (!p || unsampled_block(p)) && sample_skip(size))
		return real.realloc(p, size);
	return realloc_traced(p, size);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	resolve();
	int err = NEXT(real.posix_memalign(out, align, size));
	if (err == 0)
		record_alloc(*out, size); /* keeps errno */
	return err;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	resolve();
	void *p = NEXT(real.aligned_alloc(align, size));
	record_alloc(p, size);
	return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
	resolve();
	void *p = NEXT(real.memalign(align, size));
	record_alloc(p, size);
	return p;
}

EXPORT void *valloc(size_t size)
{
	resolve();
	void *p = NEXT(real.valloc(size));
	record_alloc(p, size);
	return p;
}

EXPORT void *pvalloc(size_t size)
{
	resolve();
	void *p = NEXT(real.pvalloc(size));
	record_alloc(p, size);
	return p;
}

/* _exit skips destructors: write the live-at-exit snapshot here. */
static __attribute__((noreturn)) void exit_now(int status, void (*fn)(int))
{
	ts.shared.busy++;
	agent_write_final(status);
	server_unlink();
	ts.shared.busy--;
	if (fn)
		fn(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

EXPORT void _exit(int status)
{
	resolve();
	exit_now(status, real.exit);
}

EXPORT void _Exit(int status)
{
	resolve();
	exit_now(status, real.Exit);
}

/* Only to keep the status for the live-at-exit snapshot, which the
 * agent's at_quick_exit handler writes. */
EXPORT void quick_exit(int status)
{
	resolve();
	agent_quick_exit(status);
	if (real.quick_exit)
		real.quick_exit(status);
	exit_now(status, real.Exit);
}

/* Only to remember the object it unloads (see modules_closed); the
 * destructors it runs allocate and free as the program does. */
EXPORT int dlclose(void *handle)
{
	resolve();
	if (!real.dlclose)
		return -1;
	struct retired_module m;
	/* Marked inside the agent around its own calls (a fork from a signal
	 * handler must know it interrupted them), not around dlclose, whose
	 * destructors allocate as the program does. */
	ts.shared.busy++;
	int closing = __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE) == CORE_READY &&
		      modules_closing(handle, &m);
	ts.shared.busy--;
	int r = real.dlclose(handle);
	if (closing && r == 0) {
		ts.shared.busy++;
		modules_closed(&m);
		ts.shared.busy--;
	}
	return r;
}

/* Only to know when a thread is in it (see find_stack_bounds). */
EXPORT int pthread_getattr_np(pthread_t thread, pthread_attr_t *attr)
{
	resolve();
	if (!real.getattr)
		return ENOSYS;
	ts.in_getattr++;
	int r = real.getattr(thread, attr);
	ts.in_getattr--;
	return r;
}

/*
 * For libheaptop-cxx.so, whose operator new and delete stand in front of
 * an allocator's own (see cxx.c).  It calls the allocator's operator new
 * between __heaptop_cxx_enter and __heaptop_cxx_leave, then tells the
 * block with __heaptop_alloc2, which charges it to the caller of new.  In
 * between, the allocator may call malloc itself (jemalloc's aligned
 * operator new calls its posix_memalign): that block is recorded, or not
 * sampled, as usual, and when it turns out to be (or to hold) the one new
 * returns, its record is moved to the caller of new (the sampling decision
 * kept: one per block; see __heaptop_alloc2).  Anything else in there (what a new_handler allocates or
 * frees, the std::bad_alloc the allocator throws) is the program's own.
 * In sampling mode every allocation in there takes the hooks' slow path,
 * which sees its address.  The shim does what enter and leave do itself,
 * on the state it shares with the agent (cxxabi.h), and in sampling mode
 * takes a block that holds no sample point and that the allocator did not
 * make through malloc off the countdown without telling it: these two
 * remain for a shim that has no shared state.
 */
EXPORT void __heaptop_cxx_enter(void)
{
	ts.shared.in_cxx++;
	ts.shared.cxx_inner = 0;
}

EXPORT void __heaptop_cxx_leave(void)
{
	ts.shared.in_cxx--;
}

/* The calling thread's state that the shim reads and writes itself. */
EXPORT struct heaptop_thread_shared *__heaptop_cxx_thread2(struct heaptop_shared *g)
{
	g->sampling = &sampling;
	g->filter = sampled_filter;
	return &ts.shared;
}

/* Around its own calls into the loader, which allocate for it. */
EXPORT void __heaptop_busy(int delta)
{
	ts.shared.busy += delta;
}

/* Take back block P's record R, removed from the map, as if never made. */
static void unrecord(uintptr_t p, const struct ptrmap_rec *r)
{
	if (agent_settings.sample)
		filter_add(p, -1);
	uint64_t bytes, blocks;
	block_weight(r->size, &bytes, &blocks);
	stacktab_charge(my_stripe(), r->stack, -bytes, -blocks, born_slot(r->tag));
	live_change(-(int64_t)bytes);
}

/* Take back block P's record entirely, as if never made. */
static void retract(void *p)
{
	struct ptrmap_rec r;
	ts.shared.busy++;
	int found = ptrmap_remove((uintptr_t)p, &r);
	if (found < 0)
		found = remove_forking((uintptr_t)p, &r, FORKLOG_RETRACT);
	if (found)
		unrecord((uintptr_t)p, &r);
	ts.shared.busy--;
}

/* Record P, sampled: its sampling decision was made already. */
static __attribute__((noinline)) void record_sampled(void *p, size_t size)
{
	record_block(p, size, 1);
}

/* Block P, which operator new returns, lies in M, made through malloc in
 * there: M's record moves to P, at the caller of new, as SIZE bytes. */
static __attribute__((noinline)) void cxx_alloc_inner(const struct cxx_made *m, void *p,
						      size_t size)
{
	int kept = m->kept;
	uintptr_t at = m->at;
	ts.shared.cxx_inner = 0;
	ts.cxx_nmade = 0;
	if (kept) {
		retract((void *)at);
		record_sampled(p, size);
	}
}

/* What an operator new may put around the block it returns from inside
 * malloc's, besides alignment: a header, a trailer. */
#define CXX_PADDING 256

/*
 * The block P of SIZE bytes (aligned to ALIGN, 0 for new's own) that
 * operator new returns may be one the allocator made in there through
 * malloc (the newest of those first).  Then it is recorded once, where
 * the program's delete tells it, with the size malloc was asked for: the
 * sampling decision was made on that size, and the heap holds that much.
 * So also when it lies inside one of those, after a header or an
 * alignment, with at most CXX_PADDING + ALIGN bytes of malloc's block
 * around it in all; a larger block (a slab, an arena, whose other blocks
 * new hands out later) stays the allocator's, and P is recorded on its
 * own, unless it is where that block starts: then it is that block, with
 * the size new was asked for.  Not sampled there, or none of them at all:
 * P's own record, or sampling decision.  An operator nested in another
 * one of the shim's (libstdc++'s new[] and nothrow new call new, which is
 * the shim's again) leaves the block it made to the outermost: recorded
 * once, at the caller of that one.
 */
EXPORT void __heaptop_alloc2(void *p, size_t size, size_t align)
{
	uintptr_t at = (uintptr_t)p;
	if (p && ts.shared.cxx_inner) {
		for (unsigned i = ts.cxx_nmade; i-- > 0;) {
			const struct cxx_made *m = &ts.cxx_made[i];
			if (at < m->at || at - m->at >= (m->size ? m->size : 1))
				continue;
			size_t head = at - m->at, room = m->size - head;
			int fits = size <= room && m->size - size <= CXX_PADDING + align;
			if (!fits && head != 0)
				continue;
			if (!ts.shared.in_cxx)
				cxx_alloc_inner(m, p, fits ? m->size : size);
			return;
		}
	}
	record_alloc(p, size);
}

static __attribute__((noinline)) void cxx_free_traced(void *p)
{
	if (!p || in_arena(p))
		return;
	int saved_errno = errno;
	struct ptrmap_rec r;
	forget(p, &r);
	errno = saved_errno;
}

/* As in free(): in sampling mode most blocks were never sampled, and this
 * returns at once, before any frame. */
EXPORT void __heaptop_free(void *p)
{
	if (sampling_on() && unsampled_block(p))
		return;
	cxx_free_traced(p);
}

/* CODE lies in libheaptop-cxx.so: walks drop its frames as the agent's. */
EXPORT void __heaptop_cxx_loaded(const void *code)
{
	ts.shared.busy++;
	modules_cxx_loaded((uintptr_t)code);
	ts.shared.busy--;
}

/* Entry E, an ALLOC, into the tables. */
static void apply_alloc(const struct forklog_entry *e, unsigned stripe)
{
	struct ptrmap_rec r = { e->size, e->stack, e->tag }, old;
	if (e->stack == FORKLOG_NEW_STACK)
		r.stack = stacktab_intern_held(forklog_entry_pcs(e), e->depth);
	int ins = ptrmap_insert_held(e->p, &r, &old);
	if (ins < 0) {
		uint64_t bytes, blocks;
		block_weight(r.size, &bytes, &blocks);
		stacktab_untracked(stripe, bytes, blocks);
	} else {
		if (ins == 1)
			credit(stripe, &old);
		charge(stripe, &r);
	}
	/* The hook counted it in the sampling filter already. */
	if (ins != 0 && agent_settings.sample)
		filter_add(e->p, -1);
}

void hooks_fork_apply(int child)
{
	uint32_t n = forklog_stop();
	unsigned stripe = my_stripe();
	for (uint32_t i = 0; i < n; i++) {
		enum forklog_kind kind;
		/* The child has none of the other threads: what they had not
		 * finished writing is lost with them. */
		struct forklog_entry *e = forklog_entry(i, !child, &kind), *f;
		struct ptrmap_rec r;
		if (!e)
			continue;
		switch (kind) {
		case FORKLOG_ALLOC:
			apply_alloc(e, stripe);
			break;
		case FORKLOG_FREE:
			if (ptrmap_remove_held(e->p, &r) == 1) {
				count_freed(stripe, e->p, &r);
				/* For an UNFREE after it. */
				e->size = r.size;
				e->stack = r.stack;
				e->tag = (uint8_t)r.tag;
				e->found = 1;
			}
			break;
		case FORKLOG_RETRACT:
			if (ptrmap_remove_held(e->p, &r) == 1)
				unrecord(e->p, &r);
			break;
		case FORKLOG_UNFREE:
			f = e->size < i ? forklog_entry((uint32_t)e->size, 0, &kind) : NULL;
			if (f && kind == FORKLOG_FREE && f->found) {
				struct forklog_entry back = *f;
				back.p = e->p;
				apply_alloc(&back, stripe);
				if (agent_settings.sample)
					filter_add(e->p, 1);
			}
			break;
		}
	}
}

__attribute__((constructor)) static void hooks_init(void)
{
	main_thread = pthread_self();
	ts.shared.busy++;
	resolve();
	if (!core_ready)
		core_init();
	agent_process_init();
	ts.shared.busy--;
}
