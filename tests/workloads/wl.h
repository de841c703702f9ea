/*
 * Helpers shared by the workload programs that the integration tests run
 * under the agent.
 *
 * A workload that is inspected live announces a "ready point" with one line
 * on stdout, "ready pid=PID[ key=value...]", then waits for a line on stdin.
 * End of file on stdin counts as that line, so a workload whose test died
 * goes on and exits by itself; the watchdog (SIGALRM) ends it in any case.
 * These paths use write(2) and read(2), never stdio, so announcing and
 * waiting allocate nothing that would blur the counts under test.
 */
#ifndef HEAPTOP_WL_H
#define HEAPTOP_WL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An allocation site: a function of its own that the compiler must neither
 * inline nor clone (a clone would be named "site_x.constprop.0"), whatever
 * the optimisation level (the user's CFLAGS come last and may say -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#define WL_SITE __attribute__((noipa))
#else
#define WL_SITE __attribute__((noinline))
#endif

/* Seconds after which a workload kills itself (SIGALRM), whatever happens. */
#define WL_WATCHDOG_SECONDS 120

/* Write all of BUF to FD; gives up silently (the test will notice). */
static inline void wl_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Print one line to stdout, printf-style, without stdio buffering. */
static inline void wl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void wl_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	wl_write_all(STDOUT_FILENO, line, (size_t)n);
}

/* Announce a ready point: "ready pid=PID" followed by EXTRA (may be ""). */
static inline void wl_ready(const char *extra)
{
	wl_say("ready pid=%ld%s%s", (long)getpid(), *extra ? " " : "", extra);
}

/* Block until a whole line (or end of file) arrives on stdin. */
static inline void wl_wait(void)
{
	char c;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			return;
	}
}

/* A failed self-check: say which on stderr and exit 1. */
#define WL_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			char wl_msg_[256];                                    \
			int wl_n_ = snprintf(wl_msg_, sizeof wl_msg_,         \
					     "%s:%d: check failed: %s\n",     \
					     __FILE__, __LINE__, #cond);      \
			if (wl_n_ > 0)                                        \
				wl_write_all(STDERR_FILENO, wl_msg_,          \
					     (size_t)wl_n_ < sizeof wl_msg_ ? \
						     (size_t)wl_n_ :          \
						     sizeof wl_msg_ - 1);     \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* Arm the watchdog: the process dies of SIGALRM after SECONDS. */
static inline void wl_watchdog(unsigned seconds)
{
	alarm(seconds);
}

#endif
