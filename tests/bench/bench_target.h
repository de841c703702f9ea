/*
 * What the benchmark targets (bench_sites, bench_lines) share: reading a
 * numeric argument, and the handshake with tests/bench/run.sh, which
 * waits for the "ready" line and ends the target by closing its stdin.
 */
#ifndef HEAPTOP_BENCH_TARGET_H
#define HEAPTOP_BENCH_TARGET_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* S as a number in MIN..MAX, or exit 2 saying what PROG could not take. */
static unsigned long bench_arg(const char *prog, const char *s, unsigned long min,
			       unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: bad number %s (%lu..%lu)\n", prog, s, min, max);
		exit(2);
	}
	return v;
}

/* Print "ready pid=PID sites=SITES blocks=BLOCKS" with write(2) (stdio
 * would allocate), then wait for a line or the end of stdin. */
static void bench_ready_and_wait(unsigned long sites, unsigned long blocks)
{
	char line[128];
	snprintf(line, sizeof line, "ready pid=%ld sites=%lu blocks=%lu\n", (long)getpid(),
		 sites, blocks);
	const char *s = line;
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		s += n;
		len -= (size_t)n;
	}
	char c;
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;
}

#endif
