/*
 * wl_basic: known allocations through every function the agent interposes.
 *
 *   wl_basic hold         allocate; "ready"; wait; free all; "ready"; wait; exit 0
 *   wl_basic exit [N]     allocate and exit(N) with every block still live
 *   wl_basic chdir DIR    allocate, chdir(DIR), exit 0 with the blocks live
 *   wl_basic fds          allocate, let the agent's thread start, print the
 *                         numbers of the open descriptors below 900; exit 0
 *   wl_basic exit_group   allocate, end with the raw exit_group system call
 *                         (as the C library's own _exit does), status 0
 *   wl_basic errno        failing allocations leave errno as the C
 *                         library's own functions leave it; exit 1 if not
 *   wl_basic quick_exit [N]
 *                         the same with quick_exit(N), whose handler (the
 *                         program's at_quick_exit) keeps 123 bytes more
 *                         (site_quick_exit)
 *   wl_basic check        self-checks, allocate, free all, exit 0
 *   wl_basic churn SECS   "ready", then allocate and free for SECS seconds
 *                         from many distinct stacks; exit 0
 *   wl_basic closefds SECS after 0.5 s, close every descriptor from 3 up
 *                         (as a daemon does), open 8 socket pairs under the
 *                         numbers freed, then for SECS seconds pass a message
 *                         through each every 100 ms and keep a 1000-byte
 *                         block (site_closefds); exit 1 if any descriptor
 *                         was closed or any message lost or changed by
 *                         someone else (the agent), else 0
 *
 * Each allocation site is its own noinline function so that a test finds it
 * by name (ht-snapshot --by-site).  What every site leaves live, with the
 * rule the agent follows: a block is charged the size the program asked for
 * (so pvalloc(100) counts 100 bytes, not the page it gets), and a realloc'd
 * block is charged to the stack of the realloc call:
 *
 *   site                 calls                         live bytes  blocks
 *   site_malloc          10 x malloc(1000)                  10000      10
 *   site_calloc          7 x calloc(3, 100)                  2100       7
 *   site_realloc_origin  malloc(100), grown elsewhere           0       0
 *   site_realloc         5 x realloc doubling: 200..3200     3200       1
 *   site_realloc_null    realloc(NULL, 500)                   500       1
 *   site_realloc_zero    malloc(77), realloc(p, 0) frees        0       0
 *   site_reallocarray    reallocarray(NULL,10,50), (p,20,50) 1000       1
 *   site_strdup          5 x strdup(99 chars)                 500       5
 *   site_posix_memalign  (64,1000) (4096,5000) (64,24)       6024       3
 *   site_aligned_alloc   4 x aligned_alloc(256, 512)         2048       4
 *   site_memalign        2 x memalign(128, 300)               600       2
 *   site_valloc          3 x valloc(100)                      300       3
 *   site_pvalloc         2 x pvalloc(100)                     200       2
 *   site_malloc0         2 x malloc(0)                          0       2
 *
 * Totals (bytes ever allocated, blocks ever allocated) count every call that
 * returned a block: site_realloc 6200 B in 5 blocks, site_reallocarray
 * 1500 B in 2, site_realloc_origin 100 B in 1, site_realloc_zero 77 B in 1;
 * for the other sites totals equal the live numbers above.
 *
 * Before any of that, check_semantics() verifies that the allocator still
 * behaves as the C library documents; the program exits 1 on the first
 * check that fails (the message names it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wl.h"

#define MAX_HELD 64

static void *held[MAX_HELD]; /* every block the sites leave live */
static int nheld;

/* Sizes that the compiler cannot see, so it warns about nothing. */
static volatile size_t huge = SIZE_MAX / 2;
static volatile size_t zero;

static void hold(void *p)
{
	WL_CHECK(nheld < MAX_HELD);
	held[nheld++] = p;
}

static int aligned(const void *p, size_t alignment)
{
	return ((uintptr_t)p & (alignment - 1)) == 0;
}

WL_SITE static void site_malloc(void)
{
	for (int i = 0; i < 10; i++) {
		char *p = malloc(1000);
		WL_CHECK(p != NULL);
		memset(p, 'm', 1000);
		WL_CHECK(malloc_usable_size(p) >= 1000);
		hold(p);
	}
}

