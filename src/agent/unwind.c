/*
 * The DWARF stack walker (HEAPTOP_UNWIND=dwarf, the default on x86-64).
 *
 * On x86-64 the unwind rule of almost every frame, at almost every pc, is:
 * CFA = RSP + off or RBP + off; the return address at CFA - 8; the caller's
 * RBP unchanged or saved at CFA + k; the caller's RSP = CFA.  That fits in
 * 32 bits, so the rules live in a process-wide direct-mapped cache of
 * 64-bit words (pc tag above, rule below): a hit is one load and a compare,
 * and the walk costs a few instructions per frame instead of libunwind's
 * ninety.  A miss finds the pc's FDE through the module's .eh_frame_hdr
 * search table and runs the CIE's and FDE's CFA programs up to the pc.
 * Anything this does not model (CFA or registers given by DWARF
 * expressions, as in PLT entries and stack-realigning functions; signal
 * frames; unusual pointer encodings; a pc in no module) makes the rule
 * "unknown", which is cached too: the walk then gives up and the caller
 * uses libunwind for the whole stack, so the result never depends on a
 * guess.
 *
 * Consecutive stacks of a thread mostly share their outer frames, so each
 * thread also keeps what its last walk read (the state after each frame and
 * the stack slots it loaded).  Once a walk reaches a frame in the same
 * state as last time, re-reading those slots and finding the same values
 * proves the rest of the stack is the same: that is one independent load
 * per frame instead of a chain of dependent ones through the rule cache.
 *
 * Safety inside someone else's process: every read of the stack is checked
 * against the thread's stack bounds (and the CFA must grow strictly), so a
 * wrong rule garbles a stack, never crashes; .eh_frame data is read only
 * inside dl_iterate_phdr's callback (the loader's lock is held, so the
 * module cannot be unmapped meanwhile) and only within the PT_LOAD segment
 * that holds the module's .eh_frame_hdr.  libunwind calls dl_iterate_phdr
 * from our hooks in the same way on its own misses; we do on misses only.
 * No locks of ours, no malloc (the cache is mmap'ed), errno untouched.
 */
#include "config.h"

#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/mem.h"
#include "agent/modules.h"
#include "agent/unwind.h"

#if defined(__x86_64__)

/* The cache: slot from the pc's low bits, tag = pc >> CACHE_BITS in the
 * word's upper 32 bits (user pcs are below 2^47, so the tag and the slot
 * identify the pc exactly).  A word is read and written whole (64-bit
 * aligned atomics): a reader sees either the old entry or the new one,
 * never half of each, and needs no lock.  512 KiB, touched as used. */
#define CACHE_BITS 16
#define CACHE_SLOTS (1u << CACHE_BITS)

/* The rule half of a cache word. */
#define R_VALID 0x1u          /* in every rule: a rule word is never 0 */
#define R_OUTERMOST 0x2u      /* the return address is undefined: stop */
#define R_UNKNOWN 0x4u        /* not modelled: use libunwind */
#define R_CFA_RBP 0x8u        /* CFA = RBP + off, else RSP + off */
#define R_RBP_SAVED 0x10u     /* the caller's RBP at CFA + k, else unchanged */
#define R_OFF_SHIFT 5         /* 16 bits: off / 8 */
#define R_OFF_MAX (0xffff * 8)
#define R_K_SHIFT 21          /* 8 bits, signed: k / 8 */
#define R_CUT 0x20000000u     /* not known, and a fork in progress keeps the
				 hooks from asking the loader: the stack ends
				 here this time (never cached) */

static uint64_t *cache;
/* dlpi_subs (objects unloaded so far) + 1 when the cache was last checked
 * (0: never).  Loading objects leaves the rules of the others true (a pc in
 * no object is not cached), so only unloading empties the cache. */
static uint64_t cache_gen;

/* Return addresses' low bits are as spread as a hash of them would be. */
static inline unsigned cache_slot(uintptr_t pc)
{
	return (unsigned)(pc & (CACHE_SLOTS - 1));
}

