/*
 * libwl_plugin: a module that wl_dlopen loads with dlopen(3), so that tests
 * see allocations made by code that was not there when the program started.
 */
#include <stdlib.h>

/* Allocate N blocks of SIZE bytes into OUT (the caller frees them). */
void plugin_alloc(void **out, int n, size_t size);

__attribute__((noinline)) void plugin_alloc(void **out, int n, size_t size)
{
	for (int i = 0; i < n; i++)
		out[i] = malloc(size);
}
