/*
 * libwl_atfork.so, which wl_atfork is linked with: a library that keeps
 * its mutex consistent across fork, the usual way, with handlers its
 * constructor registers (so before the agent's constructor runs: the
 * program's libraries are initialized before the preloaded agent).
 */
#include <pthread.h>

#include "wl_atfork.h"

static pthread_mutex_t lib_mutex = PTHREAD_MUTEX_INITIALIZER;

void wl_atfork_lock(void)
{
	pthread_mutex_lock(&lib_mutex);
}

void wl_atfork_unlock(void)
{
	pthread_mutex_unlock(&lib_mutex);
}

__attribute__((constructor)) static void register_handlers(void)
{
	pthread_atfork(wl_atfork_lock, wl_atfork_unlock, wl_atfork_unlock);
}
