/*
 * wl_threads: many threads allocating at once, blocks freed by another
 * thread than the one that allocated them, and threads that come and go.
 *
 *   wl_threads hold   run; "ready"; wait; free the kept blocks; "ready";
 *                     wait; exit 0
 *   wl_threads exit   run and exit(0) with the kept blocks live
 *   wl_threads exit-small
 *                     the same, exit(0) called by a thread with the
 *                     smallest stack allowed (PTHREAD_STACK_MIN): the
 *                     live-at-exit snapshot is written on that stack
 *   wl_threads small-stack
 *                     a thread with PTHREAD_STACK_MIN of stack uses 5000
 *                     bytes of it, then keeps SMALL_KEEP blocks of 100
 *                     bytes (site_small_stack); exit 0 with them live
 *                     (the agent's per-thread memory must not come out
 *                     of that stack)
 *   wl_threads coroutine
 *                     a ucontext coroutine on a malloc'd stack keeps 5
 *                     blocks of 300 bytes (site_coroutine); exit 0 with
 *                     them live
 *   wl_threads getattr
 *                     main's first allocation is the one
 *                     pthread_getattr_np makes while it holds the
 *                     thread's lock (as Rust's runtime does at start), and
 *                     so is a new thread's; then each keeps GETATTR_KEEP
 *                     blocks of GETATTR_SIZE bytes (site_getattr) and
 *                     main exits with them live: 2048 B in 32 blocks
 *
 * NTHREADS workers form a ring: worker i allocates NALLOC blocks into
 * ring[i] (site_thread_churn) while it frees what worker i-1 put into
 * ring[i-1], so every block is freed by the thread after the one that
 * allocated it.  Each worker also keeps KEEP blocks of KEEP_SIZE bytes
 * (site_thread_keep).  Meanwhile main starts SHORT_THREADS short-lived
 * threads, a few at a time; each allocates SHORT_ALLOC blocks of SHORT_SIZE
 * bytes (site_short_thread), frees SHORT_FREE of them and leaves the rest
 * to main before it exits.  Expected at the ready point:
 *
 *   site_thread_churn  live 0 B in 0 blocks; total 1 600 000 blocks and
 *                      428 800 000 B (per worker: NALLOC blocks of
 *                      16 + (n % 64) * 8 bytes, n = 0..NALLOC-1)
 *   site_thread_keep   live 8000 B in 80 blocks
 *   site_short_thread  live 20480 B in 640 blocks; total 51200 B, 1600 blocks
 */
#define _GNU_SOURCE /* pthread_getattr_np */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "wl.h"


#define NTHREADS 8
#define NALLOC 200000
#define RING_SIZE 1024 /* a power of two */
#define KEEP 10
#define KEEP_SIZE 100
#define SHORT_THREADS 16
#define SHORT_WAVE 4 /* short threads alive at once */
#define SHORT_ALLOC 100
#define SHORT_FREE 60
#define SHORT_SIZE 32
#define GETATTR_KEEP 16
#define GETATTR_SIZE 64

/* Single-producer single-consumer ring of blocks waiting to be freed. */
struct ring {
	_Alignas(64) atomic_size_t head; /* next slot the producer fills */
	_Alignas(64) atomic_size_t tail; /* next slot the consumer empties */
	atomic_int done;                 /* the producer has finished */
	void *slot[RING_SIZE];
};

static struct ring rings[NTHREADS];
static void *kept[NTHREADS][KEEP];
static void *short_kept[SHORT_THREADS][SHORT_ALLOC - SHORT_FREE];

/* Free one block from R if there is one; returns whether it did. */
static int ring_pop_free(struct ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail == atomic_load_explicit(&r->head, memory_order_acquire))
		return 0;
	free(r->slot[tail % RING_SIZE]);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 1;
}

/* Put P into OUT; while OUT is full, keep freeing from IN so that the
 * ring of workers can never wait on itself. */
