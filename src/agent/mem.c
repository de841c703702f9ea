/* The agent's memory: anonymous mappings, counted so snapshots can report
 * what tracing costs the target. */
#include "config.h"

#include <sys/mman.h>

#include "agent/mem.h"

static uint64_t mapped_bytes;

static size_t page_round(size_t size)
{
	return (size + 4095) & ~(size_t)4095;
}

void *mem_map(size_t size)
{
	size = page_round(size);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	__atomic_add_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
	return p;
}

void mem_unmap(void *p, size_t size)
{
	if (!p)
		return;
	size = page_round(size);
	munmap(p, size);
	__atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
}

void *mem_remap(void *p, size_t old_size, size_t new_size)
{
	old_size = page_round(old_size);
	new_size = page_round(new_size);
	void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return NULL;
	if (new_size > old_size)
		__atomic_add_fetch(&mapped_bytes, new_size - old_size, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&mapped_bytes, old_size - new_size, __ATOMIC_RELAXED);
	return q;
}

uint64_t mem_mapped_bytes(void)
{
	return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
}
