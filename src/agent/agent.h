/* What the agent's parts share: settings, the thread-state switch that keeps
 * the agent's own work untraced, the peak, and the HELLO contents. */
#ifndef HEAPTOP_AGENT_H
#define HEAPTOP_AGENT_H

/* A function the agent exports (libheaptop(7) names them all). */
#define EXPORT __attribute__((visibility("default")))

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define AGENT_DEFAULT_DEPTH 64
#define AGENT_DEFAULT_MAX_STACKS (1u << 20)
/* In sampling mode block counts are estimates kept in 1/256ths. */
#define AGENT_SAMPLE_UNIT 256

/* How stacks are captured. */
enum {
	AGENT_UNWIND_DWARF,     /* the DWARF walker, libunwind when unsure */
	AGENT_UNWIND_LIBUNWIND, /* unw_backtrace for every stack */
	AGENT_UNWIND_FP,        /* frame pointers */
};

struct agent_settings {
	unsigned depth;          /* HEAPTOP_DEPTH: frames kept per stack */
	uint32_t max_stacks;     /* HEAPTOP_MAX_STACKS */
	const char *socket;      /* HEAPTOP_SOCKET, NULL for the default */
	const char *final_path;  /* HEAPTOP_FINAL, NULL for none */
	long final_pid;          /* HEAPTOP_FINAL_PID, 0 for any process */
	uint64_t sample;         /* HEAPTOP_SAMPLE: mean bytes between samples;
				    0: exact, every block */
	int unwind;              /* HEAPTOP_UNWIND: AGENT_UNWIND_* */
	int unwind_check;        /* HEAPTOP_UNWIND_CHECK=1: compare the DWARF
				    walker's stacks with libunwind's */
};

/* Read once, at the first allocation. */
extern struct agent_settings agent_settings;

/* The current mark's tag (1..255, 0 before the first mark): blocks carry
 * the tag of the mark they were born under. */
extern unsigned agent_mark_epoch;
static inline unsigned agent_mark_tag(void)
{
	return __atomic_load_n(&agent_mark_epoch, __ATOMIC_RELAXED);
}
/* Set a new mark (the server, on HT_REQ_MARK). */
void agent_mark(void);
/* CLOCK_REALTIME of the current mark, 0 when none. */
uint64_t agent_mark_ns(void);
/* The unit of block counters: 1, or AGENT_SAMPLE_UNIT when sampling. */
uint64_t agent_block_unit(void);

/* Read the environment into agent_settings. */
void agent_settings_load(void);
/* Fill H for a HELLO frame. */
void agent_hello(struct ht_hello *h);
/* The peak of live bytes, raised to LIVE if lower, or reset to LIVE. */
uint64_t agent_peak(uint64_t live, int reset);
/* Raise the peak to CANDIDATE if it is higher (the allocation path). */
void agent_peak_raise(uint64_t candidate);
/* Mark the calling thread as the agent's own: nothing it does is traced. */
void agent_thread_untraced(void);
/* Expand %p in TEMPLATE into DST (SIZE bytes); -1 when it does not fit. */
int path_expand(char *dst, size_t size, const char *template);

/* Appending to a fixed buffer without stdio; len may pass size, which
 * means it did not fit. */
struct path_buf {
	char *buf;
	size_t size;
	size_t len;
};
void path_add(struct path_buf *b, const char *s);
void path_add_uint(struct path_buf *b, uint64_t v);

/* Write LEN bytes at S to standard error with write(2) (no stdio, no
 * allocation); gives up quietly if it fails. */
void agent_say(const char *s, size_t len);

/* Lifecycle, in agent.c, called by hooks.c. */
void agent_process_init(void);
void agent_write_final(int status);
/* The program called quick_exit(STATUS). */
void agent_quick_exit(int status);
/* Time the agent started in this process (CLOCK_REALTIME ns). */
uint64_t agent_start_ns(void);

#endif
