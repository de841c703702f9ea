/*
 * libwl_plugin_cxx: the C++ twin of libwl_plugin, for a C program to load
 * with dlopen(3): its operator new comes from the libstdc++ it brings in,
 * which is in no global scope.
 */
#include <cstddef>

extern "C" void plugin_alloc(void **out, int n, std::size_t size);

extern "C" __attribute__((noinline)) void plugin_alloc(void **out, int n, std::size_t size)
{
	for (int i = 0; i < n; i++)
		out[i] = new char[size]; // @plugin_cxx_new
}
