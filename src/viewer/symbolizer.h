/*
 * Symbolizer: program counters of a traced process to function, file, line
 * and module, with elfutils libdw, out of process.  Inlined calls come back
 * as frames of their own.  Results are cached per (module, address); a
 * module is opened once, on the first address that falls in it.
 *
 * Ownership: every string a symbolizer returns is owned by the symbolizer
 * and lives until symbolizer_free.
 */
#ifndef HEAPTOP_SYMBOLIZER_H
#define HEAPTOP_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>

struct symbolizer;

/* One source-level frame. Missing parts are NULL (function, file) or 0 (line). */
struct sym_frame {
	const char *function; /* demangled for C++ */
	const char *file;     /* full path as recorded in the debug info */
	unsigned line;
	const char *module;   /* path of the shared object or executable */
	uint64_t offset;      /* pc relative to the module's load bias */
	int inlined;          /* 1 when this frame was inlined into the next one */
};

/* A new symbolizer with no modules. */
struct symbolizer *symbolizer_new(void);
/* Free it and every string it handed out. */
void symbolizer_free(struct symbolizer *s);

/* Declare a loaded module: its path, build-id (may be NULL/0), load bias and
 * the address range [lo, hi) it covers in the target.  Declaring the same
 * path and bias again is a no-op. */
void symbolizer_add_module(struct symbolizer *s, const char *path,
			   const uint8_t *build_id, size_t build_id_len,
			   uint64_t bias, uint64_t lo, uint64_t hi);

/* Symbolize PC.  RETURN_ADDRESS says PC is a return address (every frame but
 * the innermost), which is looked up at pc-1.  Fills up to MAX frames,
 * innermost (most inlined) first, and returns how many; always at least 1
 * when MAX >= 1 (an unknown address gives a frame with only module/offset,
 * or, outside every module, NULLs and offset = PC). */
int symbolizer_lookup(struct symbolizer *s, uint64_t pc, int return_address,
		      struct sym_frame *out, int max);

/* Counters for benchmarks and diagnostics. */
struct symbolizer_stats {
	uint64_t lookups;      /* symbolizer_lookup calls */
	uint64_t cache_hits;   /* lookups answered from the cache */
	uint64_t cache_misses; /* lookups that went to libdw (outside every
				* module counts as neither) */
	size_t cached_frames;  /* frames held by the cache */
	size_t modules;        /* declared */
	size_t modules_opened; /* reported to libdw, found or not */
	size_t symbols;        /* entries in the symbol-table function indexes */
	size_t functions;      /* entries in the DWARF function indexes */
	size_t strings;        /* distinct interned strings */
	size_t string_bytes;   /* their size, NULs included */
};

/* Fill OUT with S's counters. */
void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out);

#endif