static void ring_push(struct ring *out, struct ring *in, void *p)
{
	size_t head = atomic_load_explicit(&out->head, memory_order_relaxed);

	while (head - atomic_load_explicit(&out->tail, memory_order_acquire) == RING_SIZE) {
		if (!ring_pop_free(in))
			sched_yield();
	}
	out->slot[head % RING_SIZE] = p;
	atomic_store_explicit(&out->head, head + 1, memory_order_release);
}

WL_SITE static void *site_thread_churn(size_t n)
{
	void *p = malloc(16 + (n % 64) * 8);

	WL_CHECK(p != NULL);
	memset(p, (int)n, 16);
	return p;
}

WL_SITE static void site_thread_keep(int worker)
{
	for (int i = 0; i < KEEP; i++) {
		kept[worker][i] = malloc(KEEP_SIZE);
		WL_CHECK(kept[worker][i] != NULL);
	}
}

static void *worker_main(void *arg)
{
	int i = (int)(long)arg;
	struct ring *out = &rings[i];
	struct ring *in = &rings[(i + NTHREADS - 1) % NTHREADS];

	for (size_t n = 0; n < NALLOC; n++) {
		ring_push(out, in, site_thread_churn(n));
		ring_pop_free(in);
	}
	atomic_store_explicit(&out->done, 1, memory_order_release);
	site_thread_keep(i);
	/* Drain until the previous worker is done and its ring is empty. */
	for (;;) {
		int done = atomic_load_explicit(&in->done, memory_order_acquire);
		if (ring_pop_free(in))
			continue;
		if (done)
			break;
		sched_yield();
	}
	return NULL;
}

WL_SITE static void site_short_thread(int t)
{
	void *blocks[SHORT_ALLOC];

	for (int i = 0; i < SHORT_ALLOC; i++) {
		blocks[i] = malloc(SHORT_SIZE);
		WL_CHECK(blocks[i] != NULL);
	}
	for (int i = 0; i < SHORT_FREE; i++)
		free(blocks[i]);
	memcpy(short_kept[t], blocks + SHORT_FREE, sizeof short_kept[t]);
}

static void *short_main(void *arg)
{
	site_short_thread((int)(long)arg);
	return NULL;
}

/* Start the short-lived threads in waves while the workers run. */
static void run_short_threads(void)
{
	pthread_t th[SHORT_WAVE];

	for (int t = 0; t < SHORT_THREADS; t += SHORT_WAVE) {
		for (int k = 0; k < SHORT_WAVE; k++)
			WL_CHECK(pthread_create(&th[k], NULL, short_main,
						(void *)(long)(t + k)) == 0);
		for (int k = 0; k < SHORT_WAVE; k++)
			WL_CHECK(pthread_join(th[k], NULL) == 0);
	}
}

static void run(void)
{
	pthread_t th[NTHREADS];

	for (int i = 0; i < NTHREADS; i++)
		WL_CHECK(pthread_create(&th[i], NULL, worker_main, (void *)(long)i) == 0);
	run_short_threads();
	for (int i = 0; i < NTHREADS; i++)
		WL_CHECK(pthread_join(th[i], NULL) == 0);
	for (int i = 0; i < NTHREADS; i++)
		WL_CHECK(atomic_load(&rings[i].head) == NALLOC &&
			 atomic_load(&rings[i].tail) == NALLOC);
}

static void free_kept(void)
{
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < KEEP; k++)
			free(kept[i][k]);
	for (int t = 0; t < SHORT_THREADS; t++)
		for (int k = 0; k < SHORT_ALLOC - SHORT_FREE; k++)
			free(short_kept[t][k]);
}

static void *exit_main(void *arg)
{
	exit(0);
}

/* Run FN in a thread with a stack as small as allowed, and join it. */
static void on_small_stack(void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t th;
	WL_CHECK(pthread_attr_init(&attr) == 0);
	WL_CHECK(pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN) == 0);
	WL_CHECK(pthread_create(&th, &attr, fn, NULL) == 0);
	WL_CHECK(pthread_join(th, NULL) == 0);
}

