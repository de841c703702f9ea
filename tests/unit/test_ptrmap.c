/* Unit tests for the agent's pointer map, against a reference: every key
 * comes from a pool and the test remembers, for each, whether it is in the
 * map and with which record. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/forklog.h"
#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/ptrmap.h"

struct ref {
	uintptr_t *keys;
	struct ptrmap_rec *recs;
	unsigned char *in;
	size_t n;
	size_t live;
};

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: the test must not depend on libc's rand. */
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static int cmp_key(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* N distinct keys made like a heap's addresses: runs of neighbours (16 or
 * 8 bytes apart, so some share a hash) in a few regions, some 64 MiB
 * apart, plus scattered ones.  SALT makes disjoint pools for threads. */
static void pool_make(struct ref *r, size_t n, uint64_t seed, unsigned salt)
{
	r->keys = calloc(n, sizeof *r->keys);
	r->recs = calloc(n, sizeof *r->recs);
	r->in = calloc(n, 1);
	ck_assert(r->keys && r->recs && r->in);
	uintptr_t base = (uintptr_t)0x555500000000 + ((uintptr_t)salt << 36);
	uintptr_t at = base;
	for (size_t i = 0; i < n; i++) {
		uint64_t x = rng_next(&seed);
		switch (x % 8) {
		case 0: /* a far block: an mmap'd one, another arena */
			at = base + ((x >> 8) & ((UINT64_C(1) << 34) - 1) & ~(uintptr_t)15);
			break;
		case 1:
			at += 8;
			break;
		case 2:
			at += 32 + ((x >> 8) & 0xff0);
			break;
		default:
			at += 16 * (1 + (x >> 8) % 4);
			break;
		}
		r->keys[i] = at;
	}
	qsort(r->keys, n, sizeof *r->keys, cmp_key);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!m || r->keys[i] != r->keys[m - 1])
			r->keys[m++] = r->keys[i];
	/* Shuffle, so that the order of first inserts is not the address order. */
	for (size_t i = m; i > 1; i--) {
		size_t j = rng_next(&seed) % i;
		uintptr_t t = r->keys[i - 1];
		r->keys[i - 1] = r->keys[j];
		r->keys[j] = t;
	}
	r->n = m;
	r->live = 0;
}

static void pool_free(struct ref *r)
{
	free(r->keys);
	free(r->recs);
	free(r->in);
}

static struct ptrmap_rec rec_random(uint64_t *seed)
{
	uint64_t x = rng_next(seed), y = rng_next(seed);
	struct ptrmap_rec r;
	/* Mostly small sizes, some at the largest the map holds. */
	switch (x & 3) {
	case 0:
		r.size = PTRMAP_MAX_SIZE - (y & 0xff);
		break;
	case 1:
		r.size = y & PTRMAP_MAX_SIZE;
		break;
	default:
		r.size = y & 0xfff;
		break;
	}
	r.stack = (uint32_t)(x >> 8) & PTRMAP_MAX_STACK;
	r.tag = (unsigned)(x >> 40) & 0xff;
	return r;
}

static int rec_eq(const struct ptrmap_rec *a, const struct ptrmap_rec *b)
{
	return a->size == b->size && a->stack == b->stack && a->tag == b->tag;
}

/* One random operation on key K of R; returns 0 when the map disagreed. */
static int step(struct ref *r, size_t k, uint64_t *seed)
{
	struct ptrmap_rec rec = rec_random(seed), got;
	uint64_t x = rng_next(seed);
	if (r->in[k] && (x & 3) == 0) {
		/* Insert of a present key: the old record comes back. */
		if (ptrmap_insert(r->keys[k], &rec, &got) != 1 || !rec_eq(&got, &r->recs[k]))
			return 0;
		r->recs[k] = rec;
	} else if (r->in[k]) {
		if (ptrmap_remove(r->keys[k], &got) != 1 || !rec_eq(&got, &r->recs[k]))
			return 0;
		r->in[k] = 0;
		r->live--;
	} else if ((x & 7) == 1) {
		if (ptrmap_remove(r->keys[k], &got) != 0)
			return 0;
	} else {
		if (ptrmap_insert(r->keys[k], &rec, &got) != 0)
			return 0;
		r->recs[k] = rec;
		r->in[k] = 1;
		r->live++;
	}
	return 1;
}

