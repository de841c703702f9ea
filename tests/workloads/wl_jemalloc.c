/*
 * wl_jemalloc: a program linked with jemalloc, whose malloc replaces the C
 * library's.  The agent must find jemalloc with dlsym(RTLD_NEXT) and count
 * exactly as with glibc.
 *
 *   wl_jemalloc hold   allocate; "ready"; wait; free all; "ready"; wait; exit 0
 *   wl_jemalloc exit   allocate and exit(0) with every block live
 *
 * Live at the first ready point:
 *
 *   site                     calls                            bytes  blocks
 *   site_je_malloc           10 x malloc(1000)                10000      10
 *   site_je_calloc           4 x calloc(5, 100)                2000       4
 *   site_je_realloc          realloc(NULL, 100) -> 5000        5000       1
 *                            (total 5100 B in 2 blocks)
 *   site_je_posix_memalign   2 x posix_memalign(4096, 3000)    6000       2
 *   site_je_aligned_alloc    2 x aligned_alloc(64, 640)        1280       2
 *   site_je_mallocx          3 x mallocx(1000): jemalloc's own    0       0
 *                            API, not interposed, so untracked; two of
 *                            them are released with free(), which the
 *                            agent must pass on without counting
 *
 * The program checks, through jemalloc's per-thread statistics, that
 * jemalloc really served malloc() while the agent sat in front of it, and
 * exits 1 if any check fails.
 */
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <string.h>

#include "wl.h"

#define MAX_HELD 32

static void *held[MAX_HELD];
static int nheld;
static void *untracked[3];

static void hold(void *p)
{
	WL_CHECK(p != NULL && nheld < MAX_HELD);
	held[nheld++] = p;
}

/* Bytes jemalloc has handed to this thread so far. */
static uint64_t je_thread_allocated(void)
{
	uint64_t v = 0;
	size_t len = sizeof v;

	WL_CHECK(mallctl("thread.allocated", &v, &len, NULL, 0) == 0);
	return v;
}

WL_SITE static void site_je_malloc(void)
{
	for (int i = 0; i < 10; i++)
		hold(malloc(1000));
}

WL_SITE static void site_je_calloc(void)
{
	for (int i = 0; i < 4; i++) {
		unsigned char *p = calloc(5, 100);
		WL_CHECK(p != NULL);
		for (int j = 0; j < 500; j++)
			WL_CHECK(p[j] == 0);
		hold(p);
	}
}

WL_SITE static void site_je_realloc(void)
{
	char *p = realloc(NULL, 100);

	WL_CHECK(p != NULL);
	memset(p, 'j', 100);
	p = realloc(p, 5000);
	WL_CHECK(p != NULL && p[99] == 'j');
	hold(p);
}

WL_SITE static void site_je_posix_memalign(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = NULL;
		WL_CHECK(posix_memalign(&p, 4096, 3000) == 0);
		WL_CHECK(((uintptr_t)p & 4095) == 0);
		hold(p);
	}
}

WL_SITE static void site_je_aligned_alloc(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = aligned_alloc(64, 640);
		WL_CHECK(p != NULL && ((uintptr_t)p & 63) == 0);
		hold(p);
	}
}

WL_SITE static void site_je_mallocx(void)
{
	for (int i = 0; i < 3; i++) {
		untracked[i] = mallocx(1000, 0);
		WL_CHECK(untracked[i] != NULL);
	}
}

static void check_served_by_jemalloc(void)
{
	uint64_t before = je_thread_allocated();
	void *p = malloc(1 << 16);
	int saved;

	WL_CHECK(p != NULL);
	WL_CHECK(je_thread_allocated() - before >= (1 << 16));
	WL_CHECK(sallocx(p, 0) >= (1 << 16));
	errno = 4321;
	free(p);
	saved = errno;
	WL_CHECK(saved == 4321);
}

static void allocate_all(void)
{
	site_je_malloc();
	site_je_calloc();
	site_je_realloc();
	site_je_posix_memalign();
	site_je_aligned_alloc();
	site_je_mallocx();
	/* Blocks the agent never saw: free() must hand them to jemalloc. */
	free(untracked[0]);
	free(untracked[1]);
	dallocx(untracked[2], 0);
}

static void free_all(void)
{
	while (nheld > 0)
		free(held[--nheld]);
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc < 2) {
		wl_say("usage: wl_jemalloc hold | exit");
		return 2;
	}
	check_served_by_jemalloc();
	allocate_all();
	if (strcmp(argv[1], "hold") == 0) {
		wl_ready("phase=allocated");
		wl_wait();
		free_all();
		wl_ready("phase=freed");
		wl_wait();
	} else if (strcmp(argv[1], "exit") == 0) {
		exit(0);
	} else {
		wl_say("usage: wl_jemalloc hold | exit");
		return 2;
	}
	return 0;
}
