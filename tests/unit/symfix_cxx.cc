// C++ part of the test_symbolizer fixture: a qualified, mangled name.
#include <cstdint>

#include "symfix.h"

namespace symfix_ns {
struct Widget {
	static int poke(int x);
};

__attribute__((noinline)) int Widget::poke(int x)
{
	static volatile int sink;
	sink += x;
	return sink * 2;
}
} // namespace symfix_ns

extern "C" uintptr_t symfix_cxx_address(void)
{
	return reinterpret_cast<uintptr_t>(&symfix_ns::Widget::poke);
}
