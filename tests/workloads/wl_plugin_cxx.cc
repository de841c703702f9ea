/*
 * libwl_plugin_cxx: the C++ twin of libwl_plugin, for a C program to load
 * with dlopen(3): its operator new comes from the libstdc++ it brings in,
 * which is in no global scope.
 */
#include <cstddef>
#include <new>

extern "C" void plugin_alloc(void **out, int n, std::size_t size);
extern "C" int plugin_bad_alloc(void);

extern "C" __attribute__((noinline)) void plugin_alloc(void **out, int n, std::size_t size)
{
	for (int i = 0; i < n; i++)
		out[i] = new char[size]; // @plugin_cxx_new
}

static int handler_calls;

static void handler()
{
	handler_calls++;
	std::set_new_handler(nullptr);
}

/* A new that cannot succeed: the number of new_handler calls before the
 * std::bad_alloc it throws is caught, -1 if none is thrown. */
extern "C" int plugin_bad_alloc(void)
{
	std::set_new_handler(handler);
	volatile std::size_t huge = std::size_t(1) << 62;
	try {
		char *p = new char[huge];
		delete[] p;
		return -1;
	} catch (const std::bad_alloc &) {
		return handler_calls;
	}
}