static int cache_create(void)
{
	uint64_t *c = mem_map(CACHE_SLOTS * sizeof *c), *none = NULL;
	if (!c)
		return 0;
	if (!__atomic_compare_exchange_n(&cache, &none, c, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		mem_unmap(c, CACHE_SLOTS * sizeof *c);
	return 1;
}

/*
 * Objects were unloaded: forget every rule.  Called inside dl_iterate_phdr,
 * so misses (which also write inside it) are serialised with it; readers
 * see old rules or empty slots.  Between the dlclose and the next miss of
 * any thread, hits may still return rules of code that is gone (or of new
 * code mapped at the same address), and a thread's last walk may be
 * reused: such a stack is garbled, but the walk stays within the thread's
 * stack and cannot crash.
 */
static void cache_flush(void)
{
	/* Zero pages again, without touching those never used. */
	if (madvise(cache, CACHE_SLOTS * sizeof *cache, MADV_DONTNEED) == 0)
		return;
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		__atomic_store_n(&cache[i], 0, __ATOMIC_RELAXED);
}

/* --- reading .eh_frame ------------------------------------------------- */

/* A readable range: every byte read from .eh_frame data is checked
 * against it. */
struct span {
	const uint8_t *lo, *hi;
};

static int take(const struct span *s, const uint8_t *p, size_t n)
{
	return p >= s->lo && p <= s->hi && (size_t)(s->hi - p) >= n;
}

static int read_uleb(const struct span *s, const uint8_t **pp, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (!take(s, *pp, 1))
			return 0;
		uint8_t b = *(*pp)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 1;
		}
	}
	return 0;
}

static int read_sleb(const struct span *s, const uint8_t **pp, int64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (!take(s, *pp, 1))
			return 0;
		uint8_t b = *(*pp)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (shift + 7 < 64 && (b & 0x40))
				r |= ~UINT64_C(0) << (shift + 7);
			*v = (int64_t)r;
			return 1;
		}
	}
	return 0;
}

static int read_fixed(const struct span *s, const uint8_t **pp, unsigned n, uint64_t *v)
{
	if (!take(s, *pp, n))
		return 0;
	uint64_t r = 0;
	for (unsigned i = 0; i < n; i++)
		r |= (uint64_t)(*pp)[i] << (8 * i); /* x86-64: little-endian */
	*pp += n;
	*v = r;
	return 1;
}

/* DW_EH_PE_* pointer encodings */
#define PE_OMIT 0xff
#define PE_INDIRECT 0x80
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
#define PE_ALIGNED 0x50

/* Read a pointer of encoding ENC.  APPLY: add the base (pcrel: the field's
 * address; datarel: DATAREL); 0 for an FDE's address range, which is a
 * bare length.  The indirect flag is only allowed where the value is
 * skipped (a personality routine). */
static int read_encoded(const struct span *s, const uint8_t **pp, uint8_t enc, int apply,
			uintptr_t datarel, uintptr_t *out)
{
	const uint8_t *field = *pp;
	uint64_t u;
	int64_t i;
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		if (!read_fixed(s, pp, 8, &u))
			return 0;
		break;
	case 0x01:
		if (!read_uleb(s, pp, &u))
			return 0;
		break;
	case 0x09:
		if (!read_sleb(s, pp, &i))
			return 0;
		u = (uint64_t)i;
		break;
	case 0x02:
		if (!read_fixed(s, pp, 2, &u))
			return 0;
		break;
	case 0x0a:
		if (!read_fixed(s, pp, 2, &u))
			return 0;
		u = (uint64_t)(int64_t)(int16_t)u;
		break;
	case 0x03:
		if (!read_fixed(s, pp, 4, &u))
			return 0;
		break;
	case 0x0b:
		if (!read_fixed(s, pp, 4, &u))
			return 0;
		u = (uint64_t)(int64_t)(int32_t)u;
		break;
	default:
		return 0;
	}
	if (apply) {
		switch (enc & 0x70) {
		case 0x00:
			break;
		case PE_PCREL:
			u += (uintptr_t)field;
			break;
		case PE_DATAREL:
			if (!datarel)
				return 0;
			u += datarel;
			break;
		default: /* textrel, funcrel, aligned: not used on x86-64 */
			return 0;
		}
	}
	*out = (uintptr_t)u;
	return 1;
}

/* --- the CFA program ----------------------------------------------------- */

enum { CFA_RSP, CFA_RBP, CFA_OTHER };
enum { REG_SAME, REG_AT_CFA, REG_UNDEF, REG_OTHER };

/* The rules of the registers the walk follows. */
struct row {
	uint8_t cfa;     /* CFA_* */
	uint8_t rbp;     /* REG_* */
	uint8_t ra;      /* REG_* */
	uint8_t rsp;     /* REG_SAME (the default: RSP = CFA) or REG_OTHER */
	int64_t cfa_off, rbp_off, ra_off;
};

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	int has_aug_data;
	const uint8_t *insns, *end;
};

#define DW_REG_RBP 6
#define DW_REG_RSP 7
#define DW_REG_RA 16
#define REMEMBER_DEPTH 8

