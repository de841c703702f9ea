/*
 * heaptop wire protocol, shared by the agent (encoder) and the viewer (decoder).
 *
 * Everything travels as frames.  A frame is a 12-byte header followed by
 * `length` bytes of payload.  All integers are little-endian.  Strings are a
 * u32 length followed by that many bytes, no terminator.
 *
 *   header:  u32 magic (HT_MAGIC) | u16 version (HT_VERSION) | u16 type | u32 length
 *
 * A client sends HT_MSG_REQUEST frames.  For each one the agent answers with
 * one snapshot, which is the frame sequence
 *
 *   HELLO  MODULES?  STACKS*  COUNTERS+  GLOBALS  END
 *
 * MODULES is sent when the client's module generation differs from the
 * agent's; STACKS frames carry only the stacks with ids >= the number the
 * client says it already holds.  The agent's live-at-exit file is one such
 * snapshot, with every module and every stack, written to a file.
 *
 * Payloads ("followed by" means variable-length data after the fixed part):
 *
 *   REQUEST   u32 have_stacks | u32 have_modules_gen | u32 flags (HT_REQ_*)
 *   HELLO     u32 pid | u32 ppid | u64 start_ns (CLOCK_REALTIME) | u32 depth
 *             | u32 flags (HT_AGENT_*) | u64 sample_bytes | u64 max_stacks
 *             followed by str exe | str cmdline (arguments joined by spaces)
 *   MODULES   u32 generation | u32 count
 *             followed by count x { u64 bias | u64 lo | u64 hi
 *             | u16 path_len | u16 build_id_len | path bytes | build-id bytes }
 *   STACKS    u32 first_id | u32 count
 *             followed by count x { u16 depth | u16 shared
 *             | (shared > 0: u32 base) | (depth - shared) x u64 pc }
 *             (pc[0] is the innermost frame, in the function that called
 *             the allocator; every pc is a return address: symbolize pc-1;
 *             the stack's outermost SHARED pcs are the outermost SHARED
 *             of stack BASE, an earlier id, and are not repeated)
 *   COUNTERS  u32 count
 *             followed by count x { u16 sizes | 7 fields of 0, 1, 4 or 8
 *             bytes, field i's size code (0-3) in bits 2i..2i+1 of sizes }:
 *             stack_id - (the previous record's + 1, or 0) | live_bytes
 *             | live_blocks | total_bytes | total_blocks | born_bytes
 *             | born_blocks, the signed ones (live, born) zigzag-coded;
 *             each in the fewest bytes that hold it, ids ascending
 *             (born: allocated since the mark and still live; 0 without one)
 *   GLOBALS   HT_GLOBALS_FIELDS x u64, in the order of struct ht_globals
 *   END       u64 seq (same as GLOBALS.seq)
 *
 * Stack id 0 is the overflow stack: allocations whose stack could not be
 * stored (the stack table was full) are charged to it; its depth is 0.
 */
#ifndef HEAPTOP_PROTO_H
#define HEAPTOP_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HT_MAGIC 0x504f5448u /* "HTOP" read little-endian */
#define HT_VERSION 3
#define HT_HEADER_SIZE 12

/* Limits both sides enforce before using a length or a count. */
#define HT_MAX_FRAME (64u << 20) /* payload bytes of one frame */
#define HT_MAX_DEPTH 256         /* frames in one stack */
#define HT_MAX_STR 4096          /* bytes in one string or path */
#define HT_MAX_BUILD_ID 64       /* bytes in one build-id */
#define HT_MAX_MODULES 65536     /* modules in one MODULES frame */
#define HT_REQUEST_SIZE 12       /* payload bytes of a REQUEST */
#define HT_STACK_HEAD_SIZE 4     /* a stack record's depth and shared */

enum ht_msg_type {
	HT_MSG_REQUEST = 1,
	HT_MSG_HELLO = 2,
	HT_MSG_MODULES = 3,
	HT_MSG_STACKS = 4,
	HT_MSG_COUNTERS = 5,
	HT_MSG_GLOBALS = 6,
	HT_MSG_END = 7,
};

/* REQUEST flags */
#define HT_REQ_RESET_PEAK 0x1u /* reset the peak to the current live bytes */
#define HT_REQ_MARK 0x2u       /* set the mark: "born" counts restart from here */

/* HELLO flags: how the agent is recording */
#define HT_AGENT_SAMPLED 0x1u /* sampling by bytes; counters are estimates */
#define HT_AGENT_FRAME_POINTERS 0x2u /* stacks from the frame-pointer walker */
#define HT_AGENT_DWARF 0x4u /* stacks from the DWARF walker (libunwind where it
			       cannot follow a frame) */
