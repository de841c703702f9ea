/* Parts of a path as the viewer shows them. */
#ifndef HEAPTOP_PATH_H
#define HEAPTOP_PATH_H

#include <string.h>

/* After the last '/' of PATH: "libc.so.6" of "/lib/x86_64-linux-gnu/libc.so.6". */
static inline const char *path_base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The last two components of PATH, like tracemalloc's recipe did
 * (os.sep.join(path.split(os.sep)[-2:])): "b/c.c" of "/a/b/c.c". */
static inline const char *path_short(const char *path)
{
	const char *last = strrchr(path, '/');
	if (!last)
		return path;
	const char *p = last;
	while (p > path && p[-1] != '/')
		p--;
	return p > path ? p : path;
}

#endif