WL_SITE static void site_calloc(void)
{
	for (int i = 0; i < 7; i++) {
		unsigned char *p = calloc(3, 100);
		WL_CHECK(p != NULL);
		for (int j = 0; j < 300; j++)
			WL_CHECK(p[j] == 0);
		hold(p);
	}
}

WL_SITE static char *site_realloc_origin(void)
{
	char *p = malloc(100);
	WL_CHECK(p != NULL);
	for (int i = 0; i < 100; i++)
		p[i] = (char)i;
	return p;
}

/* Grow P five times; the block that survives belongs to this site. */
WL_SITE static void site_realloc(char *p)
{
	for (size_t size = 200; size <= 3200; size *= 2) {
		p = realloc(p, size);
		WL_CHECK(p != NULL);
		for (int i = 0; i < 100; i++)
			WL_CHECK(p[i] == (char)i);
	}
	WL_CHECK(malloc_usable_size(p) >= 3200);
	hold(p);
}

WL_SITE static void site_realloc_null(void)
{
	char *p = realloc(NULL, 500);
	WL_CHECK(p != NULL);
	memset(p, 'n', 500);
	hold(p);
}

WL_SITE static void site_realloc_zero(void)
{
	char *p = malloc(77);
	WL_CHECK(p != NULL);
	/* glibc: realloc(p, 0) frees p and returns NULL. */
	WL_CHECK(realloc(p, zero) == NULL);
}

WL_SITE static void site_reallocarray(void)
{
	char *p = reallocarray(NULL, 10, 50);
	WL_CHECK(p != NULL);
	memset(p, 'r', 500);
	p = reallocarray(p, 20, 50);
	WL_CHECK(p != NULL);
	WL_CHECK(p[0] == 'r' && p[499] == 'r');
	hold(p);
}

WL_SITE static void site_strdup(void)
{
	char text[100];

	memset(text, 's', 99);
	text[99] = '\0';
	for (int i = 0; i < 5; i++) {
		char *p = strdup(text);
		WL_CHECK(p != NULL && strcmp(p, text) == 0);
		hold(p);
	}
}

WL_SITE static void site_posix_memalign(void)
{
	static const size_t spec[3][2] = { { 64, 1000 }, { 4096, 5000 }, { 64, 24 } };

	for (int i = 0; i < 3; i++) {
		void *p = NULL;
		WL_CHECK(posix_memalign(&p, spec[i][0], spec[i][1]) == 0);
		WL_CHECK(p != NULL && aligned(p, spec[i][0]));
		memset(p, 'p', spec[i][1]);
		hold(p);
	}
}

WL_SITE static void site_aligned_alloc(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = aligned_alloc(256, 512);
		WL_CHECK(p != NULL && aligned(p, 256));
		hold(p);
	}
}

WL_SITE static void site_memalign(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = memalign(128, 300);
		WL_CHECK(p != NULL && aligned(p, 128));
		hold(p);
	}
}

WL_SITE static void site_valloc(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; i < 3; i++) {
		void *p = valloc(100);
		WL_CHECK(p != NULL && aligned(p, page));
		hold(p);
	}
}

WL_SITE static void site_pvalloc(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; i < 2; i++) {
		char *p = pvalloc(100);
		WL_CHECK(p != NULL && aligned(p, page));
		/* pvalloc rounds up to whole pages: all of it is usable. */
		WL_CHECK(malloc_usable_size(p) >= page);
		memset(p, 'v', page);
		hold(p);
	}
}

WL_SITE static void site_malloc0(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = malloc(zero);
		WL_CHECK(p != NULL); /* glibc returns a unique pointer */
		hold(p);
	}
}

