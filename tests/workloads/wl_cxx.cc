/*
 * wl_cxx: C++ allocations with known sizes.
 *
 *   wl_cxx hold       allocate; "ready"; wait; free all; "ready"; wait; exit 0
 *   wl_cxx exit       allocate and exit(0) without freeing (global objects
 *                     are still destroyed by exit(), as C++ does)
 *   wl_cxx preloads   print "cxx_shim=1" when libheaptop-cxx.so is loaded,
 *                     "cxx_shim=0" when not, and exit 0
 *   wl_cxx many       for sampling: site_many_new holds 2 Mi x new Obj64
 *                     (128 MiB), site_many_aligned 1 Mi x new Aligned
 *                     (128 MiB), site_many_array 2 Mi x new char[64]
 *                     (128 MiB); "ready"; wait; delete them; "ready";
 *                     wait; exit 0
 *   wl_cxx oom        a small new that fails for want of address space
 *                     (RLIMIT_AS), whose new_handler frees a 4 MiB
 *                     reserve block and keeps a new char[1 MiB] at
 *                     site_oom_handler, until 16 reserve blocks are gone;
 *                     "ready handler_blocks=N"; wait; delete; "ready";
 *                     wait; exit 0
 *
 * Built twice: wl_cxx, whose operator new is libstdc++'s (it calls malloc),
 * and wl_cxx_jemalloc (WL_JEMALLOC), linked with jemalloc, whose own
 * operator new serves objects without malloc; that one checks first that
 * `new` really reaches jemalloc.
 *
 * Sites are extern "C" noinline functions so that their names are plain.
 * operator new lives in libstdc++, so a direct `new` is charged to the
 * function that wrote it; containers allocate through template code that
 * is instantiated in this program, so tests find those blocks by the site
 * function on their stack (ht-snapshot without --by-site) rather than by
 * the attributed frame.  Live at the first ready point:
 *
 *   site                 what                                bytes  blocks
 *   site_new             10 x new Obj(48 B), 5 deleted         240       5
 *   site_new_array       3 x new char[1000], 1 deleted        2000       2
 *   site_new_aligned     2 x new Aligned (alignas 64, 128 B)   256       2
 *   site_new_nothrow     new (nothrow) char[300]               300       1
 *   site_vector (stack)  1000 push_back on vector<int>        4096       1
 *                        (capacity 1,2,..,1024: 11 blocks, 8188 B in total)
 *   site_string (stack)  std::string(1000 chars)              1001       1
 *   site_map (stack)     new Registry (48 B) + 100 map nodes  4848     101
 *                        of 48 B (32 B node header + pair<const int, long>)
 *   site_throw (stack)   10 throws of WlError through a frame     0       0
 *                        that holds new char[64] and a 200-char string:
 *                        3 blocks per throw (the exception object comes
 *                        from __cxa_allocate_exception), 30 in total
 *   site_throw_std       10 throws of std::runtime_error:          0       0
 *     (stack)            2 blocks per throw (its message string and the
 *                        exception object), 20 in total
 *   site_bad_alloc       3 x new char[2^62], each throwing          48       1
 *                        std::bad_alloc (its exception object is
 *                        136 B), then new Obj (48 B): the thread is
 *                        traced as before; 456 B in 4 blocks in total
 *   site_handler         called by the new_handler of a new   2097152       2
 *                        char[2^62] in site_new_handler: new
 *                        char[1 MiB] and malloc(1 MiB); then the
 *                        std::bad_alloc (136 B) is caught
 */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "wl.h"


struct Obj {
	char data[48];
};

struct alignas(64) Aligned {
	char data[128];
};

struct Obj64 {
	char data[64];
};

struct Registry {
	std::map<int, long> entries;
};

struct WlError {
	int code;
	char detail[100];
};

static_assert(sizeof(Obj) == 48, "Obj is 48 bytes");
static_assert(sizeof(Aligned) == 128, "Aligned is 128 bytes");
static_assert(sizeof(Obj64) == 64, "Obj64 is 64 bytes");
static_assert(sizeof(Registry) == 48, "Registry is 48 bytes");
static_assert(sizeof(std::pair<const int, long>) == 16, "map value is 16 bytes");

static Obj *objs[10];
static char *arrays[3];
static Aligned *aligned_objs[2];
static char *nothrow_array;
static std::vector<int> g_vec;
static std::string g_str;
static Registry *g_reg;
static Obj *after_bad_alloc;
static char *handler_new;
static void *handler_malloc;

