/*
 * libheaptop-cxx.so: C++ operator new and delete for a program whose
 * allocator defines its own (jemalloc, tcmalloc).  Those serve C++ objects
 * without calling malloc, so the agent would never see them.  Preloaded
 * beside the agent, these operators come before the allocator's in the
 * program's global scope: each calls the allocator's own (the next
 * definition, found once with dlsym(RTLD_NEXT)) and tells the agent.
 *
 * heaptop preloads this only where the program's scope has such an
 * operator new at start-up (see src/viewer/cxxshim.c), but the programs it
 * runs inherit LD_PRELOAD.  There it stands in front of libstdc++'s, which
 * calls malloc (still exact, only slower: the agent takes the inner record
 * back), or, in a C program that later loads a C++ plugin on its own, in
 * front of no operator new at all: then it calls the one its caller's own
 * scope has (caller_next).
 *
 * Written in C with the mangled names (x86-64: size_t is 'm',
 * std::align_val_t an enum of size_t); built with unwind tables, so that
 * std::bad_alloc thrown by the allocator's operator new passes through.
 */
#include "config.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/cxxabi.h"

#define EXPORT __attribute__((visibility("default")))

#define OPERATORS(X)                                      \
	X(NEW, "_Znwm")                                   \
	X(NEW_ARRAY, "_Znam")                             \
	X(NEW_NOTHROW, "_ZnwmRKSt9nothrow_t")             \
	X(NEW_ARRAY_NOTHROW, "_ZnamRKSt9nothrow_t")       \
	X(NEW_ALIGN, "_ZnwmSt11align_val_t")              \
	X(NEW_ARRAY_ALIGN, "_ZnamSt11align_val_t")        \
	X(NEW_ALIGN_NOTHROW, "_ZnwmSt11align_val_tRKSt9nothrow_t") \
	X(NEW_ARRAY_ALIGN_NOTHROW, "_ZnamSt11align_val_tRKSt9nothrow_t") \
	X(DEL, "_ZdlPv")                                  \
	X(DEL_ARRAY, "_ZdaPv")                            \
	X(DEL_SIZED, "_ZdlPvm")                           \
	X(DEL_ARRAY_SIZED, "_ZdaPvm")                     \
	X(DEL_NOTHROW, "_ZdlPvRKSt9nothrow_t")            \
	X(DEL_ARRAY_NOTHROW, "_ZdaPvRKSt9nothrow_t")      \
	X(DEL_ALIGN, "_ZdlPvSt11align_val_t")             \
	X(DEL_ARRAY_ALIGN, "_ZdaPvSt11align_val_t")       \
	X(DEL_SIZED_ALIGN, "_ZdlPvmSt11align_val_t")      \
	X(DEL_ARRAY_SIZED_ALIGN, "_ZdaPvmSt11align_val_t") \
	X(DEL_ALIGN_NOTHROW, "_ZdlPvSt11align_val_tRKSt9nothrow_t") \
	X(DEL_ARRAY_ALIGN_NOTHROW, "_ZdaPvSt11align_val_tRKSt9nothrow_t")

#define ENUM(id, name) OP_##id,
#define NAME(id, name) name,
enum op { OPERATORS(ENUM) OP_COUNT };
static const char *const op_names[OP_COUNT] = { OPERATORS(NAME) };

static void *next_op[OP_COUNT];
static void (*agent_alloc)(void *, size_t, size_t);
static void (*agent_free)(void *);
static void (*agent_enter)(void), (*agent_leave)(void);
static void (*agent_busy)(int);
static struct heaptop_thread_shared *(*agent_thread)(struct heaptop_shared *);
static int resolved;

/* The loader allocates for us: not the program's blocks. */
static void busy(int delta)
{
	void (*f)(int) = __atomic_load_n(&agent_busy, __ATOMIC_RELAXED);
	if (f)
		f(delta);
}

/* Once, from the constructor, or from the first operator called before
 * it (another library's constructor): after that, no dlsym in an
 * operator, which would take the loader's lock and clear dlerror(). */