/* What the C library promises, checked with the agent in between. */
WL_SITE static void check_semantics(void)
{
	char *p, *q;
	void *v;

	/* free() preserves errno, also for NULL. */
	p = malloc(10);
	WL_CHECK(p != NULL);
	errno = 1234;
	free(p);
	WL_CHECK(errno == 1234);
	free(NULL);
	WL_CHECK(errno == 1234);

	/* Overflowing or impossible requests fail with ENOMEM. */
	errno = 0;
	WL_CHECK(calloc(huge, 4) == NULL && errno == ENOMEM);
	errno = 0;
	WL_CHECK(malloc(huge) == NULL && errno == ENOMEM);
	p = malloc(16);
	WL_CHECK(p != NULL);
	memset(p, 'k', 16);
	errno = 0;
	WL_CHECK(reallocarray(p, huge, 4) == NULL && errno == ENOMEM);
	errno = 0;
	WL_CHECK(realloc(p, huge) == NULL && errno == ENOMEM);
	WL_CHECK(p[15] == 'k'); /* a failed realloc leaves the block alone */
	free(p);

	/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees and gives NULL. */
	p = realloc(NULL, 40);
	WL_CHECK(p != NULL && malloc_usable_size(p) >= 40);
	WL_CHECK(realloc(p, zero) == NULL);

	/* calloc zeroes even memory that was dirty before. */
	p = malloc(4000);
	WL_CHECK(p != NULL);
	memset(p, 0xaa, 4000);
	free(p);
	q = calloc(1, 4000);
	WL_CHECK(q != NULL);
	for (int i = 0; i < 4000; i++)
		WL_CHECK(q[i] == 0);
	free(q);

	/* posix_memalign: bad alignment is EINVAL (returned, not in errno). */
	v = NULL;
	WL_CHECK(posix_memalign(&v, 3, 16) == EINVAL);
	WL_CHECK(posix_memalign(&v, 32, 0) == 0);
	free(v);

	/* Shrinking keeps the prefix; growing a big block too. */
	p = malloc(100000);
	WL_CHECK(p != NULL);
	memset(p, 'g', 100000);
	p = realloc(p, 10);
	WL_CHECK(p != NULL && p[9] == 'g');
	p = realloc(p, 1 << 20);
	WL_CHECK(p != NULL && p[0] == 'g' && p[9] == 'g');
	free(p);

	WL_CHECK(malloc_usable_size(NULL) == 0);
}

static void allocate_all(void)
{
	site_malloc();
	site_calloc();
	site_realloc(site_realloc_origin());
	site_realloc_null();
	site_realloc_zero();
	site_reallocarray();
	site_strdup();
	site_posix_memalign();
	site_aligned_alloc();
	site_memalign();
	site_valloc();
	site_pvalloc();
	site_malloc0();
}

static void free_all(void)
{
	while (nheld > 0)
		free(held[--nheld]);
}

/* One allocation DEPTH calls deep: distinct depths make distinct stacks. */
WL_SITE static void site_churn(int depth)
{
	if (depth > 0) {
		site_churn(depth - 1);
		return;
	}
	free(malloc(64));
}

/*
 * Stacks deeper than the walker's log of the last walk (64 frames): the
 * same depth twice (the whole stack replayed), one frame more or less, and
 * the same depth reached through two callers (the replay must find where
 * the stacks part).  HEAPTOP_DEPTH=256 keeps them whole.  The stores after
 * the calls keep them from being tail calls when CFLAGS say -O2.
 */
static volatile int deep_calls;

WL_SITE static void deep_rec(int depth)
{
	if (depth > 0) {
		deep_rec(depth - 1);
		deep_calls++;
		return;
	}
	free(malloc(64));
}

WL_SITE static void deep_a(int depth)
{
	deep_rec(depth);
	deep_calls++;
}

WL_SITE static void deep_b(int depth)
{
	deep_rec(depth);
	deep_calls++;
}

static void deep(void)
{
	/* 52-60 put the whole stack (about 7 frames more) at 59-67, either
	 * side of the log's 64, wherever libc's frames fall. */
	static const int depths[] = { 100, 100, 101, 99, 150, 70, 63, 64, 65, 64, 20, 130, 130,
				      30,  30,  40,  40, 60,  60, 52, 53, 54, 55, 56, 57, 58,
				      59,  60,  57,  56, 55,  54 };
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
			if ((i + (size_t)round) % 3)
				deep_a(depths[i]);
			else
				deep_b(depths[i]);
		}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void churn(double seconds)
{
	double end;
	unsigned long n = 0;

	wl_ready("");
	end = now() + seconds;
	while (now() < end)
		site_churn((int)(n++ % 40));
}

static void *closefds_kept[1000];

static __attribute__((noinline)) void site_closefds(unsigned n)
{
	closefds_kept[n % 1000] = malloc(1000);
}

