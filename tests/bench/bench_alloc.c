/*
 * Synthetic allocation benchmark: THREADS threads, each doing OPS
 * malloc/free pairs over a live set of LIVE blocks (a slot chosen at
 * random is freed and refilled, so lifetimes are geometric), every
 * allocation made through one of STACKS distinct call stacks.
 *
 * A stack is a path through four mutually recursive functions d0..d3 (a
 * call from di to dj is its own call site, so the return addresses spell
 * the path), 6 to 9 levels below the first: 11 to 14 frames in all with
 * the thread's start, as deep as the stacks of a typical C program.  Each
 * site has its own typical size (see bench_size).
 *
 * Each thread does the same work whatever THREADS is, so the time per
 * thread shows how tracing scales as threads are added.  One thread is a
 * spawned thread too, so that every configuration has the same stacks.
 *
 * Build with frame pointers so that the agent's frame-pointer walker
 * applies (run.sh does this):
 *   gcc -O2 -g -fno-omit-frame-pointer -pthread bench_alloc.c -o bench_alloc
 * Run:
 *   ./bench_alloc [-t THREADS] [-n OPS] [-l LIVE] [-s STACKS]
 * Prints one line: the parameters and its own elapsed time (threads started
 * to threads joined), in seconds.  Not part of `make check`.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_FRAME __attribute__((noipa))
#else
#define BENCH_FRAME __attribute__((noinline))
#endif

/* Keeps P alive past the call that made it: the call is then no tail call
 * and every level keeps its frame. */
#define BENCH_KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

#define MIN_LEVEL 6
#define MAX_STACKS (4u << (2 * MIN_LEVEL)) /* 4 depths x 4^6 paths: all distinct */

struct bench_params {
	unsigned threads;
	unsigned long ops;   /* malloc/free pairs per thread */
	unsigned long live;  /* live blocks per thread */
	unsigned stacks;     /* distinct allocation stacks */
};

struct bench_thread {
	const struct bench_params *p;
	uint64_t seed;
	pthread_t tid;
};

static void *d0(unsigned level, uint32_t path, size_t size);
static void *d1(unsigned level, uint32_t path, size_t size);
static void *d2(unsigned level, uint32_t path, size_t size);
static void *d3(unsigned level, uint32_t path, size_t size);

static BENCH_FRAME void *bench_leaf(size_t size)
{
	char *p = malloc(size);
	if (p)
		p[0] = 1; /* touch it, as a program would */
	BENCH_KEEP(p);
	return p;
}

/* Each level calls one of d0..d3 by the low two bits of PATH. */
#define BENCH_LEVEL(name)                                                    \
	static BENCH_FRAME void *name(unsigned level, uint32_t path, size_t size) \
	{                                                                      \
		void *p;                                                       \
		if (level == 0)                                                \
			p = bench_leaf(size);                                  \
		else if ((path & 3) == 0)                                      \
			p = d0(level - 1, path >> 2, size);                    \
		else if ((path & 3) == 1)                                      \
			p = d1(level - 1, path >> 2, size);                    \
		else if ((path & 3) == 2)                                      \
			p = d2(level - 1, path >> 2, size);                    \
		else                                                           \
			p = d3(level - 1, path >> 2, size);                    \
		BENCH_KEEP(p);                                                 \
		return p;                                                      \
	}
BENCH_LEVEL(d0)
BENCH_LEVEL(d1)
BENCH_LEVEL(d2)
BENCH_LEVEL(d3)

/* Allocate SIZE bytes through stack number ID (< MAX_STACKS): depth
 * MIN_LEVEL + ID % 4, path ID / 4. */
static void *bench_alloc_via(uint32_t id, size_t size)
{
	return d0(MIN_LEVEL + (id & 3), id >> 2, size);
}

/* xorshift64*: deterministic, so runs are comparable. */
static uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* The size of one allocation through stack ID: each site has its own
 * typical size (16..511 bytes; 1..4 KiB for one site in sixteen) and varies
 * it a little, by up to 24 bytes, as programs do.  Few sizes per site also
 * keep heaptrack 1.4 working: its interpreter runs out of memory once a
 * run has about a million distinct (size, stack) pairs. */
static size_t bench_size(uint32_t id, uint64_t r)
{
	uint32_t h = id * UINT32_C(2654435761);
	size_t base = (h >> 28) == 0 ? 1024 + (h >> 12) % 3072 : 16 + (h >> 20) % 496;
	return base + (size_t)((r >> 40) & 3) * 8;
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	const struct bench_params *p = t->p;
	void **ring = calloc(p->live, sizeof *ring);
	if (!ring)
		return NULL;
	uint64_t s = t->seed;
	/* The first LIVE rounds fill the ring; one call site for both, so that
	 * there are STACKS stacks, not twice as many. */
	for (unsigned long i = 0; i < p->live + p->ops; i++) {
		uint64_t r = bench_rand(&s);
		unsigned long slot = i < p->live ? i : (unsigned long)((r >> 16) % p->live);
		uint32_t id = (uint32_t)(r % p->stacks);
		free(ring[slot]);
		ring[slot] = bench_alloc_via(id, bench_size(id, r));
	}
	for (unsigned long i = 0; i < p->live; i++)
		free(ring[i]);
	free(ring);
	return NULL;
}

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long bench_arg(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench_alloc: bad number %s (%lu..%lu)\n", s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct bench_params p = { .threads = 1, .ops = 1000000, .live = 10000, .stacks = 4096 };
	int opt;
	while ((opt = getopt(argc, argv, "t:n:l:s:")) != -1) {
		switch (opt) {
		case 't': p.threads = (unsigned)bench_arg(optarg, 1, 256); break;
		case 'n': p.ops = bench_arg(optarg, 0, 1ul << 40); break;
		case 'l': p.live = bench_arg(optarg, 1, 1ul << 30); break;
		case 's': p.stacks = (unsigned)bench_arg(optarg, 1, MAX_STACKS); break;
		default:
			fprintf(stderr, "usage: bench_alloc [-t THREADS] [-n OPS] [-l LIVE] "
					"[-s STACKS]\n");
			return 2;
		}
	}
	struct bench_thread *t = calloc(p.threads, sizeof *t);
	if (!t)
		return 1;
	double t0 = bench_now();
	for (unsigned i = 0; i < p.threads; i++) {
		t[i].p = &p;
		t[i].seed = UINT64_C(0x9e3779b97f4a7c15) * (i + 1);
		if (pthread_create(&t[i].tid, NULL, bench_thread_main, &t[i]) != 0) {
			fprintf(stderr, "bench_alloc: cannot start a thread\n");
			return 1;
		}
	}
	for (unsigned i = 0; i < p.threads; i++)
		pthread_join(t[i].tid, NULL);
	double elapsed = bench_now() - t0;
	/* Wall time per operation of one thread: flat as threads are added
	 * while they fit on the cores. */
	printf("bench_alloc threads=%u ops=%lu live=%lu stacks=%u elapsed_s=%.4f "
	       "ns_per_op=%.1f\n",
	       p.threads, p.ops, p.live, p.stacks, elapsed,
	       elapsed * 1e9 / (double)(p.ops + p.live));
	free(t);
	return 0;
}