#define HT_AGENT_NEW_UNSEEN 0x8u /* the program's operator new is an allocator's
				    own, and libheaptop-cxx.so is not loaded:
				    C++ objects it serves are not counted */

/* GLOBALS flags */
#define HT_GLOBAL_FINAL 0x1u /* written at exit: what was live at exit */

/* One COUNTERS record on the wire: a u16 of sizes, then seven fields.  A
 * frame holds at most HT_MAX_COUNTERS of them: records of 2 bytes would
 * otherwise let a frame's count ask a client for 28 times its length in
 * decoded records. */
#define HT_MAX_COUNTERS 65536
#define HT_COUNTER_FIELDS 7
#define HT_COUNTER_RECORD_MIN 2
#define HT_COUNTER_RECORD_MAX (2 + 8 * HT_COUNTER_FIELDS)

struct ht_globals {
	uint64_t seq;             /* snapshot number, from 1 */
	uint64_t realtime_ns;     /* CLOCK_REALTIME when taken */
	uint64_t monotonic_ns;    /* CLOCK_MONOTONIC when taken */
	uint64_t live_bytes;      /* bytes in live tracked blocks */
	uint64_t live_blocks;     /* live tracked blocks */
	uint64_t peak_bytes;      /* highest live_bytes since start or reset */
	uint64_t allocs;          /* tracked allocations since start */
	uint64_t frees;           /* frees of tracked blocks since start */
	uint64_t total_bytes;     /* bytes ever allocated in tracked blocks */
	uint64_t agent_bytes;     /* memory the agent mapped for its tables */
	uint64_t untracked_blocks; /* allocations the agent could not record */
	uint64_t untracked_bytes; /* their bytes */
	uint64_t stacks;          /* stacks in the stack table, overflow included */
	uint64_t flags;           /* HT_GLOBAL_* */
	uint64_t exit_status;     /* with HT_GLOBAL_FINAL: the status given to exit() */
	uint64_t mark_ns;         /* CLOCK_REALTIME of the mark; 0 when none */
};
#define HT_GLOBALS_FIELDS 16

struct ht_hello;

/* Encoder: appends to a caller-owned buffer, never allocates. */
struct ht_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int overflow; /* set when a write did not fit; len stops growing */
};

/* Start writing into BUF of CAP bytes. */
void ht_writer_init(struct ht_writer *w, void *buf, size_t cap);
/* Room for the next N bytes: where to store them (len is advanced past
 * them), or NULL with overflow set when they do not fit.  Lets a fixed-size
 * record be written with one bounds check instead of one per field. */
static inline uint8_t *ht_reserve(struct ht_writer *w, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}
/* Store a little-endian integer at P, unaligned.  On a little-endian host
 * each is one store; elsewhere, byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline void ht_store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void ht_store_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void ht_store_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
#else
static inline void ht_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void ht_store_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ht_store_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
#endif
/* Append a little-endian integer, raw bytes, or a length-prefixed string. */
void ht_put_u16(struct ht_writer *w, uint16_t v);
void ht_put_u32(struct ht_writer *w, uint32_t v);
void ht_put_u64(struct ht_writer *w, uint64_t v);
void ht_put_bytes(struct ht_writer *w, const void *p, size_t n);
void ht_put_str(struct ht_writer *w, const char *s, size_t n);
/* Overwrite the u32 at offset OFF (a count written before it was known). */
void ht_patch_u32(struct ht_writer *w, size_t off, uint32_t v);
/* Write a frame header with length 0; returns its offset for ht_frame_end. */
size_t ht_frame_begin(struct ht_writer *w, enum ht_msg_type type);
/* Patch the length of the frame begun at OFF to cover what was written since. */
void ht_frame_end(struct ht_writer *w, size_t off);
/* Append a whole REQUEST frame. */
void ht_encode_request(struct ht_writer *w, uint32_t have_stacks,
		       uint32_t have_modules_gen, uint32_t flags);
/* Append a whole HELLO frame (exe and cmdline are cut to HT_MAX_STR). */
void ht_encode_hello(struct ht_writer *w, const struct ht_hello *h);
/* Append a whole GLOBALS frame. */
void ht_encode_globals(struct ht_writer *w, const struct ht_globals *g);
/* Append a whole END frame. */
void ht_encode_end(struct ht_writer *w, uint64_t seq);

/* Decoder: reads from a caller-owned buffer, never allocates.  Once a read
 * fails the reader stays failed and every later read returns zeros. */