static void set_reg(struct row *r, uint64_t reg, uint8_t kind, int64_t off)
{
	if (reg == DW_REG_RBP) {
		r->rbp = kind;
		r->rbp_off = off;
	} else if (reg == DW_REG_RA) {
		r->ra = kind;
		r->ra_off = off;
	} else if (reg == DW_REG_RSP) {
		r->rsp = REG_OTHER; /* any explicit rule for RSP is not modelled */
	}
	/* Other registers do not matter to the walk. */
}

static void restore_reg(struct row *r, const struct row *init, uint64_t reg)
{
	if (reg == DW_REG_RBP) {
		r->rbp = init->rbp;
		r->rbp_off = init->rbp_off;
	} else if (reg == DW_REG_RA) {
		r->ra = init->ra;
		r->ra_off = init->ra_off;
	} else if (reg == DW_REG_RSP) {
		r->rsp = init->rsp;
	}
}

static void def_cfa_reg(struct row *r, uint64_t reg)
{
	r->cfa = reg == DW_REG_RSP ? CFA_RSP : reg == DW_REG_RBP ? CFA_RBP : CFA_OTHER;
}

/* Run the CFA instructions in [p, end) from address LOC while the row
 * applies to PC.  INIT is the CIE's row (for restore), NULL while running
 * the CIE's own instructions.  Returns 0 on an instruction not modelled. */
static int run_cfa(const struct span *s, const uint8_t *p, const uint8_t *end,
		   const struct cie *c, uintptr_t loc, uintptr_t pc, struct row *r,
		   const struct row *init)
{
	struct row stack[REMEMBER_DEPTH];
	unsigned depth = 0;
	struct span in = { s->lo, end };
	uint64_t reg, u, delta;
	int64_t i;
	while (p < end) {
		uint8_t op = *p++;
		delta = 0;
		switch (op >> 6) {
		case 1: /* DW_CFA_advance_loc */
			delta = op & 0x3f;
			goto advance;
		case 2: /* DW_CFA_offset */
			if (!read_uleb(&in, &p, &u))
				return 0;
			set_reg(r, op & 0x3f, REG_AT_CFA, (int64_t)u * c->data_align);
			continue;
		case 3: /* DW_CFA_restore */
			if (!init)
				return 0;
			restore_reg(r, init, op & 0x3f);
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
			continue;
		case 0x02: /* advance_loc1 */
			if (!read_fixed(&in, &p, 1, &delta))
				return 0;
			goto advance;
		case 0x03: /* advance_loc2 */
			if (!read_fixed(&in, &p, 2, &delta))
				return 0;
			goto advance;
		case 0x04: /* advance_loc4 */
			if (!read_fixed(&in, &p, 4, &delta))
				return 0;
			goto advance;
		case 0x05: /* offset_extended */
			if (!read_uleb(&in, &p, &reg) || !read_uleb(&in, &p, &u))
				return 0;
			set_reg(r, reg, REG_AT_CFA, (int64_t)u * c->data_align);
			continue;
		case 0x06: /* restore_extended */
			if (!init || !read_uleb(&in, &p, &reg))
				return 0;
			restore_reg(r, init, reg);
			continue;
		case 0x07: /* undefined */
			if (!read_uleb(&in, &p, &reg))
				return 0;
			set_reg(r, reg, REG_UNDEF, 0);
			continue;
		case 0x08: /* same_value */
			if (!read_uleb(&in, &p, &reg))
				return 0;
			set_reg(r, reg, reg == DW_REG_RSP ? REG_OTHER : REG_SAME, 0);
			continue;
		case 0x09: /* register */
			if (!read_uleb(&in, &p, &reg) || !read_uleb(&in, &p, &u))
				return 0;
			set_reg(r, reg, REG_OTHER, 0);
			continue;
		case 0x0a: /* remember_state */
			if (depth == REMEMBER_DEPTH)
				return 0;
			stack[depth++] = *r;
			continue;
		case 0x0b: /* restore_state */
			if (depth == 0)
				return 0;
			/* The CFA is not part of the remembered state's
			 * registers in DWARF, but GCC and every unwinder treat
			 * it as such: restore the whole row. */
			*r = stack[--depth];
			continue;
		case 0x0c: /* def_cfa */
			if (!read_uleb(&in, &p, &reg) || !read_uleb(&in, &p, &u))
				return 0;
			def_cfa_reg(r, reg);
			r->cfa_off = (int64_t)u;
			continue;
		case 0x0d: /* def_cfa_register */
			if (!read_uleb(&in, &p, &reg))
				return 0;
			def_cfa_reg(r, reg);
			continue;
		case 0x0e: /* def_cfa_offset */
			if (!read_uleb(&in, &p, &u))
				return 0;
			r->cfa_off = (int64_t)u;
			continue;
		case 0x0f: /* def_cfa_expression */
			if (!read_uleb(&in, &p, &u) || !take(&in, p, u))
				return 0;
			p += u;
			r->cfa = CFA_OTHER;
			continue;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			if (!read_uleb(&in, &p, &reg) || !read_uleb(&in, &p, &u) || !take(&in, p, u))
				return 0;
			p += u;
			set_reg(r, reg, REG_OTHER, 0);
			continue;
		case 0x11: /* offset_extended_sf */
			if (!read_uleb(&in, &p, &reg) || !read_sleb(&in, &p, &i))
				return 0;
			set_reg(r, reg, REG_AT_CFA, i * c->data_align);
			continue;
		case 0x12: /* def_cfa_sf */
			if (!read_uleb(&in, &p, &reg) || !read_sleb(&in, &p, &i))
				return 0;
			def_cfa_reg(r, reg);
			r->cfa_off = i * c->data_align;
			continue;
		case 0x13: /* def_cfa_offset_sf */
			if (!read_sleb(&in, &p, &i))
				return 0;
			r->cfa_off = i * c->data_align;
			continue;
		case 0x14: /* val_offset */
			if (!read_uleb(&in, &p, &reg) || !read_uleb(&in, &p, &u))
				return 0;
			set_reg(r, reg, REG_OTHER, 0);
			continue;
		case 0x15: /* val_offset_sf */
			if (!read_uleb(&in, &p, &reg) || !read_sleb(&in, &p, &i))
				return 0;
			set_reg(r, reg, REG_OTHER, 0);
			continue;
		case 0x2e: /* GNU_args_size: for landing pads, not the CFA */
			if (!read_uleb(&in, &p, &u))
				return 0;
			continue;
		default: /* set_loc, GNU_negative_offset_extended, vendor ops */
			return 0;
		}
advance:
		loc += delta * c->code_align;
		if (loc > pc)
			return 1;
	}
	return 1;
}

