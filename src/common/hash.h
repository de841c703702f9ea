/* FNV-1a over bytes: the viewer's hash for short strings (names, paths). */
#ifndef HEAPTOP_HASH_H
#define HEAPTOP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define HASH_FNV_PRIME UINT64_C(0x100000001b3)

/* Fold the LEN bytes at P into the running hash H (start with HASH_FNV_OFFSET). */
static inline uint64_t hash_fold(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * HASH_FNV_PRIME;
	return h;
}

/* The hash of the LEN bytes at P. */
static inline uint64_t hash_bytes(const void *p, size_t len)
{
	return hash_fold(HASH_FNV_OFFSET, p, len);
}

#endif
