/* The target's module map (executable and shared objects), as the viewer
 * needs it to symbolize: path, build-id, load bias and address range. */
#ifndef HEAPTOP_MODULES_H
#define HEAPTOP_MODULES_H

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
/* True when PC lies in the agent's own code. */
int modules_in_agent(uintptr_t pc);

#endif
