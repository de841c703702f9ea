/*
 * Snapshot files: a heap saved with its frames already symbolized, so that
 * `heaptop report` works after the program and its binaries are gone.  The
 * format is described at the top of snapfile.c and in doc/protocol.md.
 *
 * Loading checks every length, count and index before using it: a
 * truncated or corrupted file is a one-line error, never a crash.  Errors
 * come back in *CAUSE (xasprintf'd, the caller frees), prefixed with the
 * file's name.
 */
#ifndef HEAPTOP_SNAPFILE_H
#define HEAPTOP_SNAPFILE_H

#include <stddef.h>

struct heap;
struct snapshot;
struct symbolizer;

/* Write every stack of H that ever allocated (total_blocks > 0), with its
 * counters and frames (symbolizing them through heap_frames), and H's info
 * to PATH, atomically: PATH is replaced only by a complete, synced file.
 * Returns 0, or -1 with *CAUSE set. */
int snapfile_save(const char *path, struct heap *h, char **cause);
/* Whether snapfile_save could write PATH (its directory exists and takes
 * files): 0, or -1 with *CAUSE set.  Run before a program, so that its run
 * is not lost to a typo. */
int snapfile_check_writable(const char *path, char **cause);

/* Load the snapshot file PATH into a new heap (heap_new, heap_add_stack);
 * NULL with *CAUSE set. */
struct heap *snapfile_load(const char *path, char **cause);
/* The same from the LEN bytes at BUF; NAME prefixes the cause. */
struct heap *snapfile_load_buffer(const void *buf, size_t len, const char *name,
				  char **cause);

/* Load PATH whether it is a snapshot file or a frame stream of the wire
 * protocol (the agent's live-at-exit file).  For a frame stream, *RAW is
 * set to the snapshot read, SYM is told its modules, and the heap is
 * heap_from_snapshot(*RAW, SYM): free the heap before *RAW and SYM.  For a
 * snapshot file *RAW is NULL and SYM is not used.  NULL with *CAUSE set. */
struct heap *snapfile_load_any(const char *path, struct symbolizer *sym,
			       struct snapshot **raw, char **cause);

#endif