static int closefds(double seconds)
{
	usleep(500000);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	int pairs[8][2], bad = 0;
	for (int i = 0; i < 8; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]) < 0)
			return 1;
	unsigned n = 0;
	for (double end = now() + seconds; now() < end;) {
		site_closefds(n++);
		for (int i = 0; i < 8; i++) {
			char msg[16] = "ping", got[16] = { 0 };
			msg[4] = (char)('0' + i);
			if (fcntl(pairs[i][0], F_GETFD) < 0 || fcntl(pairs[i][1], F_GETFD) < 0 ||
			    write(pairs[i][0], msg, sizeof msg) != (ssize_t)sizeof msg ||
			    read(pairs[i][1], got, sizeof got) != (ssize_t)sizeof got ||
			    memcmp(msg, got, sizeof msg) != 0)
				bad++;
		}
		usleep(100000);
	}
	if (bad)
		wl_say("wl_basic closefds: a descriptor of the program's was touched");
	return bad ? 1 : 0;
}

static int usage(void)
{
	wl_say("usage: wl_basic hold | exit [STATUS] | quick_exit [STATUS] | exit_group | fds | "
	       "chdir DIR | "
	       "check | errno | "
	       "churn SECONDS | deep | "
	       "closefds SECONDS");
	return 2;
}

/* wl_basic errno: failures leave errno as the C library's own functions,
 * called past any interposer, leave it (glibc's posix_memalign sets ENOMEM
 * on the way, though POSIX does not ask it to).  Exits 1 when not. */
static int errno_check(void)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD), *v;
	int (*libc_posix_memalign)(void **, size_t, size_t) =
		libc ? (int (*)(void **, size_t, size_t))dlsym(libc, "posix_memalign") : NULL;
	void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
	void *(*libc_aligned_alloc)(size_t, size_t) =
		libc ? (void *(*)(size_t, size_t))dlsym(libc, "aligned_alloc") : NULL;
	WL_CHECK(libc_posix_memalign && libc_malloc && libc_aligned_alloc);
	size_t aligns[] = { 16, 4096, (size_t)1 << 40, (size_t)1 << 63 };
	for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
		errno = 77;
		int want = libc_posix_memalign(&v, aligns[i], huge), want_errno = errno;
		errno = 77;
		WL_CHECK(posix_memalign(&v, aligns[i], huge) == want && errno == want_errno);
		errno = 77;
		void *a = libc_aligned_alloc(aligns[i], huge);
		want_errno = errno;
		errno = 77;
		WL_CHECK(aligned_alloc(aligns[i], huge) == a && errno == want_errno);
	}
	errno = 77;
	WL_CHECK(libc_malloc(huge) == NULL);
	int want_errno = errno;
	errno = 77;
	WL_CHECK(malloc(huge) == NULL && errno == want_errno);
	return 0;
}

static void *quick_kept;

WL_SITE static void site_quick_exit(void)
{
	quick_kept = malloc(123);
	WL_CHECK(quick_kept != NULL);
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc < 2)
		return usage();
	check_semantics();
	if (strcmp(argv[1], "deep") == 0) {
		deep();
		return 0;
	}
	if (strcmp(argv[1], "errno") == 0)
		return errno_check();
	if (strcmp(argv[1], "closefds") == 0)
		return argc < 3 ? usage() : closefds(atof(argv[2]));
	if (strcmp(argv[1], "churn") == 0) {
		if (argc < 3)
			return usage();
		churn(atof(argv[2]));
		return 0;
	}
	allocate_all();
	if (strcmp(argv[1], "hold") == 0) {
		wl_ready("phase=allocated");
		wl_wait();
		free_all();
		wl_ready("phase=freed");
		wl_wait();
	} else if (strcmp(argv[1], "exit") == 0) {
		exit(argc > 2 ? atoi(argv[2]) : 0);
	} else if (strcmp(argv[1], "fds") == 0) {
		struct timespec pause = { 0, 200 * 1000 * 1000 };
		nanosleep(&pause, NULL);
		for (int fd = 0; fd < 900; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				printf("%d ", fd);
		printf("\n");
	} else if (strcmp(argv[1], "exit_group") == 0) {
		syscall(SYS_exit_group, 0);
	} else if (strcmp(argv[1], "chdir") == 0 && argc > 2) {
		WL_CHECK(chdir(argv[2]) == 0);
		exit(0);
	} else if (strcmp(argv[1], "quick_exit") == 0) {
		WL_CHECK(at_quick_exit(site_quick_exit) == 0);
		quick_exit(argc > 2 ? atoi(argv[2]) : 0);
	} else if (strcmp(argv[1], "check") == 0) {
		free_all();
	} else {
		return usage();
	}
	return 0;
}
