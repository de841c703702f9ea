/*
 * wl_jemalloc_cxx: a C++ program linked with jemalloc, whose operator new
 * and delete are jemalloc's own (they never call malloc or free), so the
 * agent must count them where they are defined.
 *
 *   wl_jemalloc_cxx hold   allocate; "ready"; wait; delete all; "ready";
 *                          wait; exit 0
 *
 * Live at the first ready point (each site its own function):
 *
 *   site                    what                                bytes  blocks
 *   site_jx_new             8 x new Node (48 bytes)               384      8
 *   site_jx_new_array       3 x new char[1000]                   3000      3
 *   site_jx_nothrow         2 x new (std::nothrow) char[500]     1000      2
 *   site_jx_aligned         2 x new Wide (alignas(256), 512 B)   1024      2
 *   site_jx_vector          new std::vector<int> (24 bytes)
 *                           and its reserve(250)                 1024      2
 *   site_jx_churn           1000 x new Node[1] and delete[]         0      0
 *                           (total 48000 B in 1000 blocks)
 *
 * Node and Wide are deleted with sized (and aligned) delete.  The program
 * checks, through jemalloc's per-thread statistics, that jemalloc served
 * operator new while the agent sat in front of it.
 */
#include <jemalloc/jemalloc.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "wl.h"

struct Node {
	char bytes[48];
};
struct alignas(256) Wide {
	char bytes[512];
};

static Node *nodes[8];
static char *arrays[3], *nothrows[2];
static Wide *wides[2];
static std::vector<int> *numbers;

WL_SITE static void site_jx_new()
{
	for (auto &n : nodes)
		n = new Node();
}

WL_SITE static void site_jx_new_array()
{
	for (auto &a : arrays)
		a = new char[1000]();
}

WL_SITE static void site_jx_nothrow()
{
	for (auto &a : nothrows) {
		a = new (std::nothrow) char[500];
		WL_CHECK(a != nullptr);
		std::memset(a, 1, 500);
	}
}

WL_SITE static void site_jx_aligned()
{
	for (auto &w : wides) {
		w = new Wide();
		WL_CHECK(reinterpret_cast<std::uintptr_t>(w) % 256 == 0);
	}
}

WL_SITE static void site_jx_vector()
{
	numbers = new std::vector<int>;
	numbers->reserve(250);
}

WL_SITE static void site_jx_churn()
{
	for (int i = 0; i < 1000; i++) {
		Node *volatile n = new Node[1];
		delete[] n;
	}
}

static uint64_t allocated_by_jemalloc()
{
	uint64_t epoch = 1, v = 0;
	size_t len = sizeof epoch;
	mallctl("epoch", &epoch, &len, &epoch, len);
	len = sizeof v;
	WL_CHECK(mallctl("thread.allocated", &v, &len, nullptr, 0) == 0);
	return v;
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc != 2 || std::strcmp(argv[1], "hold") != 0) {
		wl_say("usage: wl_jemalloc_cxx hold");
		return 2;
	}
	uint64_t before = allocated_by_jemalloc();
	site_jx_new();
	site_jx_new_array();
	site_jx_nothrow();
	site_jx_aligned();
	site_jx_vector();
	site_jx_churn();
	WL_CHECK(allocated_by_jemalloc() - before >= 384 + 3000 + 1000 + 1024 + 1000 + 48000);
	wl_ready("phase=allocated");
	wl_wait();
	for (auto n : nodes)
		delete n;
	for (auto a : arrays)
		delete[] a;
	for (auto a : nothrows)
		operator delete[](a, std::nothrow);
	for (auto w : wides)
		delete w;
	delete numbers;
	wl_ready("phase=freed");
	wl_wait();
	return 0;
}