/* exit(0) from a thread with a stack as small as allowed. */
static void exit_on_small_stack(void)
{
	on_small_stack(exit_main);
	abort(); /* not reached: the thread ends the process */
}

/* Ask for this thread's attributes: glibc's pthread_getattr_np allocates
 * (the main thread's opens /proc/self/maps, every thread's has a CPU set)
 * while it holds the thread's lock. */
static void get_own_attributes(void)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	WL_CHECK(pthread_getattr_np(pthread_self(), &attr) == 0);
	WL_CHECK(pthread_attr_getstack(&attr, &addr, &size) == 0 && size > 0);
	WL_CHECK(pthread_attr_destroy(&attr) == 0);
}

#define SMALL_KEEP 10
#define SMALL_USE 5000

static void *small_kept[SMALL_KEEP];

WL_SITE static void site_small_stack(void)
{
	for (int i = 0; i < SMALL_KEEP; i++) {
		small_kept[i] = malloc(100);
		WL_CHECK(small_kept[i] != NULL);
	}
}

static void *small_main(void *arg)
{
	volatile char *use = __builtin_alloca(SMALL_USE);
	memset((char *)use, 1, SMALL_USE);
	site_small_stack();
	use[0] = 2;
	return arg;
}

static void run_small_stack(void)
{
	on_small_stack(small_main);
	exit(0);
}

static ucontext_t co_main, co_ctx;
static void *co_kept[5];

WL_SITE static void site_coroutine(void)
{
	for (int i = 0; i < 5; i++) {
		co_kept[i] = malloc(300);
		WL_CHECK(co_kept[i] != NULL);
	}
	WL_CHECK(swapcontext(&co_ctx, &co_main) == 0);
}

static void run_coroutine(void)
{
	size_t size = 64 * 1024;
	void *stack = malloc(size);
	WL_CHECK(stack != NULL);
	WL_CHECK(getcontext(&co_ctx) == 0);
	co_ctx.uc_stack.ss_sp = stack;
	co_ctx.uc_stack.ss_size = size;
	co_ctx.uc_link = &co_main;
	makecontext(&co_ctx, site_coroutine, 0);
	WL_CHECK(swapcontext(&co_main, &co_ctx) == 0);
	exit(0);
}

static void *getattr_kept[2][GETATTR_KEEP];

WL_SITE static void site_getattr(int who)
{
	for (int i = 0; i < GETATTR_KEEP; i++) {
		getattr_kept[who][i] = malloc(GETATTR_SIZE);
		WL_CHECK(getattr_kept[who][i] != NULL);
	}
}

static void *getattr_main(void *arg)
{
	get_own_attributes();
	site_getattr(1);
	return arg;
}

static void run_getattr(void)
{
	get_own_attributes();
	site_getattr(0);
	pthread_t th;
	WL_CHECK(pthread_create(&th, NULL, getattr_main, NULL) == 0);
	WL_CHECK(pthread_join(th, NULL) == 0);
	exit(0);
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	/* Before anything that could allocate. */
	if (argc == 2 && strcmp(argv[1], "getattr") == 0)
		run_getattr();
	if (argc == 2 && strcmp(argv[1], "small-stack") == 0)
		run_small_stack();
	if (argc == 2 && strcmp(argv[1], "coroutine") == 0)
		run_coroutine();
	if (argc < 2 || (strcmp(argv[1], "hold") != 0 && strcmp(argv[1], "exit") != 0 &&
			 strcmp(argv[1], "exit-small") != 0)) {
		wl_say("usage: wl_threads hold | exit | exit-small | getattr | small-stack | "
		       "coroutine");
		return 2;
	}
	run();
	if (strcmp(argv[1], "exit") == 0)
		exit(0);
	if (strcmp(argv[1], "exit-small") == 0)
		exit_on_small_stack();
	wl_ready("phase=done");
	wl_wait();
	free_kept();
	wl_ready("phase=freed");
	wl_wait();
	return 0;
}