struct ht_reader {
	const uint8_t *p;
	const uint8_t *end;
	const char *error; /* NULL while all reads succeeded */
};

struct ht_frame {
	uint16_t type;
	uint32_t length;
	const uint8_t *payload;
};

/* Parse the frame at the start of BUF (LEN bytes).  Returns the frame's total
 * size (header + payload) with *F filled, 0 when more bytes are needed, or -1
 * with *ERR set when the bytes cannot be a valid frame. */
long ht_frame_parse(const void *buf, size_t len, struct ht_frame *f, const char **err);

/* Read from a frame's payload. */
void ht_reader_init(struct ht_reader *r, const void *p, size_t n);
uint16_t ht_get_u16(struct ht_reader *r);
uint32_t ht_get_u32(struct ht_reader *r);
uint64_t ht_get_u64(struct ht_reader *r);
/* Point *P at the next N bytes; NULL and failure when fewer remain. */
const uint8_t *ht_get_bytes(struct ht_reader *r, size_t n);
/* A length-prefixed string of at most MAX bytes; *N gets its length. */
const char *ht_get_str(struct ht_reader *r, size_t max, size_t *n);
/* Fail the reader with MSG unless it already failed. */
void ht_reader_fail(struct ht_reader *r, const char *msg);
/* Fail unless every byte was consumed; returns the error or NULL. */
const char *ht_reader_finish(struct ht_reader *r);

/* Decoded REQUEST. */
struct ht_request {
	uint32_t have_stacks;
	uint32_t have_modules_gen;
	uint32_t flags;
};
/* Decode a REQUEST payload; returns NULL or an error message. */
const char *ht_decode_request(const struct ht_frame *f, struct ht_request *out);
/* HELLO contents; when decoded, strings point into the frame's payload. */
struct ht_hello {
	uint32_t pid, ppid;
	uint64_t start_ns;
	uint32_t depth, flags;
	uint64_t sample_bytes, max_stacks;
	const char *exe;
	size_t exe_len;
	const char *cmdline;
	size_t cmdline_len;
};
/* Decode a HELLO payload; returns NULL or an error message. */
const char *ht_decode_hello(const struct ht_frame *f, struct ht_hello *out);
/* Decode a GLOBALS payload; returns NULL or an error message. */
const char *ht_decode_globals(const struct ht_frame *f, struct ht_globals *out);
/* Decode an END payload; returns NULL or an error message. */
const char *ht_decode_end(const struct ht_frame *f, uint64_t *seq);

/* A module as it appears in a MODULES frame; strings point into the payload. */
struct ht_module {
	uint64_t bias, lo, hi;
	const char *path;
	size_t path_len;
	const uint8_t *build_id;
	size_t build_id_len;
};

/* Append one module record to a MODULES frame.  The path is cut to
 * HT_MAX_STR; a build-id over HT_MAX_BUILD_ID is sent as none, since a cut
 * one would match the wrong debug file. */
void ht_put_module(struct ht_writer *w, const struct ht_module *m);

/* Iterate over the modules of a MODULES frame. */
struct ht_module_iter {
	struct ht_reader r;
	uint32_t generation;
	uint32_t count;
	uint32_t index;
};
/* Start; returns NULL or an error message. */
const char *ht_modules_begin(struct ht_module_iter *it, const struct ht_frame *f);
/* Next module: 1 with *M filled, 0 at the end, -1 on error (see it->r.error). */
int ht_modules_next(struct ht_module_iter *it, struct ht_module *m);

/* Bytes of a stack record's head: depth, shared and, when SHARED, base. */
static inline size_t ht_stack_head_size(unsigned shared)
{
	return HT_STACK_HEAD_SIZE + (shared ? 4 : 0);
}
/* Store a stack record's head at P (ht_stack_head_size(SHARED) bytes,
 * reserved by the caller with ht_reserve); its DEPTH - SHARED pcs follow. */
static inline void ht_store_stack_head(uint8_t *p, unsigned depth, unsigned shared,
				       uint32_t base)
{
	ht_store_u16(p, (uint16_t)depth);
	ht_store_u16(p + 2, (uint16_t)shared);
	if (shared)
		ht_store_u32(p + 4, base);
}
/* Append one stack record to a STACKS frame: the innermost DEPTH pcs, cut
 * to HT_MAX_DEPTH. */
void ht_put_stack(struct ht_writer *w, const uint64_t *pcs, unsigned depth);
/* The same for a stack of DEPTH pcs whose outermost SHARED are those of
 * stack BASE: only PCS[0..DEPTH-SHARED) are written (a stack deeper than
 * HT_MAX_DEPTH is cut and written whole). */