/* Parse the CIE at P (its length field) into C and run its instructions
 * into R. */
static int parse_cie(const struct span *s, const uint8_t *p, struct cie *c, struct row *r)
{
	uint64_t len, id, version, u;
	if (!read_fixed(s, &p, 4, &len) || len == 0xffffffff || !take(s, p, len))
		return 0;
	const uint8_t *end = p + len;
	struct span in = { s->lo, end };
	if (!read_fixed(&in, &p, 4, &id) || id != 0 || !read_fixed(&in, &p, 1, &version) ||
	    (version != 1 && version != 3))
		return 0;
	const uint8_t *aug = p;
	while (take(&in, p, 1) && *p)
		p++;
	if (!take(&in, p, 1))
		return 0;
	p++;
	if (!read_uleb(&in, &p, &c->code_align) || !read_sleb(&in, &p, &c->data_align))
		return 0;
	if (version == 1) {
		if (!read_fixed(&in, &p, 1, &u))
			return 0;
	} else if (!read_uleb(&in, &p, &u)) {
		return 0;
	}
	if (u != DW_REG_RA)
		return 0;
	c->fde_enc = 0; /* absptr */
	c->has_aug_data = aug[0] == 'z';
	if (aug[0] && aug[0] != 'z')
		return 0; /* "eh" and other ancient forms */
	if (c->has_aug_data) {
		uint64_t alen;
		if (!read_uleb(&in, &p, &alen) || !take(&in, p, alen))
			return 0;
		const uint8_t *q = p, *aend = p + alen;
		struct span as = { s->lo, aend };
		for (const uint8_t *a = aug + 1; *a; a++) {
			uint64_t e;
			uintptr_t skip;
			switch (*a) {
			case 'R':
				if (!read_fixed(&as, &q, 1, &e))
					return 0;
				c->fde_enc = (uint8_t)e;
				break;
			case 'L':
				if (!read_fixed(&as, &q, 1, &e))
					return 0;
				break;
			case 'P': /* the personality routine: skipped, not followed */
				if (!read_fixed(&as, &q, 1, &e) || (e & 0x70) == PE_ALIGNED ||
				    !read_encoded(&as, &q, (uint8_t)(e & ~PE_INDIRECT), 0, 0, &skip))
					return 0;
				break;
			default: /* 'S' (signal frame), 'B', 'G': not modelled */
				return 0;
			}
		}
		p = aend;
	}
	c->insns = p;
	c->end = end;
	r->cfa = CFA_OTHER;
	r->cfa_off = 0;
	r->rbp = REG_SAME;
	r->rbp_off = 0;
	r->ra = REG_OTHER;
	r->ra_off = 0;
	r->rsp = REG_SAME;
	return run_cfa(s, c->insns, end, c, 0, UINTPTR_MAX, r, NULL);
}

