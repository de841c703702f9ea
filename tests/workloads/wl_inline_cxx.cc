/*
 * wl_inline_cxx: C++ functions that DWARF names without a linkage name
 * once inlined at -O2: two helper() in different anonymous namespaces, and
 * two lambdas with the same operator().  Each must stay a function of its
 * own, not be merged under the bare name.  Live at exit (exit 0):
 *
 *   function                              bytes  blocks
 *   (anonymous namespace)::helper          300     1    @cxx_anon_helper
 *   x::(anonymous namespace)::helper       400     1    @cxx_x_helper
 *   f1()'s lambda's operator()            1000     1    @cxx_lambda1
 *   f2()'s lambda's operator()            2000     1    @cxx_lambda2
 */
#include <cstdlib>

void *volatile held[4];

namespace {
[[gnu::always_inline]] inline void *helper()
{
	return std::malloc(300); // @cxx_anon_helper
}
} // namespace

namespace x {
namespace {
[[gnu::always_inline]] inline void *helper()
{
	return std::malloc(400); // @cxx_x_helper
}
} // namespace
} // namespace x

[[gnu::noinline]] void f1()
{
	auto a = [](int n) { return std::malloc(n); }; // @cxx_lambda1
	held[2] = a(1000);
}

[[gnu::noinline]] void f2()
{
	auto b = [](int n) { return std::malloc(n); }; // @cxx_lambda2
	held[3] = b(2000);
}

int main()
{
	held[0] = helper();
	held[1] = x::helper();
	f1();
	f2();
	return 0;
}