void ht_put_stack_shared(struct ht_writer *w, const uint64_t *pcs, unsigned depth,
			 uint32_t base, unsigned shared);

/* Iterate over the stacks of a STACKS frame. */
struct ht_stack_iter {
	struct ht_reader r;
	uint32_t first_id;
	uint32_t count;
	uint32_t index;
	/* Of the stack ht_stacks_next returned last: its outermost SHARED pcs
	 * (0: none) are the outermost SHARED of stack BASE (< its id). */
	uint16_t shared;
	uint32_t base;
};
const char *ht_stacks_begin(struct ht_stack_iter *it, const struct ht_frame *f);
/* Next stack: 1 with *ID, *DEPTH (in all) and *PCS (its DEPTH - it->shared
 * innermost pcs, little-endian u64s: read them with ht_pc_at) filled, 0 at
 * the end, -1 on error. */
int ht_stacks_next(struct ht_stack_iter *it, uint32_t *id, uint16_t *depth,
		   const uint8_t **pcs);
/* The I-th pc of a stack returned by ht_stacks_next. */
uint64_t ht_pc_at(const uint8_t *pcs, unsigned i);

/* One COUNTERS record. */
struct ht_counter {
	uint32_t stack_id;
	int64_t live_bytes, live_blocks;
	uint64_t total_bytes, total_blocks;
	int64_t born_bytes, born_blocks;
};
/* The size code of a counter field: 0, 1, 4 or 8 bytes (codes 0-3).
 * Without branches: field values come in no order a predictor could learn. */
static inline unsigned ht_counter_code(uint64_t v)
{
	return (unsigned)(v != 0) + (unsigned)(v > 0xff) + (unsigned)(v > 0xffffffffu);
}
static inline unsigned ht_counter_code_bytes(unsigned code)
{
	return 0x08040100u >> (code * 8) & 0xff;
}
static inline uint64_t ht_zigzag(int64_t v)
{
	return (uint64_t)v << 1 ^ (uint64_t)(v >> 63);
}
static inline int64_t ht_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
/* Field I of a record at P + AT: all 8 bytes stored, then AT moved past
 * the ones it needs (the last field starts at 50 at most, so the stores
 * stay within the record's 58). */
static inline size_t ht_store_counter_field(uint8_t *p, size_t at, unsigned i, uint64_t v,
					    unsigned *sizes)
{
	unsigned code = ht_counter_code(v);
	ht_store_u64(p + at, v);
	*sizes |= code << (2 * i);
	return at + ht_counter_code_bytes(code);
}
/* Store one COUNTERS record at P, which has room for HT_COUNTER_RECORD_MAX
 * bytes, and return its size.  *NEXT_ID is the id its own counts from (0
 * for a frame's first record) and becomes stack_id + 1: a frame's records
 * go by ascending id. */
static inline size_t ht_store_counter(uint8_t *p, const struct ht_counter *c,
				      uint64_t *next_id)
{
	unsigned sizes = 0;
	size_t at = 2;
	at = ht_store_counter_field(p, at, 0, c->stack_id - *next_id, &sizes);
	at = ht_store_counter_field(p, at, 1, ht_zigzag(c->live_bytes), &sizes);
	at = ht_store_counter_field(p, at, 2, ht_zigzag(c->live_blocks), &sizes);
	at = ht_store_counter_field(p, at, 3, c->total_bytes, &sizes);
	at = ht_store_counter_field(p, at, 4, c->total_blocks, &sizes);
	at = ht_store_counter_field(p, at, 5, ht_zigzag(c->born_bytes), &sizes);
	at = ht_store_counter_field(p, at, 6, ht_zigzag(c->born_blocks), &sizes);
	ht_store_u16(p, (uint16_t)sizes);
	*next_id = (uint64_t)c->stack_id + 1;
	return at;
}
/* Append one record to a COUNTERS frame, *NEXT_ID as for ht_store_counter. */
void ht_put_counter(struct ht_writer *w, const struct ht_counter *c, uint64_t *next_id);

struct ht_counter_iter {
	struct ht_reader r;
	uint32_t count;
	uint32_t index;
	uint64_t next_id; /* what the next record's stack id counts from */
};
const char *ht_counters_begin(struct ht_counter_iter *it, const struct ht_frame *f);
/* Next record: 1, 0 at the end, -1 on error. */
int ht_counters_next(struct ht_counter_iter *it, struct ht_counter *c);

/* Name of a message type for messages, "unknown" when not one. */
const char *ht_msg_name(unsigned type);

#endif
