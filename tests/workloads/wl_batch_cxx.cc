/*
 * wl_batch_cxx: C++ allocations in a namespace, a class (constructor and
 * method) and a function template, for the demangled names of the batch
 * output.  operator new is in libstdc++, so each block is charged to the
 * function that wrote `new` (tests find the lines by the marker comments);
 * the buffer of a std::vector, allocated by libstdc++'s templates compiled
 * in here, to the line that asked for it.  Live at exit (exit 0):
 *
 *   function                                  what                   size  blocks
 *   ns::Cache::insert(int)                    3 x new char[2048]     6144     3
 *   ns::make_numbers()                        reserve(500) of a
 *                                             std::vector<int>       2000     1
 *                                             new std::vector<int>     24     1
 *   double* ns::make_array<double>(unsigned long)
 *                                             2 x new double[100]    1600     2
 *   ns::Cache::Cache()                        new int[64]             256     1
 *   (the Cache object itself: new ns::Cache in main, 64 B in 1 block)
 */
#include <cstddef>
#include <vector>

#include "wl.h"

namespace ns {

class Cache {
public:
	WL_SITE Cache();
	WL_SITE void insert(int key);

private:
	int *index_;
	char *slots_[6];
	int used_;
};

Cache::Cache() : used_(0)
{
	index_ = new int[64]; // @cxx_ctor
}

void Cache::insert(int key)
{
	slots_[used_++] = new char[2048]; // @cxx_insert
	index_[used_] = key;
}

void *volatile last_array; // a store after the call: no tail call

template <typename T> WL_SITE T *make_array(std::size_t n)
{
	T *p = new T[n]; // @cxx_template
	last_array = p;
	return p;
}

WL_SITE std::vector<int> *make_numbers()
{
	auto *v = new std::vector<int>; // @cxx_vector_new
	v->reserve(500); // @cxx_reserve
	return v;
}

} // namespace ns

static void *held[8];

int main()
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	static_assert(sizeof(ns::Cache) == 64, "64-byte Cache");
	ns::Cache *c = new ns::Cache; // @cxx_main_new
	for (int i = 0; i < 3; i++)
		c->insert(i); // @cxx_main_insert
	held[0] = c;
	held[1] = ns::make_array<double>(100); // @cxx_main_template
	held[2] = ns::make_array<double>(100);
	held[4] = ns::make_numbers();
	return held[3] != nullptr;
}