extern "C" {

WL_SITE void site_new(void)
{
	for (int i = 0; i < 10; i++)
		objs[i] = new Obj();
	for (int i = 0; i < 5; i++) {
		delete objs[i];
		objs[i] = nullptr;
	}
}

WL_SITE void site_new_array(void)
{
	for (int i = 0; i < 3; i++)
		arrays[i] = new char[1000];
	delete[] arrays[0];
	arrays[0] = nullptr;
}

WL_SITE void site_new_aligned(void)
{
	for (int i = 0; i < 2; i++) {
		aligned_objs[i] = new Aligned();
		WL_CHECK(((uintptr_t)aligned_objs[i] & 63) == 0);
	}
}

WL_SITE void site_new_nothrow(void)
{
	nothrow_array = new (std::nothrow) char[300];
	WL_CHECK(nothrow_array != nullptr);
}

WL_SITE void site_bad_alloc(void)
{
	volatile size_t huge = (size_t)1 << 62;
	int caught = 0;
	for (int i = 0; i < 3; i++) {
		try {
			char *p = new char[huge];
			delete[] p; /* not reached */
		} catch (const std::bad_alloc &) {
			caught++;
		}
	}
	WL_CHECK(caught == 3);
	after_bad_alloc = new Obj();
}

WL_SITE void site_handler(void)
{
	handler_new = new char[1 << 20];
	handler_malloc = malloc(1 << 20);
	WL_CHECK(handler_malloc != nullptr);
}

static void new_handler(void)
{
	site_handler();
	std::set_new_handler(nullptr);
}

WL_SITE void site_new_handler(void)
{
	volatile size_t huge = (size_t)1 << 62;
	int caught = 0;
	std::set_new_handler(new_handler);
	try {
		char *p = new char[huge];
		delete[] p; /* not reached */
	} catch (const std::bad_alloc &) {
		caught = 1;
	}
	WL_CHECK(caught && handler_new != nullptr);
}

WL_SITE void site_vector(void)
{
	for (int i = 0; i < 1000; i++)
		g_vec.push_back(i);
	WL_CHECK(g_vec.capacity() == 1024);
}

WL_SITE void site_string(void)
{
	g_str.assign(1000, 'x');
	WL_CHECK(g_str.capacity() == 1000);
}

WL_SITE void site_map(void)
{
	g_reg = new Registry();
	for (int i = 0; i < 100; i++)
		g_reg->entries[i] = i * 7L;
}

/* Allocates, then throws through its own frame: RAII must free both. */
WL_SITE void site_throw(int code)
{
	std::unique_ptr<char[]> buffer(new char[64]);
	std::string text(200, 'e');

	buffer[0] = text[0];
	WlError err;
	err.code = code;
	memset(err.detail, 'd', sizeof err.detail);
	throw err;
}

WL_SITE void site_throw_std(int code)
{
	(void)code;
	throw std::runtime_error("a message long enough to need the heap");
}

#define MANY_NEW (2u << 20)
#define MANY_ALIGNED (1u << 20)
static Obj64 **many_objs;
static Aligned **many_aligned;
static char **many_arrays;

/* Many small blocks, as a sampled run sees most of them: with no sample
 * point, so that only the estimate of the few that have one counts. */
WL_SITE void site_many_new(void)
{
	for (unsigned i = 0; i < MANY_NEW; i++)
		many_objs[i] = new Obj64();
}

/* The same through the aligned operator new (jemalloc's calls its own
 * posix_memalign inside). */
WL_SITE void site_many_aligned(void)
{
	for (unsigned i = 0; i < MANY_ALIGNED; i++)
		many_aligned[i] = new Aligned();
}

#define OOM_RESERVE 16
static char *oom_reserve[OOM_RESERVE];
static int oom_reserve_left;
static char *oom_kept[OOM_RESERVE];
static int oom_kept_n;
static char **oom_fill;
static size_t oom_fill_n, oom_fill_cap;

/* What the new_handler allocates: the program's own blocks, counted
 * whatever the operator new that ran out. */
WL_SITE void site_oom_handler(void)
{
	oom_kept[oom_kept_n++] = new char[1 << 20];
}

static void oom_handler(void)
{
	if (oom_reserve_left == 0)
		throw std::bad_alloc();
	delete[] oom_reserve[--oom_reserve_left];
	site_oom_handler();
}

/* Small blocks until the address space runs out: each time it does, the
 * handler makes room and the allocator tries again. */
WL_SITE void site_oom_fill(void)
{
	try {
		for (;;) {
			WL_CHECK(oom_fill_n < oom_fill_cap);
			oom_fill[oom_fill_n++] = new char[1000];
		}
	} catch (const std::bad_alloc &) {
	}
}

/* The same through new[], which libstdc++'s calls new for: an operator
 * of libheaptop-cxx.so's inside another. */
WL_SITE void site_many_array(void)
{
	for (unsigned i = 0; i < MANY_NEW; i++)
		many_arrays[i] = new char[64];
}

} /* extern "C" */

