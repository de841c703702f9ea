/* The target's module map (executable and shared objects), as the viewer
 * needs it to symbolize: path, build-id, load bias and address range. */
#ifndef HEAPTOP_MODULES_H
#define HEAPTOP_MODULES_H

#include <link.h>
#include <stdint.h>

#include "proto/proto.h"

/* Remember the executable's path; call once at start-up (and after exec). */
void modules_init(void);
/* The current generation: changes whenever objects are loaded or unloaded. */
uint32_t modules_generation(void);
/* Append a MODULES frame describing every loaded object. */
void modules_encode(struct ht_writer *w);
/* The executable's path ("" when unknown). */
const char *modules_exe(void);
/* True when PC lies in the agent's own code or libheaptop-cxx.so's. */
int modules_in_agent(uintptr_t pc);
/* libheaptop-cxx.so is loaded; ADDR lies in its code. */
void modules_cxx_loaded(uintptr_t addr);
/* Whether the program's operator new, as the loader binds it, is an
 * allocator's own (not libstdc++'s, not libheaptop-cxx.so's, not the
 * executable's), whose blocks never reach malloc. */
int modules_new_unseen(void);

/*
 * The agent's calls into the loader's lock (dl_iterate_phdr, libunwind's
 * walk) go through this gate, which fork closes: a child inherits the
 * lock as the forking moment left it, and one held by another thread of
 * the agent would never be released there (its first rule-cache miss
 * would wait for ever).
 */
void modules_loader_enter(void);
void modules_loader_leave(void);
/* For the hooks, which must not wait for a fork (forklog.h): enter the
 * gate (0), or not, while a fork is in progress (-1). */
int modules_loader_try(void);
/* dl_iterate_phdr through the gate. */
int modules_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data);
/* The same for the hooks: -1, without calling it, while a fork is in
 * progress. */
int modules_iterate_gated(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data);
/* pthread_atfork: close the gate and wait for the agent's calls in it to
 * end; open it again. */
void modules_fork_prepare(void);
void modules_fork_parent(void);
void modules_fork_child(void);

/* An object dlclose may unload, copied before it does. */
struct retired_module {
	uint64_t bias, lo, hi;
	uint16_t path_len, id_len;
	uint8_t id[HT_MAX_BUILD_ID];
	char path[HT_MAX_STR];
};
/* Before dlclose(HANDLE): copy the object it names into *M; 0 when none. */
int modules_closing(void *handle, struct retired_module *m);
/* After it: when *M is no longer loaded, keep it for MODULES (the stacks
 * of blocks it allocated still hold its addresses). */
void modules_closed(const struct retired_module *m);

#endif
