/* Rust symbol names, as a table shows them. */
#ifndef HEAPTOP_RUSTNAME_H
#define HEAPTOP_RUSTNAME_H

#include <stdbool.h>

/* Finish __cxa_demangle's reading of a legacy Rust name, in place: drop the
 * "::h<16 hex digits>" hash and decode the escapes ("$LT$" is "<", "$u7b$"
 * is "{", ".." is "::").  Returns false, leaving NAME alone, when it does
 * not end in such a hash. */
bool rustname_tidy_legacy(char *name);

/* The v0 name SYM ("_R...") read, without hashes, disambiguators and
 * lifetimes ("<alloc::raw_vec::RawVecInner>::try_allocate_in"), in memory
 * the caller frees; NULL when SYM is not one or does not parse. */
char *rustname_demangle_v0(const char *sym);

#endif