static void resolve(void)
{
	__atomic_store_n(&agent_busy, (void (*)(int))dlsym(RTLD_DEFAULT, "__heaptop_busy"),
			 __ATOMIC_RELAXED);
	busy(1);
	for (int i = 0; i < OP_COUNT; i++)
		__atomic_store_n(&next_op[i], dlsym(RTLD_NEXT, op_names[i]), __ATOMIC_RELAXED);
	void (*loaded)(const void *) = (void (*)(const void *))dlsym(RTLD_DEFAULT,
								   "__heaptop_cxx_loaded");
	if (loaded) {
		/* Before the first block is told: the walks drop our frames. */
		loaded((const void *)&resolve);
		__atomic_store_n(&agent_alloc, (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT,
						"__heaptop_alloc2"), __ATOMIC_RELAXED);
		__atomic_store_n(&agent_free, (void (*)(void *))dlsym(RTLD_DEFAULT,
						"__heaptop_free"), __ATOMIC_RELAXED);
		__atomic_store_n(&agent_enter, (void (*)(void))dlsym(RTLD_DEFAULT,
						"__heaptop_cxx_enter"), __ATOMIC_RELAXED);
		__atomic_store_n(&agent_leave, (void (*)(void))dlsym(RTLD_DEFAULT,
						"__heaptop_cxx_leave"), __ATOMIC_RELAXED);
		__atomic_store_n(&agent_thread,
				 (struct heaptop_thread_shared * (*)(struct heaptop_shared *))dlsym(
					 RTLD_DEFAULT, HEAPTOP_CXX_THREAD),
				 __ATOMIC_RELAXED);
	}
	busy(-1);
	__atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void cxx_init(void)
{
	if (!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
		resolve();
}

/*
 * No operator after ours in the global scope: a C program (a child of the
 * traced program, which inherited LD_PRELOAD) whose C++ plugin, loaded
 * RTLD_LOCAL, calls new.  The operator the caller would have bound to
 * without us is in its object's own scope (its libstdc++): found there,
 * with every other missing one from the same object (libstdc++'s new[]
 * tail-calls new, which then seems to be called from here), and kept,
 * with a reference to the object that defines them (never to the
 * caller's, which dlclose must still be able to unload).
 */
static void *caller_next_busy(enum op op, const void *caller)
{
	Dl_info di, fi, self;
	if (!caller || !dladdr(caller, &di) || !di.dli_fname || !di.dli_fname[0] ||
	    !dladdr((const void *)&resolve, &self) || di.dli_fbase == self.dli_fbase)
		return NULL;
	void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	void *f = dlsym(h, op_names[op]), *owner = NULL;
	if (f && dladdr(f, &fi) && fi.dli_fname && fi.dli_fbase != self.dli_fbase)
		owner = dlopen(fi.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	dlclose(h);
	if (!owner)
		return NULL;
	int kept = 0;
	for (int i = 0; i < OP_COUNT; i++) {
		void *g = dlsym(owner, op_names[i]), *none = NULL;
		if (g && dladdr(g, &fi) && fi.dli_fbase != self.dli_fbase)
			kept |= __atomic_compare_exchange_n(&next_op[i], &none, g, 0,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	if (!kept)
		dlclose(owner); /* another thread found them first */
	return __atomic_load_n(&next_op[op], __ATOMIC_RELAXED);
}

static void *caller_next(enum op op, const void *caller)
{
	busy(1);
	void *f = caller_next_busy(op, caller);
	busy(-1);
	return f;
}

/* The operator OP to call when it is not known yet. */
static __attribute__((noinline, cold)) void *next_slow(enum op op, const void *caller)
{
	if (!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
		resolve();
	void *f = __atomic_load_n(&next_op[op], __ATOMIC_RELAXED);
	return f ? f : caller_next(op, caller);
}

/* The operator OP to call for a caller at CALLER: two loads, inline in
 * every operator (with the look-ups above in it, it took a frame of 150
 * bytes and six saved registers a call). */
static inline __attribute__((always_inline)) void *next(enum op op, const void *caller)
{
	void *f = __atomic_load_n(&next_op[op], __ATOMIC_RELAXED);
	if (__builtin_expect(f && __atomic_load_n(&resolved, __ATOMIC_ACQUIRE), 1))
		return f;
	return next_slow(op, caller);
}

/*
 * The thread's state the shim shares with the agent (cxxabi.h), asked for
 * once per thread: the marks around the allocator's operator, and in
 * sampling mode the countdown, without calls into the agent.
 */
static __thread struct heaptop_thread_shared *my_state;
static struct heaptop_shared agent_shared; /* set with the first my_state */

static __attribute__((noinline)) struct heaptop_thread_shared *thread_state_first(void)
{
	struct heaptop_thread_shared *(*f)(struct heaptop_shared *) =
		__atomic_load_n(&agent_thread, __ATOMIC_RELAXED);
	struct heaptop_shared g;
	struct heaptop_thread_shared *t = f ? f(&g) : NULL;
	if (!t)
		return NULL;
	/* The same every time; set before this thread's my_state, which a
	 * signal handler on this thread may read as soon as it is set. */
	__atomic_store_n(&agent_shared.filter, g.filter, __ATOMIC_RELAXED);
	__atomic_store_n(&agent_shared.sampling, g.sampling, __ATOMIC_RELEASE);
	__atomic_store_n(&my_state, t, __ATOMIC_RELEASE);
	return t;
}

/* This thread's shared state; NULL without an agent that shares it. */
static inline struct heaptop_thread_shared *thread_state(void)
{
	struct heaptop_thread_shared *t = __atomic_load_n(&my_state, __ATOMIC_ACQUIRE);
	return __builtin_expect(t != NULL, 1) ? t : thread_state_first();
}

/* Whether the agent samples (read once a thread state was given). */
static inline int sampling_on(void)
{
	const int *on = __atomic_load_n(&agent_shared.sampling, __ATOMIC_ACQUIRE);
	return __atomic_load_n(on, __ATOMIC_ACQUIRE);
}

/*
 * The allocator's operator new is called with the thread marked as inside
 * it (what __heaptop_cxx_enter and __heaptop_cxx_leave do, inline here),
 * so that the agent knows what the allocator allocates itself through
 * malloc (see hooks.c).  An exception thrown by it passes through this
 * frame: built with -fexceptions, the cleanup leaves then too.
 */
struct inside {
	struct heaptop_thread_shared *t;
	void (*leave)(void); /* without a shared state: the agent's calls */
};

static inline struct inside inside_enter(void)
{
	struct inside in = { thread_state(), NULL };
	if (__builtin_expect(in.t != NULL, 1)) {
		in.t->in_cxx++;
		in.t->cxx_inner = 0;
		return in;
	}
	void (*enter)(void) = __atomic_load_n(&agent_enter, __ATOMIC_RELAXED);
	in.leave = __atomic_load_n(&agent_leave, __ATOMIC_RELAXED);
	if (enter && in.leave)
		enter();
	else
		in.leave = NULL;
	return in;
}

static inline void inside_leave(struct inside *in)
{
	if (__builtin_expect(in->t != NULL, 1))
		in->t->in_cxx--;
	else if (in->leave)
		in->leave();
}

#define INSIDE struct inside inside_ __attribute__((cleanup(inside_leave))) = inside_enter()

/*
 * Block P of SIZE bytes was made by the allocator's operator (T: the
 * thread's shared state, or NULL).  In sampling mode most blocks hold no
 * sample point: when no hook saw anything in there (cxx_inner: the block
 * the allocator made through malloc, which P may be or lie in, or that an
 * operator nested in this one, such as libstdc++'s new[] calling new,
 * told), its bytes come off the countdown here, with no call.  Anything
 * else goes to the agent, which records it, or moves the inner block's
 * record to the caller of the outermost new.
 */
static inline void tell_alloc(struct heaptop_thread_shared *t, void *p, size_t size,
			      size_t align)
{
	void (*f)(void *, size_t, size_t) = __atomic_load_n(&agent_alloc, __ATOMIC_RELAXED);
	if (!p || !f)
		return;
	if (t && !t->cxx_inner && sampling_on() && heaptop_sample_skip(t, size))
		return;
	f(p, size, align);
}

/* The block at P is being deleted: the agent need not hear of it when
 * sampling says it was never sampled (no call, as in the agent's free). */
static void tell_free(void *p)
{
	void (*f)(void *) = __atomic_load_n(&agent_free, __ATOMIC_RELAXED);
	if (!p || !f)
		return;
	if (thread_state() && sampling_on() &&
	    !heaptop_maybe_sampled(__atomic_load_n(&agent_shared.filter, __ATOMIC_RELAXED),
				   (uintptr_t)p))
		return;
	f(p);
}

/* No operator new to call at all (the caller's scope has none either):
 * the C library's allocator, as libstdc++'s operator new would; a
 * failure the caller cannot be told of with an exception ends it. */
static void *fallback_new(size_t size, size_t align, int nothrow)
{
	void *p = NULL;
	if (align <= sizeof(max_align_t))
		p = malloc(size ? size : 1);
	else if (posix_memalign(&p, align, size ? size : 1) != 0)
		p = NULL;
	if (!p && !nothrow) {
		static const char msg[] = "libheaptop-cxx.so: out of memory in operator new, "
					  "and no operator new to throw std::bad_alloc\n";
		(void)!write(2, msg, sizeof msg - 1);
		abort();
	}
	return p;
}

/*
 * In sampling mode most blocks hold no sample point, and then the shim
 * has nothing to do but take their bytes off the countdown: each operator
 * does that first and tail-calls the allocator's, with no frame of its
 * own (the frame, the marks around the call and the tell after it cost
 * cppcheck 5 % of its run on jemalloc, 7 % on tcmalloc).  That is only
 * right where the allocator's operator makes nothing through the hooks,
 * which would take bytes off the countdown again and record the block at
 * the allocator's frames (libstdc++'s operator new calls malloc,
 * jemalloc's aligned one posix_memalign, an operator with a header in
 * front of malloc's block returns another address).  So each operator new
 * goes the long way first, where the agent notes whatever the hooks saw in
 * there (cxx_inner): after FAST_AFTER calls that made nothing through
 * them, that operator takes the short way; any long-way call that did,
 * among the first or a later one (a block with a sample point still goes
 * the long way), keeps it on the long way for good.  An operator that
 * turns to malloc only later (for larger sizes, or jemalloc's retry after
 * a new_handler) has the blocks it made so on the short way before that
 * counted twice towards the next sample point.  Deletes of a block the
 * filter says was never sampled take the short way too.
 */
#define FAST_AFTER 64
static int fast_calls[OP_COUNT]; /* long-way calls seen, or -1: never short */

/* What the long way saw: operator OP returned P with T's marks just
 * cleared (cxx_inner: what the hooks saw in there). */
static void learn(enum op op, const struct heaptop_thread_shared *t, const void *p)
{
	int n = __atomic_load_n(&fast_calls[op], __ATOMIC_RELAXED);
	if (n < 0 || !t)
		return;
	if (t->cxx_inner)
		__atomic_store_n(&fast_calls[op], -1, __ATOMIC_RELAXED);
	else if (p && n < FAST_AFTER) /* a lost race loses a count, never the -1 */
		__atomic_compare_exchange_n(&fast_calls[op], &n, n + 1, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
}

/* The next operator new OP when the short way applies to a block of SIZE
 * bytes (its bytes then off the countdown), else NULL.  This thread's
 * state exists only once resolve() has stored every next operator. */
static inline void *next_short(enum op op, size_t size)
{
	void *f = __atomic_load_n(&next_op[op], __ATOMIC_RELAXED);
	struct heaptop_thread_shared *t = __atomic_load_n(&my_state, __ATOMIC_ACQUIRE);
	if (f && t && __atomic_load_n(&fast_calls[op], __ATOMIC_RELAXED) >= FAST_AFTER &&
	    sampling_on() && heaptop_sample_skip(t, size))
		return f;
	return NULL;
}

/* The same for operator delete OP of block P. */
static inline void *next_short_delete(enum op op, const void *p)
{
	void *f = __atomic_load_n(&next_op[op], __ATOMIC_RELAXED);
	if (f && __atomic_load_n(&my_state, __ATOMIC_ACQUIRE) && sampling_on() &&
	    !heaptop_maybe_sampled(__atomic_load_n(&agent_shared.filter, __ATOMIC_RELAXED),
				   (uintptr_t)p))
		return f;
	return NULL;
}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_align_fn)(size_t, size_t);
typedef void *(*new_align_nothrow_fn)(size_t, size_t, const void *);

#define UNPAREN(...) __VA_ARGS__

/* Operator new SYM (OP, of type TYPE) with parameters PARAMS, called with
 * ARGS, for ALIGNMENT (0: new's own); FALLBACK when there is no next
 * operator.  The long way is a function of its own, tail-called with the
 * caller's address. */
#define NEW(sym, op, type, params, args, alignment, fallback)                      \
	static __attribute__((noinline)) void *sym##_long(const void *caller,      \
							  UNPAREN params)          \
	{                                                                          \
		type f = (type)next(op, caller);                                   \
		void *p;                                                           \
		struct heaptop_thread_shared *t;                                   \
		{                                                                  \
			INSIDE;                                                    \
			t = inside_.t;                                             \
			p = f ? f args : fallback;                                 \
		}                                                                  \
		learn(op, t, p);                                                   \
		tell_alloc(t, p, size, alignment);                                 \
		return p;                                                          \
	}                                                                          \
	EXPORT void *sym params;                                                   \
	void *sym params                                                           \
	{                                                                          \
		type f = (type)next_short(op, size);                               \
		if (f)                                                             \
			return f args;                                             \
		return sym##_long(__builtin_return_address(0), UNPAREN args);      \
	}

NEW(_Znwm, OP_NEW, new_fn, (size_t size), (size), 0, fallback_new(size, 0, 0))
NEW(_Znam, OP_NEW_ARRAY, new_fn, (size_t size), (size), 0, fallback_new(size, 0, 0))
NEW(_ZnwmRKSt9nothrow_t, OP_NEW_NOTHROW, new_nothrow_fn, (size_t size, const void *nt),
    (size, nt), 0, fallback_new(size, 0, 1))
NEW(_ZnamRKSt9nothrow_t, OP_NEW_ARRAY_NOTHROW, new_nothrow_fn, (size_t size, const void *nt),
    (size, nt), 0, fallback_new(size, 0, 1))
NEW(_ZnwmSt11align_val_t, OP_NEW_ALIGN, new_align_fn, (size_t size, size_t align),
    (size, align), align, fallback_new(size, align, 0))
NEW(_ZnamSt11align_val_t, OP_NEW_ARRAY_ALIGN, new_align_fn, (size_t size, size_t align),
    (size, align), align, fallback_new(size, align, 0))
NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, OP_NEW_ALIGN_NOTHROW, new_align_nothrow_fn,
    (size_t size, size_t align, const void *nt), (size, align, nt), align,
    fallback_new(size, align, 1))
NEW(_ZnamSt11align_val_tRKSt9nothrow_t, OP_NEW_ARRAY_ALIGN_NOTHROW, new_align_nothrow_fn,
    (size_t size, size_t align, const void *nt), (size, align, nt), align,
    fallback_new(size, align, 1))

/* Every operator delete: the block is forgotten before the allocator gets
 * it back (another thread may be handed the address at once), then passed
 * on with the arguments it came with; free() when there is no next one
 * (the block then came from fallback_new). */
#define DELETE(sym, op, params, args)                                              \
	static __attribute__((noinline)) void sym##_long(const void *caller,       \
							 UNPAREN params)           \
	{                                                                          \
		tell_free(p);                                                      \
		void (*f) params = (void (*) params)next(op, caller);              \
		if (f)                                                             \
			f args;                                                    \
		else                                                               \
			free(p);                                                   \
	}                                                                          \
	EXPORT void sym params;                                                    \
	void sym params                                                            \
	{                                                                          \
		void (*f) params = (void (*) params)next_short_delete(op, p);      \
		if (f)                                                             \
			f args;                                                    \
		else                                                               \
			sym##_long(__builtin_return_address(0), UNPAREN args);     \
	}

DELETE(_ZdlPv, OP_DEL, (void *p), (p))
DELETE(_ZdaPv, OP_DEL_ARRAY, (void *p), (p))
DELETE(_ZdlPvm, OP_DEL_SIZED, (void *p, size_t n), (p, n))
DELETE(_ZdaPvm, OP_DEL_ARRAY_SIZED, (void *p, size_t n), (p, n))
DELETE(_ZdlPvRKSt9nothrow_t, OP_DEL_NOTHROW, (void *p, const void *nt), (p, nt))
DELETE(_ZdaPvRKSt9nothrow_t, OP_DEL_ARRAY_NOTHROW, (void *p, const void *nt), (p, nt))
DELETE(_ZdlPvSt11align_val_t, OP_DEL_ALIGN, (void *p, size_t a), (p, a))
DELETE(_ZdaPvSt11align_val_t, OP_DEL_ARRAY_ALIGN, (void *p, size_t a), (p, a))
DELETE(_ZdlPvmSt11align_val_t, OP_DEL_SIZED_ALIGN, (void *p, size_t n, size_t a), (p, n, a))
DELETE(_ZdaPvmSt11align_val_t, OP_DEL_ARRAY_SIZED_ALIGN, (void *p, size_t n, size_t a),
       (p, n, a))
DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, OP_DEL_ALIGN_NOTHROW,
       (void *p, size_t a, const void *nt), (p, a, nt))
DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, OP_DEL_ARRAY_ALIGN_NOTHROW,
       (void *p, size_t a, const void *nt), (p, a, nt))