/* Pack a row into the rule half of a cache word. */
static uint32_t rule_of_row(const struct row *r)
{
	if (r->ra == REG_UNDEF)
		return R_VALID | R_OUTERMOST;
	if (r->ra != REG_AT_CFA || r->ra_off != -8 || r->rsp != REG_SAME ||
	    r->cfa == CFA_OTHER || r->cfa_off <= 0 || r->cfa_off > R_OFF_MAX || (r->cfa_off & 7))
		return R_VALID | R_UNKNOWN;
	uint32_t rule = R_VALID | (uint32_t)(r->cfa_off / 8) << R_OFF_SHIFT;
	if (r->cfa == CFA_RBP)
		rule |= R_CFA_RBP;
	if (r->rbp == REG_AT_CFA) {
		if ((r->rbp_off & 7) || r->rbp_off < -128 * 8 || r->rbp_off >= 0)
			return R_VALID | R_UNKNOWN;
		rule |= R_RBP_SAVED | (uint32_t)(uint8_t)(int8_t)(r->rbp_off / 8) << R_K_SHIFT;
	} else if (r->rbp != REG_SAME) {
		return R_VALID | R_UNKNOWN;
	}
	return rule;
}

/* The rule at PC, from the FDE found through the .eh_frame_hdr at HDR,
 * every read within S. */
static uint32_t rule_from_hdr(const struct span *s, const uint8_t *hdr, uintptr_t pc)
{
	const uint32_t unknown = R_VALID | R_UNKNOWN;
	const uint8_t *p = hdr;
	uint64_t version, ptr_enc, count_enc, table_enc;
	uintptr_t skip, count;
	if (!read_fixed(s, &p, 1, &version) || version != 1 || !read_fixed(s, &p, 1, &ptr_enc) ||
	    !read_fixed(s, &p, 1, &count_enc) || !read_fixed(s, &p, 1, &table_enc) ||
	    !read_encoded(s, &p, (uint8_t)ptr_enc, 1, (uintptr_t)hdr, &skip) ||
	    !read_encoded(s, &p, (uint8_t)count_enc, 1, (uintptr_t)hdr, &count))
		return unknown;
	/* The binary-search table: pairs of datarel sdata4 (pc, FDE). */
	if (table_enc != (PE_DATAREL | 0x0b) || count == 0 || count > (1u << 28) ||
	    !take(s, p, count * 8))
		return unknown;
	const int32_t *table = (const int32_t *)(const void *)p;
	intptr_t rel = (intptr_t)(pc - (uintptr_t)hdr);
	if (rel < table[0])
		return unknown;
	size_t lo = 0, hi = count; /* table[lo] <= rel < table[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (table[2 * mid] <= rel)
			lo = mid;
		else
			hi = mid;
	}
	const uint8_t *fde = hdr + table[2 * lo + 1], *q = fde;
	uint64_t len, cie_off;
	if (!read_fixed(s, &q, 4, &len) || len == 0xffffffff || !take(s, q, len))
		return unknown;
	const uint8_t *end = q + len;
	struct span in = { s->lo, end };
	const uint8_t *cie_field = q;
	if (!read_fixed(&in, &q, 4, &cie_off) || cie_off == 0)
		return unknown;
	struct cie c;
	struct row init, r;
	if (!parse_cie(s, cie_field - cie_off, &c, &init))
		return unknown;
	uintptr_t start, range;
	if (!read_encoded(&in, &q, c.fde_enc, 1, 0, &start) ||
	    !read_encoded(&in, &q, c.fde_enc & 0x0f, 0, 0, &range))
		return unknown;
	if (pc < start || pc - start >= range)
		return unknown; /* between FDEs: no CFI for this pc */
	if (c.has_aug_data) {
		uint64_t alen;
		if (!read_uleb(&in, &q, &alen) || !take(&in, q, alen))
			return unknown;
		q += alen;
	}
	r = init;
	if (!run_cfa(s, q, end, &c, start, pc, &r, &init))
		return unknown;
	return rule_of_row(&r);
}

struct miss {
	uintptr_t pc;
	uint32_t rule;
	int first;
};

