/*
 * wl_dlopen: allocations through a module loaded at run time.
 *
 *   wl_dlopen PLUGIN.so
 *
 * While a thread allocates and frees without pause (site_dl_churn), main
 * loads PLUGIN.so twice:
 *
 *   round 1: dlopen; plugin_alloc 5 x 700 B; "ready pid=P round=1"; wait;
 *            free them; dlclose
 *   round 2: dlopen again; plugin_alloc 3 x 900 B; "ready pid=P round=2";
 *            wait; free them; dlclose
 *
 * so the site plugin_alloc holds 3500 B in 5 blocks at the first ready
 * point and 2700 B in 3 blocks at the second.  Exits 0.
 *
 *   wl_dlopen PLUGIN.so leak
 *
 * Loads PLUGIN.so (RTLD_LOCAL), has plugin_alloc make 4 x 600 B, unloads
 * it and exits 0 with the blocks still held: a plugin's leak, whose stacks
 * name an object that is gone.  PLUGIN.so may be the C++ one, whose C++
 * runtime is then in no global scope (this program is C); then its
 * plugin_bad_alloc must see its new_handler called and std::bad_alloc
 * thrown, as without the agent.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "wl.h"


typedef void plugin_alloc_fn(void **out, int n, size_t size);

static atomic_int stop_churn;

WL_SITE static void *site_dl_churn(void *arg)
{
	unsigned n = 0;

	while (!atomic_load(&stop_churn))
		free(malloc(16 + (n++ % 32) * 16));
	return arg;
}

/* One round: load, allocate N x SIZE through the plugin, report, unload. */
static void round_trip(const char *path, int round, int n, size_t size)
{
	void *blocks[8];
	void *handle;
	plugin_alloc_fn *alloc;
	char extra[32];

	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		wl_say("dlopen: %s", dlerror());
		exit(1);
	}
	alloc = (plugin_alloc_fn *)dlsym(handle, "plugin_alloc");
	WL_CHECK(alloc != NULL);
	alloc(blocks, n, size);
	for (int i = 0; i < n; i++)
		WL_CHECK(blocks[i] != NULL);
	snprintf(extra, sizeof extra, "round=%d", round);
	wl_ready(extra);
	wl_wait();
	for (int i = 0; i < n; i++)
		free(blocks[i]);
	WL_CHECK(dlclose(handle) == 0);
}

static void *leaked[4];

static int leak(const char *path)
{
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		wl_say("dlopen: %s", dlerror());
		return 1;
	}
	plugin_alloc_fn *alloc = (plugin_alloc_fn *)dlsym(handle, "plugin_alloc");
	WL_CHECK(alloc != NULL);
	alloc(leaked, 4, 600);
	for (int i = 0; i < 4; i++)
		WL_CHECK(leaked[i] != NULL);
	/* The C++ plugin: new that fails calls the plugin's new_handler once,
	 * then throws std::bad_alloc, which the plugin catches. */
	int (*bad_alloc)(void) = (int (*)(void))dlsym(handle, "plugin_bad_alloc");
	if (bad_alloc)
		WL_CHECK(bad_alloc() == 1);
	WL_CHECK(dlclose(handle) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t churn;

	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc == 3 && strcmp(argv[2], "leak") == 0)
		return leak(argv[1]);
	if (argc != 2) {
		wl_say("usage: wl_dlopen PLUGIN.so [leak]");
		return 2;
	}
	WL_CHECK(pthread_create(&churn, NULL, site_dl_churn, NULL) == 0);
	round_trip(argv[1], 1, 5, 700);
	round_trip(argv[1], 2, 3, 900);
	atomic_store(&stop_churn, 1);
	WL_CHECK(pthread_join(churn, NULL) == 0);
	return 0;
}
