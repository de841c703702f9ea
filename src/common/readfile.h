/* Reading a whole file into memory (snapshot files are read whole). */
#ifndef HEAPTOP_READFILE_H
#define HEAPTOP_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* All of PATH in a new buffer (free() it) with *LEN set; NULL with *CAUSE
 * set to "PATH: reason" (xasprintf'd) when it cannot be read. */
uint8_t *readfile(const char *path, size_t *len, char **cause);

#endif