/* One loaded object: when it holds the pc, work out the rule there. */
static int miss_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct miss *m = data;
	if (m->first) {
		m->first = 0;
		if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
			uint64_t gen = info->dlpi_subs + 1;
			if (__atomic_load_n(&cache_gen, __ATOMIC_RELAXED) != gen) {
				if (__atomic_load_n(&cache_gen, __ATOMIC_RELAXED))
					cache_flush();
				__atomic_store_n(&cache_gen, gen, __ATOMIC_RELAXED);
			}
		}
	}
	const ElfW(Phdr) *eh = NULL;
	int inside = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
		else if (ph->p_type == PT_LOAD && m->pc - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
			inside = 1;
	}
	if (!inside)
		return 0;
	m->rule = R_VALID | R_UNKNOWN;
	if (!eh)
		return 1;
	uintptr_t hdr = info->dlpi_addr + eh->p_vaddr;
	/* Reads stay in the PT_LOAD segment that maps .eh_frame_hdr. */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t seg = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && hdr - seg < ph->p_memsz) {
			struct span s = { (const uint8_t *)seg, (const uint8_t *)seg + ph->p_memsz };
			m->rule = rule_from_hdr(&s, (const uint8_t *)hdr, m->pc);
			break;
		}
	}
	uint64_t tag = (uint64_t)(m->pc >> CACHE_BITS);
	if (tag <= UINT32_MAX)
		__atomic_store_n(&cache[cache_slot(m->pc)], tag << 32 | m->rule, __ATOMIC_RELAXED);
	return 1;
}

static __attribute__((noinline)) uint32_t rule_miss(uintptr_t pc)
{
	struct miss m = { pc, 0, 1 };
	if (modules_iterate_gated(miss_cb, &m) < 0)
		return R_VALID | R_CUT;
	if (m.rule)
		return m.rule;
	/* A pc in no object (JIT code): "unknown" is cached too, outside the
	 * loader's lock.  Should a flush come in between, or an object be
	 * loaded there later, the slot only sends that pc to libunwind. */
	uint64_t tag = (uint64_t)(pc >> CACHE_BITS);
	if (tag <= UINT32_MAX)
		__atomic_store_n(&cache[cache_slot(pc)], tag << 32 | R_VALID | R_UNKNOWN,
				 __ATOMIC_RELAXED);
	return R_VALID | R_UNKNOWN;
}

/* The rule at PC: one load on a hit.  An empty slot (0) never matches, as
 * no code lives below 64 KiB. */
static inline uint32_t rule_at(const uint64_t *c, uintptr_t pc)
{
	uint64_t e = __atomic_load_n(&c[cache_slot(pc)], __ATOMIC_RELAXED);
	if (__builtin_expect((e >> 32) == (pc >> CACHE_BITS), 1))
		return (uint32_t)e;
	return rule_miss(pc);
}

int unwind_available(void)
{
	return 1;
}

/* Registers of the frame being unwound. */
struct regs {
	uintptr_t pc; /* where to look its rule up */
	uintptr_t sp, bp;
};

/*
 * What a walk read to get one caller frame, kept per thread: the next
 * stack usually shares its outer frames with the previous one, and when
 * the walk reaches a frame with the same sp and return address as last
 * time, the rest can be checked by re-reading the same stack slots
 * (independent loads, no rule look-ups) instead of walked.
 */
struct frame {
	uintptr_t sp, ra; /* the caller's sp and return address after this step */
	uintptr_t bp_at;  /* where this step read bp (0: it did not), or'ed
			     with FRAME_CFA_RBP */
	uintptr_t cfa_bp; /* with FRAME_CFA_RBP, the bp the CFA came from */
};
#define FRAME_CFA_RBP 0x1u  /* this step's CFA was bp + off */
#define FRAME_FLAGS 0x7u
#define LOG_FRAMES 64

struct walk_log {
	unsigned n;      /* frames in f, the caller's only */
	int more;        /* the stack may go on above f[n - 1]: the walk
			    stopped at the depth limit or the log's size, or
			    at a 0 return address (which may change) */
	struct frame f[LOG_FRAMES + 1]; /* f[n] is END */
};

/* After a log's last frame: above every sp, so a search for a frame at an
 * sp stops there without counting. */
static const struct frame END = { UINTPTR_MAX, 0, 0, 0 };

/* A thread's last walk's log and the one being written, in turn: in the
 * memory the caller keeps per thread (not static TLS, which glibc carves
 * out of every thread's stack). */
struct unwind_logs {
	struct walk_log logs[2];
	unsigned last;
};

size_t unwind_logs_size(void)
{
	return sizeof(struct unwind_logs);
}

enum { STEP_OK, STEP_END, STEP_ZERO, STEP_FAIL, STEP_CUT };

/*
 * One frame up: F gets the caller's state and what was read, R the
 * caller's registers.  Invariants that make every read safe: lo <= sp, sp
 * 8-aligned, and each CFA 8-aligned, above the frame's sp (so CFA - 8 >=
 * lo) and at most hi; a saved RBP lies between the frame's sp and its CFA
 * (rule_of_row only makes rules with k < 0).  The CFA strictly grows, so
 * a walk ends.
 */
