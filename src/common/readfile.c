/* Reading a whole file into memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/readfile.h"
#include "common/xalloc.h"

/* All of FD; -1 with errno set. */
static int read_fd(int fd, uint8_t **out, size_t *outlen)
{
	struct stat st;
	size_t cap = 65536, len = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size + 1; /* one more, to see the end at once */
	uint8_t *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

uint8_t *readfile(const char *path, size_t *len, char **cause)
{
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read_fd(fd, &buf, len) < 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}
