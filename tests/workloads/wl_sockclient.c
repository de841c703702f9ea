/*
 * wl_sockclient: a misbehaving client of the agent's socket, for the tests
 * that check that the agent survives its clients.
 *
 *   wl_sockclient garbage SOCKET     send bytes that are not a frame
 *   wl_sockclient oversized SOCKET   send a REQUEST header whose length is
 *                                    larger than HT_MAX_FRAME
 *   wl_sockclient stall SOCKET SECS  send REQUESTs for SECS seconds without
 *                                    ever reading an answer, then hang up;
 *                                    says "dropped by the agent" if the
 *                                    agent closed the connection first
 *
 * garbage and oversized exit 0 when the agent closes the connection within
 * five seconds, 1 when it does not.  stall exits 0 and prints how many
 * requests it managed to send.  Errors are reported on stderr with exit 2.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "proto/proto.h"
#include "wl.h"

__attribute__((noreturn)) static void die(const char *what)
{
	wl_say("wl_sockclient: %s: %s", what, strerror(errno));
	exit(2);
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		die(path);
	}
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die(path);
	return fd;
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A frame header as the protocol lays it out. */
static void header(uint8_t out[HT_HEADER_SIZE], uint16_t type, uint32_t length)
{
	put_u32(out, HT_MAGIC);
	put_u16(out + 4, HT_VERSION);
	put_u16(out + 6, type);
	put_u32(out + 8, length);
}

/* Wait up to five seconds for the peer to close; answers are discarded. */
static int expect_close(int fd)
{
	char buf[65536];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int r = poll(&pfd, 1, 5000);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			wl_say("connection still open after 5 s");
			return 1;
		}
		n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			wl_say("connection closed by the agent");
			return 0;
		}
		if (n < 0 && errno != EINTR)
			die("read");
	}
}

static int send_garbage(const char *path)
{
	uint8_t junk[64];
	int fd = connect_to(path);

	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(0xa5 ^ (i * 37));
	wl_write_all(fd, (const char *)junk, sizeof junk);
	return expect_close(fd);
}

static int send_oversized(const char *path)
{
	uint8_t h[HT_HEADER_SIZE];
	int fd = connect_to(path);

	header(h, HT_MSG_REQUEST, HT_MAX_FRAME + 1);
	wl_write_all(fd, (const char *)h, sizeof h);
	return expect_close(fd);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stall(const char *path, double seconds)
{
	uint8_t frame[HT_HEADER_SIZE + HT_REQUEST_SIZE];
	int fd = connect_to(path);
	double end = now() + seconds;
	unsigned long sent = 0;
	size_t off = 0;

	header(frame, HT_MSG_REQUEST, HT_REQUEST_SIZE);
	memset(frame + HT_HEADER_SIZE, 0, HT_REQUEST_SIZE); /* have nothing */
	while (now() < end) {
		ssize_t n = send(fd, frame + off, sizeof frame - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			usleep(10000);
			continue;
		}
		if (n < 0) {
			/* The agent dropped us, as it should drop a client
			 * that does not read. */
			wl_say("dropped by the agent after %.1f s (%s)",
			       seconds - (end - now()), strerror(errno));
			break;
		}
		off += (size_t)n;
		if (off == sizeof frame) {
			off = 0;
			sent++;
		}
	}
	wl_say("stalled client sent %lu requests", sent);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	wl_watchdog(WL_WATCHDOG_SECONDS);
	if (argc == 3 && strcmp(argv[1], "garbage") == 0)
		return send_garbage(argv[2]);
	if (argc == 3 && strcmp(argv[1], "oversized") == 0)
		return send_oversized(argv[2]);
	if (argc == 4 && strcmp(argv[1], "stall") == 0)
		return stall(argv[2], atof(argv[3]));
	wl_say("usage: wl_sockclient garbage|oversized SOCKET | stall SOCKET SECONDS");
	return 2;
}