static inline __attribute__((always_inline)) int step(const uint64_t *c, struct regs *r,
						      uintptr_t hi, struct frame *f)
{
	uint32_t rule = rule_at(c, r->pc);
	if (__builtin_expect(rule & (R_OUTERMOST | R_UNKNOWN | R_CUT), 0))
		return rule & R_UNKNOWN ? STEP_FAIL : rule & R_CUT ? STEP_CUT : STEP_END;
	uintptr_t off = (uintptr_t)(rule >> R_OFF_SHIFT & 0xffff) * 8, cfa;
	f->bp_at = 0;
	f->cfa_bp = r->bp;
	if (rule & R_CFA_RBP) {
		cfa = r->bp + off;
		if (cfa <= r->sp || (cfa & 7))
			return STEP_FAIL;
		f->bp_at = FRAME_CFA_RBP;
	} else {
		cfa = r->sp + off; /* off > 0, a multiple of 8 */
	}
	if (cfa > hi)
		return STEP_FAIL;
	uintptr_t ra = ((const uintptr_t *)cfa)[-1];
	if (rule & R_RBP_SAVED) {
		uintptr_t at = cfa + (uintptr_t)(intptr_t)(int8_t)(rule >> R_K_SHIFT & 0xff) * 8;
		if (at < r->sp)
			return STEP_FAIL;
		r->bp = *(const uintptr_t *)at;
		f->bp_at |= at;
	}
	r->sp = f->sp = cfa;
	f->ra = ra;
	r->pc = ra - 1;
	return ra ? STEP_OK : STEP_ZERO; /* 0 ends the chain, as for libunwind */
}

/*
 * The walk is at OLD->f[J]'s sp and return address, with frame pointer
 * *BP: redo the steps after it from OLD instead of the rule cache, into
 * LF and PCS from N on (at most TO in all).  A step's rule is the one it
 * had, as its pc is the same; its CFA is the same when its sp is, or when
 * the bp it starts from is (for CFA = bp + off); then re-reading the return
 * address slot (and the saved bp's) is the whole step, and the frame is
 * the old one.  Returns the new count with *BP the last frame's, or 0 with
 * *BAD = the old frame that differs.
 */
static unsigned replay(const struct walk_log *old, unsigned j, uintptr_t *bp_io,
		       struct frame *restrict lf, uintptr_t *restrict pcs, unsigned n, unsigned to,
		       unsigned *bad)
{
	const struct frame *restrict o = old->f + j + 1;
	uintptr_t bp = *bp_io;
	/* Frames to redo, counted once: the loop then keeps no bound in
	 * memory that its stores could seem to change. */
	unsigned left = old->n - (j + 1), room = to - n, k = left < room ? left : room;
	struct frame *restrict out = lf + n;
	uintptr_t *restrict pc = pcs + n;
	for (unsigned i = 0; i < k; i++) {
		uintptr_t ra = o[i].ra, flags = o[i].bp_at;
		if (((const uintptr_t *)o[i].sp)[-1] != ra ||
		    ((flags & FRAME_CFA_RBP) && bp != o[i].cfa_bp)) {
			*bad = j + 1 + i;
			return 0;
		}
		uintptr_t at = flags & ~(uintptr_t)FRAME_FLAGS;
		if (at)
			bp = *(const uintptr_t *)at;
		out[i] = o[i];
		pc[i] = ra;
	}
	*bp_io = bp;
	return n + k;
}