/* Remove everything R holds, checking each record, then check that the
 * map holds none of R's keys.  Returns the number of disagreements. */
static size_t drain(struct ref *r)
{
	size_t bad = 0;
	struct ptrmap_rec got;
	for (size_t k = 0; k < r->n; k++) {
		if (r->in[k] && (ptrmap_remove(r->keys[k], &got) != 1 || !rec_eq(&got, &r->recs[k])))
			bad++;
		r->in[k] = 0;
	}
	for (size_t k = 0; k < r->n; k++)
		if (ptrmap_remove(r->keys[k], &got) != 0)
			bad++;
	r->live = 0;
	return bad;
}

/* Work on a window of the pool that slides, so that the live set grows to
 * hundreds of thousands, shrinks and grows again. */
static size_t churn(struct ref *r, size_t ops, uint64_t seed)
{
	size_t bad = 0;
	for (size_t i = 0; i < ops; i++) {
		size_t phase = i * 4 / ops; /* grow, churn, shrink, grow */
		size_t k;
		if (phase == 0 || phase == 3)
			k = rng_next(&seed) % r->n;
		else
			k = rng_next(&seed) % (r->n / 4 + 1);
		if (phase == 2 && r->in[k] == 0 && (rng_next(&seed) & 1))
			continue;
		if (!step(r, k, &seed))
			bad++;
	}
	return bad;
}

START_TEST(test_basic)
{
	struct ptrmap_rec a = { 100, 7, 3 }, b = { PTRMAP_MAX_SIZE, PTRMAP_MAX_STACK, 255 }, got;
	uintptr_t p = 0x7f0012345670;
	ck_assert_int_eq(ptrmap_remove(p, &got), 0);
	ck_assert_int_eq(ptrmap_insert(p, &a, &got), 0);
	ck_assert_int_eq(ptrmap_insert(p + 8, &b, &got), 0); /* same hash */
	ck_assert_int_eq(ptrmap_insert(p, &b, &got), 1);
	ck_assert(rec_eq(&got, &a));
	ck_assert_int_eq(ptrmap_remove(p, &got), 1);
	ck_assert(rec_eq(&got, &b));
	ck_assert_int_eq(ptrmap_remove(p, &got), 0);
	ck_assert_int_eq(ptrmap_remove(p + 8, &got), 1);
	ck_assert(rec_eq(&got, &b));
	ck_assert_int_eq(ptrmap_remove(p + 8, &got), 0);
}
END_TEST

START_TEST(test_random)
{
	struct ref r;
	pool_make(&r, 1500000, 42, 0);
	ck_assert_uint_eq(churn(&r, 6000000, 7), 0);
	ck_assert_uint_eq(drain(&r), 0);
	/* The same keys again, into tables that have grown. */
	ck_assert_uint_eq(churn(&r, 2000000, 8), 0);
	ck_assert_uint_eq(drain(&r), 0);
	pool_free(&r);
}
END_TEST

#define THREADS 4

struct worker {
	struct ref r;
	uint64_t seed;
	size_t bad;
	pthread_t tid;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	w->bad = churn(&w->r, 1500000, w->seed);
	return NULL;
}

START_TEST(test_threads)
{
	struct worker w[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		/* Disjoint pools (the salt), whose regions still fall in the
		 * same shard groups: the threads share shards. */
		pool_make(&w[i].r, 400000, 100 + i, i + 1);
		w[i].seed = 200 + i;
		w[i].bad = 0;
	}
	for (unsigned i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_run, &w[i]), 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned i = 0; i < THREADS; i++) {
		ck_assert_uint_eq(w[i].bad, 0);
		ck_assert_uint_eq(drain(&w[i].r), 0);
		pool_free(&w[i].r);
	}
}
END_TEST

/* What a fork does: every lock taken, a child that releases them and goes
 * on using the map, a parent that releases them. */
