/*
 * Whether a program needs libheaptop-cxx.so preloaded beside the agent:
 * when the operator new its code will call is an allocator's own
 * (jemalloc's, tcmalloc's), which serves C++ objects without malloc.
 */
#ifndef HEAPTOP_CXXSHIM_H
#define HEAPTOP_CXXSHIM_H

/* The object in whose .dynsym the loader will find operator new for
 * PROGRAM (a path) run with LD_PRELOAD=PRELOAD, as the program's own
 * dynamic loader lists its objects (`LOADER --list`, which runs none of
 * their code): a path to free, or NULL when none defines it or the
 * program is not a dynamic ELF executable. */
char *cxxshim_operator_new_owner(const char *program, const char *preload);

/* Whether OWNER (from the above; NULL allowed) is an allocator the agent
 * cannot see through malloc: not a C++ runtime (libstdc++, libc++), and
 * not PROGRAM itself (whose definitions come before any preloaded one). */
int cxxshim_needed(const char *owner, const char *program);

/* The first object of PRELOAD (an LD_PRELOAD value) that defines operator
 * new, whatever program it is given to: a path to free, or NULL. */
char *cxxshim_preloaded_owner(const char *preload);

/* ARGV0 as execvp would find it (searched in PATH unless it holds a '/'):
 * a path to free, or NULL. */
char *cxxshim_find_program(const char *argv0);

#endif