int unwind_dwarf(void *state, uintptr_t *pcs, unsigned max, uintptr_t lo, uintptr_t hi)
{
	struct unwind_logs *logs = state;
	const uint64_t *c = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);
	if (!c) {
		if (!cache_create())
			return -1;
		c = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);
	}
	struct regs r;
	/* This function's own frame: where it is, its stack and frame
	 * registers at that very instruction (the lea does not change them). */
	__asm__ volatile("lea 0(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=&r"(r.pc), "=&r"(r.sp), "=&r"(r.bp));
	if (r.sp < lo || r.sp >= hi || (r.sp & 7) || max == 0)
		return -1;
	const struct walk_log *old = &logs->logs[logs->last];
	struct walk_log *l = &logs->logs[logs->last ^ 1];
	struct frame *restrict lf = l->f, spare, *f = lf;
	/* A handful of the agent's own frames lead to the caller's. */
	for (unsigned ours = 0;; ours++) {
		if (ours == 32 || step(c, &r, hi, f) != STEP_OK)
			return -1;
		if (!modules_in_agent(f->ra))
			break;
	}
	const unsigned on = old->n, to = max < LOG_FRAMES ? max : LOG_FRAMES;
	/* A log never written is all zeroes, without its END. */
	const struct frame *of = on ? old->f : &END, *q = of;
	unsigned n = 0;
	int more = 1; /* the stack may go on above the last frame */
	for (;;) {
		pcs[n++] = f->ra;
		/* Last walk's frame at this sp, if any: both logs go up. */
		uintptr_t sp = f->sp;
		while (q->sp < sp)
			q++;
		if (q->sp == sp && q->ra == f->ra && n < to) {
			unsigned j = (unsigned)(q - of), bad = on;
			unsigned m = replay(old, j, &r.bp, lf, pcs, n, to, &bad);
			if (m) {
				unsigned used = j + 1 + (m - n); /* old frames gone through */
				n = m;
				q = of + on; /* no more matching: of[on] is END */
				if (used == on && !old->more) {
					more = 0;
					break;
				}
				if (n == max)
					break;
				/* The log ended first: walk on from its top. */
				r.sp = lf[n - 1].sp;
				r.pc = lf[n - 1].ra - 1;
			} else {
				q = of + bad; /* nothing below it can match either */
			}
		}
		if (n == max)
			break;
		f = n < LOG_FRAMES ? &lf[n] : &spare;
		int s = step(c, &r, hi, f);
		if (s != STEP_OK) {
			if (s == STEP_FAIL)
				return -1;
			/* Only an undefined return address is known to be the
			 * end: a 0 read from the stack may not be there next
			 * time, and a cut one goes on. */
			more = s == STEP_ZERO || s == STEP_CUT;
			break;
		}
	}
	l->n = n < LOG_FRAMES ? n : LOG_FRAMES;
	l->f[l->n] = END;
	l->more = more || n > LOG_FRAMES;
	logs->last ^= 1;
	return (int)n;
}

#else /* not x86-64 */

int unwind_available(void)
{
	return 0;
}

size_t unwind_logs_size(void)
{
	return 0;
}

int unwind_dwarf(void *state, uintptr_t *pcs, unsigned max, uintptr_t lo, uintptr_t hi)
{
	return -1;
}

#endif

/* --- HEAPTOP_UNWIND_CHECK ---------------------------------------------- */

static uint64_t checked, fell_back, mismatched;

void unwind_check_fallback(void)
{
	__atomic_add_fetch(&fell_back, 1, __ATOMIC_RELAXED);
}

static void say_stack(const char *what, const uintptr_t *pcs, unsigned n)
{
	char buf[HT_MAX_DEPTH * 20 + 64];
	struct path_buf b = { buf, sizeof buf, 0 };
	path_add(&b, what);
	for (unsigned i = 0; i < n; i++) {
		char hex[20];
		int k = (int)sizeof hex - 1;
		hex[k] = '\0';
		uintptr_t v = pcs[i];
		do
			hex[--k] = "0123456789abcdef"[v & 15];
		while ((v >>= 4) && k > 3);
		hex[--k] = 'x';
		hex[--k] = '0';
		hex[--k] = ' ';
		path_add(&b, hex + k);
	}
	path_add(&b, "\n");
	agent_say(buf, b.len < sizeof buf ? b.len : sizeof buf - 1);
}

void unwind_check_compare(const uintptr_t *pcs, unsigned n, const uintptr_t *ref, unsigned nref)
{
	__atomic_add_fetch(&checked, 1, __ATOMIC_RELAXED);
	int same = n == nref;
	for (unsigned i = 0; same && i < n; i++)
		same = pcs[i] == ref[i];
	if (same)
		return;
	/* The first few are shown: enough to find the frame that differs. */
	if (__atomic_add_fetch(&mismatched, 1, __ATOMIC_RELAXED) <= 3) {
		say_stack("heaptop: unwind check: dwarf    ", pcs, n);
		say_stack("heaptop: unwind check: libunwind", ref, nref);
	}
}

__attribute__((destructor)) static void unwind_check_report(void)
{
	uint64_t c = __atomic_load_n(&checked, __ATOMIC_RELAXED);
	uint64_t f = __atomic_load_n(&fell_back, __ATOMIC_RELAXED);
	if (!c && !f)
		return;
	char buf[160];
	struct path_buf b = { buf, sizeof buf, 0 };
	path_add(&b, "heaptop: unwind check: pid ");
	path_add_uint(&b, (uint64_t)getpid());
	path_add(&b, " compared ");
	path_add_uint(&b, c);
	path_add(&b, " fallbacks ");
	path_add_uint(&b, f);
	path_add(&b, " mismatches ");
	path_add_uint(&b, __atomic_load_n(&mismatched, __ATOMIC_RELAXED));
	path_add(&b, "\n");
	agent_say(buf, b.len < sizeof buf ? b.len : sizeof buf - 1);
}
