/* The agent's memory: anonymous mappings, never the allocator it hooks. */
#ifndef HEAPTOP_MEM_H
#define HEAPTOP_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Map SIZE zeroed bytes (rounded up to pages); NULL when the kernel refuses. */
void *mem_map(size_t size);
/* Unmap a mapping of SIZE bytes made by mem_map. */
void mem_unmap(void *p, size_t size);
/* Grow or shrink a mapping made by mem_map; NULL (the old one intact) on failure. */
void *mem_remap(void *p, size_t old_size, size_t new_size);
/* Bytes the agent has mapped and not unmapped. */
uint64_t mem_mapped_bytes(void);

#endif