START_TEST(test_fork)
{
	struct ref r;
	uint64_t seed = 5;
	pool_make(&r, 200000, 9, 0);
	ck_assert_uint_eq(churn(&r, 400000, 10), 0);
	ptrmap_lock_all();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ptrmap_unlock_all();
		size_t bad = churn(&r, 400000, 11) + drain(&r);
		_exit(bad ? 1 : 0);
	}
	ptrmap_unlock_all();
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < 100000; i++)
		ck_assert(step(&r, rng_next(&seed) % r.n, &seed));
	ck_assert_uint_eq(drain(&r), 0);
	pool_free(&r);
}
END_TEST

/* A thread that meets a shard's lock taken while a fork is in progress
 * (its handlers hold every lock) is told so at once instead of waiting;
 * the handlers change the map through the _held calls. */
static void *gated_calls(void *arg)
{
	int *got = arg;
	struct ptrmap_rec r = { 10, 3, 0 }, old;
	got[0] = ptrmap_insert(0x7f0000001000, &r, &old);
	got[1] = ptrmap_remove(0x7f0000002000, &old);
	return NULL;
}

START_TEST(test_fork_gate)
{
	struct ptrmap_rec r = { 20, 4, 1 }, old;
	ck_assert_int_eq(ptrmap_insert(0x7f0000002000, &r, &old), 0);
	ptrmap_lock_all();
	forklog_begin(lock_self());
	int got[2] = { 7, 7 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, gated_calls, got), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(got[0], -2);
	ck_assert_int_eq(got[1], -1);
	ck_assert_uint_eq(forklog_stop(), 0);
	ck_assert_int_eq(ptrmap_insert_held(0x7f0000001000, &r, &old), 0);
	ck_assert_int_eq(ptrmap_remove_held(0x7f0000002000, &old), 1);
	ck_assert_uint_eq(old.size, 20);
	ptrmap_unlock_all();
	forklog_end();
	/* Gate open: the calls take the locks again. */
	ck_assert_int_eq(pthread_create(&t, NULL, gated_calls, got), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(got[0], 1); /* the handlers' insert is there */
	ck_assert_int_eq(got[1], 0);
	ck_assert_int_eq(ptrmap_remove(0x7f0000001000, &old), 1);
	ck_assert_uint_eq(old.size, 10);
}
END_TEST

/* Blocks 8 bytes apart, as an allocator with 8-byte blocks packs them:
 * two to a grain, so every chunk makes a run twice as long as its home
 * slots, and the runs of chunks whose homes are near pile up; with
 * glibc's layout (64 slots a run) and with the one for such allocators
 * (ptrmap_dense, 16). */
static void dense_blocks(void)
{
	const size_t n = 1u << 20;
	const uintptr_t base = (uintptr_t)0x7f1200000000;
	struct ptrmap_rec got;
	for (size_t i = 0; i < n; i++) {
		struct ptrmap_rec r = { i, (uint32_t)i & PTRMAP_MAX_STACK, (unsigned)i & 0xff };
		ck_assert_int_eq(ptrmap_insert(base + 8 * i, &r, &got), 0);
	}
	for (size_t i = 0; i < n; i += 2) {
		ck_assert_int_eq(ptrmap_remove(base + 8 * i, &got), 1);
		ck_assert_uint_eq(got.size, i);
		ck_assert_uint_eq(got.stack, (uint32_t)i & PTRMAP_MAX_STACK);
		ck_assert_uint_eq(got.tag, (unsigned)i & 0xff);
	}
	for (size_t i = 0; i < n; i++) {
		int present = i & 1;
		ck_assert_int_eq(ptrmap_remove(base + 8 * i, &got), present);
		if (present)
			ck_assert_uint_eq(got.size, i);
	}
}

START_TEST(test_dense)
{
	dense_blocks();
}
END_TEST

START_TEST(test_dense_layout)
{
	/* Before the first insert of this process (each test runs in its
	 * own, forked by check). */
	ck_assert_int_eq(ptrmap_dense(), 1);
	dense_blocks();
}
END_TEST

/* Blocks a byte apart (no real allocator, but nothing stops one): 1024 to
 * a chunk, all in one run whatever the table's size, longer than an
 * entry's distance field holds, which then says "far" and the distance is
 * worked out.  Every insert is tracked, and the tables stay the size the
 * blocks need: growing cannot shorten such a run, so it must not be what
 * a long run leads to. */
START_TEST(test_packed)
{
	const size_t n = 1u << 14;
	const uintptr_t base = (uintptr_t)0x7f3400000000;
	struct ptrmap_rec got;
	size_t before = mem_mapped_bytes();
	for (size_t i = 0; i < n; i++) {
		struct ptrmap_rec r = { i + 1, (uint32_t)i, (unsigned)i & 0xff };
		ck_assert_int_eq(ptrmap_insert(base + i, &r, &got), 0);
	}
	/* 16 bytes an entry, at most half full while shards are small, a
	 * page a shard at least: far below a megabyte. */
	ck_assert_uint_le(mem_mapped_bytes() - before, 1u << 20);
	for (size_t i = n; i-- > 0;) {
		ck_assert_int_eq(ptrmap_remove(base + i, &got), 1);
		ck_assert_uint_eq(got.size, i + 1);
		ck_assert_uint_eq(got.stack, (uint32_t)i);
	}
	ck_assert_int_eq(ptrmap_remove(base, &got), 0);
}
END_TEST

/* Addresses past 48 bits (5-level paging, or tags in the top byte) cannot
 * be keys: they stay untracked, and never match a block that can. */
START_TEST(test_high_address)
{
	struct ptrmap_rec a = { 1, 2, 3 }, got;
	uintptr_t low = 0x7f0012345670, high = low | (UINT64_C(1) << 52);
	ck_assert_int_eq(ptrmap_insert(low, &a, &got), 0);
	ck_assert_int_eq(ptrmap_insert(high, &a, &got), -1);
	ck_assert_int_eq(ptrmap_remove(high, &got), 0);
	ck_assert_int_eq(ptrmap_remove(low, &got), 1);
	ck_assert_int_eq(ptrmap_remove(low, &got), 0);
}
END_TEST

/* When a table cannot grow the insert fails with -1 and the block stays
 * untracked; everything inserted before is still there. */
START_TEST(test_no_memory)
{
#if defined(__SANITIZE_ADDRESS__)
	return; /* the sanitizer's shadow memory needs the address space */
#else
	struct ref r;
	pool_make(&r, 600000, 13, 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Stop the address space a little above what the child has now. */
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		struct rlimit lim = { (pages << 12) + (4u << 20), (pages << 12) + (4u << 20) };
		if (setrlimit(RLIMIT_AS, &lim) != 0)
			_exit(2);
		size_t failed = 0, bad = 0;
		struct ptrmap_rec got;
		for (size_t k = 0; k < r.n; k++) {
			struct ptrmap_rec rec = { k, (uint32_t)k & PTRMAP_MAX_STACK, 1 };
			int ret = ptrmap_insert(r.keys[k], &rec, &got);
			if (ret == 0) {
				r.in[k] = 1;
				r.recs[k] = rec;
			} else if (ret == -1) {
				failed++;
			} else {
				bad++;
			}
		}
		for (size_t k = 0; k < r.n; k++)
			if (!r.in[k] && ptrmap_remove(r.keys[k], &got) != 0)
				bad++;
		bad += drain(&r);
		_exit(bad ? 1 : failed ? 0 : 3);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	pool_free(&r);
#endif
}
END_TEST

static Suite *ptrmap_suite(void)
{
	Suite *s = suite_create("ptrmap");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_fork_gate);
	tcase_add_test(tc, test_dense);
	tcase_add_test(tc, test_dense_layout);
	tcase_add_test(tc, test_packed);
	tcase_add_test(tc, test_high_address);
	tcase_add_test(tc, test_no_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ptrmap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("agent memory after the tests: %llu bytes\n",
	       (unsigned long long)mem_mapped_bytes());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