/* The process's address space now, in bytes. */
static rlim_t address_space(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	WL_CHECK(f != nullptr && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

static void oom(void)
{
	oom_fill_cap = 1u << 20; /* 1 GB of 1000-byte blocks at most */
	oom_fill = (char **)malloc(oom_fill_cap * sizeof *oom_fill);
	WL_CHECK(oom_fill != nullptr);
	for (int i = 0; i < OOM_RESERVE; i++)
		oom_reserve[oom_reserve_left++] = new char[4 << 20];
	struct rlimit old_limit, limit;
	WL_CHECK(getrlimit(RLIMIT_AS, &old_limit) == 0);
	limit = old_limit;
	limit.rlim_cur = address_space() + ((rlim_t)64 << 20);
	WL_CHECK(setrlimit(RLIMIT_AS, &limit) == 0);
	std::set_new_handler(oom_handler);
	site_oom_fill();
	std::set_new_handler(nullptr);
	WL_CHECK(setrlimit(RLIMIT_AS, &old_limit) == 0);
	WL_CHECK(oom_reserve_left == 0 && oom_kept_n == OOM_RESERVE);
	for (size_t i = 0; i < oom_fill_n; i++)
		delete[] oom_fill[i];
	free(oom_fill);
	char extra[64];
	snprintf(extra, sizeof extra, "handler_blocks=%d", oom_kept_n);
	wl_ready(extra);
	wl_wait();
	for (int i = 0; i < oom_kept_n; i++)
		delete[] oom_kept[i];
	wl_ready("phase=freed");
	wl_wait();
}

static void many(void)
{
	many_objs = (Obj64 **)malloc(MANY_NEW * sizeof *many_objs);
	many_aligned = (Aligned **)malloc(MANY_ALIGNED * sizeof *many_aligned);
	many_arrays = (char **)malloc(MANY_NEW * sizeof *many_arrays);
	WL_CHECK(many_objs != nullptr && many_aligned != nullptr && many_arrays != nullptr);
	site_many_new();
	site_many_aligned();
	site_many_array();
	wl_ready("phase=allocated");
	wl_wait();
	for (unsigned i = 0; i < MANY_NEW; i++)
		delete many_objs[i];
	for (unsigned i = 0; i < MANY_ALIGNED; i++)
		delete many_aligned[i];
	for (unsigned i = 0; i < MANY_NEW; i++)
		delete[] many_arrays[i];
	free(many_objs);
	free(many_aligned);
	free(many_arrays);
	wl_ready("phase=freed");
	wl_wait();
}

/* Catch outside the allocating frames; after this nothing of theirs is live. */
static void throw_and_catch(void)
{
	int caught = 0;

	for (int i = 0; i < 10; i++) {
		try {
			site_throw(i);
		} catch (const WlError &e) {
			WL_CHECK(e.code == i);
			caught++;
		}
		try {
			site_throw_std(i);
		} catch (const std::runtime_error &e) {
			WL_CHECK(strstr(e.what(), "heap") != nullptr);
			caught++;
		}
	}
	WL_CHECK(caught == 20);
}

#ifdef WL_JEMALLOC
extern "C" int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		       size_t newlen);

/* Bytes jemalloc has handed to this thread so far. */
static uint64_t je_thread_allocated(void)
{
	uint64_t v = 0;
	size_t len = sizeof v;
	WL_CHECK(mallctl("thread.allocated", &v, &len, nullptr, 0) == 0);
	return v;
}

/* `new` must reach jemalloc's operator new, whoever stands in front. */
static void check_new_served_by_jemalloc(void)
{
	static char *volatile p; /* or the pair may be left out */
	uint64_t before = je_thread_allocated();
	p = new char[1 << 16];
	WL_CHECK(je_thread_allocated() - before >= (1 << 16));
	delete[] p;
}
#endif

/* Whether libheaptop-cxx.so is among the loaded objects. */
static void print_preloads(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	WL_CHECK(f != nullptr);
	char line[4096];
	int found = 0;
	while (fgets(line, sizeof line, f))
		found |= strstr(line, "/libheaptop-cxx.so") != nullptr;
	fclose(f);
	wl_say("cxx_shim=%d", found);
}

static void allocate_all(void)
{
	site_new();
	site_new_array();
	site_new_aligned();
	site_new_nothrow();
	site_bad_alloc();
	site_new_handler();
	site_vector();
	site_string();
	site_map();
	throw_and_catch();
}

static void free_all(void)
{
	for (Obj *&o : objs) {
		delete o;
		o = nullptr;
	}
	for (char *&a : arrays) {
		delete[] a;
		a = nullptr;
	}
	for (Aligned *&a : aligned_objs) {
		delete a;
		a = nullptr;
	}
	delete[] nothrow_array;
	nothrow_array = nullptr;
	delete after_bad_alloc;
	after_bad_alloc = nullptr;
	delete[] handler_new;
	handler_new = nullptr;
	free(handler_malloc);
	handler_malloc = nullptr;
	std::vector<int>().swap(g_vec);
	std::string().swap(g_str);
	delete g_reg;
	g_reg = nullptr;
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc < 2) {
		wl_say("usage: wl_cxx hold | exit | preloads | many | oom");
		return 2;
	}
	if (strcmp(argv[1], "preloads") == 0) {
		print_preloads();
		return 0;
	}
	if (strcmp(argv[1], "many") == 0) {
		many();
		return 0;
	}
	if (strcmp(argv[1], "oom") == 0) {
		oom();
		return 0;
	}
#ifdef WL_JEMALLOC
	check_new_served_by_jemalloc();
#endif
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
		wl_say("usage: wl_cxx hold | exit | preloads | many | oom");
		return 2;
	}
	return 0;
}
