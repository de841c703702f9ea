/*
 * Symbolizer: program counters of a traced process to function, file:line
 * and inline frames, out of process, with elfutils libdw.
 *
 * Modules are declared up front and reported to libdw lazily, on the first
 * address that falls in one, by path; the target may have exited, so
 * nothing here reads /proc/PID.  Four layers keep repeated work cheap:
 *  - the result of every (module, address) lookup is cached in an
 *    open-addressing hash table, so a second lookup is one probe;
 *  - each compilation unit gets a sorted index of its functions' address
 *    ranges, built on its first lookup, from which only the one function
 *    is descended for inlined calls: dwarf_getscopes walks the whole unit
 *    on every call, and again to find an inlined call's origin (50 us per
 *    address in libc, 5 ms in a 2 MB C++ program, against 5-10 us here);
 *  - each module gets a sorted STT_FUNC index for code without debug
 *    information, built on first need: dwfl_module_addrname scans the
 *    whole symbol table on every call (0.15-1.7 ms on large libraries);
 *  - raw strings from libdw (which live as long as the Dwfl) are memoized
 *    by address to their interned, demangled form, so a function's name is
 *    demangled and hashed once, not once per address inside it.
 *
 * Not thread-safe: one symbolizer belongs to one thread.
 */
#include "config.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strpool.h"
#include "common/xalloc.h"
#include "viewer/rustname.h"
#include "viewer/symbolizer.h"

/* Deepest inline chain kept for one address (innermost frames win). */
#define SYM_MAX_DEPTH 64
/* Interned strings are packed into chunks of this size. */
/* A sized symbol or function range that does not contain the address may
 * still be nested in an earlier one; look back this many entries for it. */
#define SYM_LOOKBACK 4
/* Deepest chain of DWARF scopes (inlined calls and lexical blocks) kept. */
#define SYM_MAX_SCOPES 128
/* How deep namespaces and classes are searched for function definitions. */
#define SYM_MAX_NEST 16

/* One entry of a module's function index. */
struct sym_symbol {
	uint64_t addr;    /* absolute, in the target's address space */
	uint64_t end;     /* past the last byte: addr + size, or for a sizeless
			   * (assembly) symbol the next symbol or its section's end */
	const char *name; /* raw, owned by libelf until dwfl_end */
	unsigned rank;    /* which of several names for one address wins */
};

/* A function's address range in a compilation unit's function index. */
struct sym_func {
	Dwarf_Addr lo, hi; /* DWARF addresses: [lo, hi) */
	Dwarf_Die die;     /* the concrete DW_TAG_subprogram */
};

/* The function index of one compilation unit, built on its first lookup
 * (see the top of the file). */
struct sym_cu {
	uint64_t key;           /* CU DIE offset + 1; 0 marks an empty slot */
	struct sym_func *funcs; /* owned; sorted by lo */
	size_t nfuncs;
	bool imports;           /* has DW_TAG_imported_unit: may be incomplete */
};

/* A compilation unit's address range, for units .debug_aranges omits. */
struct sym_curange {
	Dwarf_Addr lo, hi; /* DWARF addresses: [lo, hi) */
	Dwarf_Die cu;
};

struct sym_module {
	const char *path;      /* interned */
	uint8_t *build_id;     /* owned; NULL when none was declared */
	size_t build_id_len;
	uint64_t bias, lo, hi;
	uint32_t id;           /* index in symbolizer.all; part of the cache key */
	bool active;           /* in symbolizer.active (not displaced by an overlap) */
	bool opened;           /* reporting to libdw was attempted (only once) */
	bool syms_built;       /* syms is valid */
	Dwfl_Module *dwfl_mod; /* NULL: no ELF found, frames carry module/offset only */
	struct sym_symbol *syms; /* sorted by addr, one entry per address */
	size_t nsyms;
	struct sym_cu *cus;    /* CU function indexes; power of two, at most half full */
	size_t ncus, capcus;
	bool curanges_built;   /* curanges is valid */
	struct sym_curange *curanges; /* sorted by lo */
	size_t ncuranges;
	Dwarf_Addr dwbias;     /* of the units in curanges */
};

/* A cached frame; module and offset are filled in per lookup. */
struct sym_cframe {
	const char *function; /* interned or NULL */
	const char *file;     /* interned or NULL */
	unsigned line;
	int inlined;
};

/* Cache slot: the frames of one looked-up address. */
struct sym_slot {
	uint64_t offset; /* looked-up address minus the module's bias */
	uint32_t module; /* module id + 1; 0 marks an empty slot */
	uint32_t first;  /* index of the first frame in symbolizer.frames */
	uint32_t count;  /* >= 1 */
};

/* What a memoized raw string was turned into. */
enum sym_memo_mode {
	SYM_MEMO_PLAIN,     /* interned as is */
	SYM_MEMO_DEMANGLE,  /* demangled and interned, or NULL */
	SYM_MEMO_FILE,      /* joined to its compilation directory and interned */
	SYM_MEMO_QUALIFIED, /* a DIE (by address): its name with its scopes */
};

/* Memo slot: a raw libdw string (by address) to its interned form. */
struct sym_memo {
	uint64_t key;      /* raw pointer << 2 | mode; 0 marks an empty slot */
	const char *value; /* may be NULL: "does not demangle" is remembered too */
};

typedef char *(*sym_demangle_fn)(const char *, char *, size_t *, int *);

struct symbolizer {
	Dwfl *dwfl;

	struct sym_module **all;    /* owned; index = module id */
	size_t nall, capall;
	struct sym_module **active; /* sorted by lo, ranges disjoint */
	size_t nactive, capactive;

	struct sym_slot *slots;     /* cache; power-of-two size, at most half full */
	size_t nslots, capslots;
	struct sym_cframe *frames;  /* frames of every cached lookup */
	size_t nframes, capframes;

	struct strpool *strings;    /* every string handed out, once */

	struct sym_memo *memo;      /* power of two, at most half full */
	size_t nmemo, capmemo;

	bool demangle_tried;
	sym_demangle_fn demangle;   /* __cxa_demangle, or NULL when unavailable */
	void *libstdcxx;            /* our dlopen handle, if we needed one */

	size_t nsymbols, nfunctions;
	uint64_t lookups, hits, misses;
};

/* Offline callbacks: a module is opened by its path or found by build-id in
 * the debug directories (and by debuginfod, which the standard
 * find_debuginfo enables itself when DEBUGINFOD_URLS is set). */
static const Dwfl_Callbacks symbolizer_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* --- hashing and tables ---------------------------------------------- */

static uint64_t symbolizer_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t symbolizer_slot_hash(uint32_t module, uint64_t offset)
{
	return symbolizer_mix(offset ^ ((uint64_t)module << 47) ^ module);
}

/* --- interned strings ------------------------------------------------ */

/* The one stored copy of the LEN bytes at STR. */
static const char *symbolizer_intern(struct symbolizer *s, const char *str, size_t len)
{
	return strpool_intern(s->strings, str, len);
}

/* --- demangling ------------------------------------------------------ */

/* __cxa_demangle without linking libstdc++: take it from the process if
 * something already loaded it, else load libstdc++ once, on first use. */
static sym_demangle_fn symbolizer_demangler(struct symbolizer *s)
{
	if (s->demangle_tried)
		return s->demangle;
	s->demangle_tried = true;
	void *f = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (f == NULL) {
		s->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
		if (s->libstdcxx != NULL)
			f = dlsym(s->libstdcxx, "__cxa_demangle");
	}
	s->demangle = (sym_demangle_fn)f;
	return s->demangle;
}

/* The interned demangled form of the mangled C++ or Rust name RAW, or
 * NULL when it is not one or cannot be demangled. */
static const char *symbolizer_demangle(struct symbolizer *s, const char *raw)
{
	if (raw[0] == '_' && raw[1] == 'R') {
		char *d = rustname_demangle_v0(raw);
		const char *r = d != NULL ? symbolizer_intern(s, d, strlen(d)) : NULL;
		free(d);
		return r;
	}
	if (raw[0] != '_' || raw[1] != 'Z')
		return NULL;
	sym_demangle_fn demangle = symbolizer_demangler(s);
	if (demangle == NULL)
		return NULL;
	/* LLVM's suffix for local symbols made global (ThinLTO, Rust's
	 * codegen units), which __cxa_demangle does not read. */
	char *cut = NULL;
	const char *llvm = strstr(raw, ".llvm.");
	if (llvm != NULL)
		raw = cut = xstrndup(raw, (size_t)(llvm - raw));
	int status = -1;
	char *d = demangle(raw, NULL, NULL, &status);
	free(cut);
	const char *r = NULL;
	if (status == 0 && d != NULL) {
		rustname_tidy_legacy(d);
		r = symbolizer_intern(s, d, strlen(d));
	}
	free(d);
	return r;
}

static void symbolizer_memo_grow(struct symbolizer *s)
{
	size_t cap = s->capmemo ? s->capmemo * 2 : 1024;
	struct sym_memo *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < s->capmemo; i++) {
		struct sym_memo e = s->memo[i];
		if (e.key == 0)
			continue;
		size_t j = symbolizer_mix(e.key) & (cap - 1);
		while (t[j].key != 0)
			j = (j + 1) & (cap - 1);
		t[j] = e;
	}
	free(s->memo);
	s->memo = t;
	s->capmemo = cap;
}

/* The memo slot of RAW (a string owned by libdw) in MODE: filled, or
 * empty (key 0) for the caller to fill.  Memoized by address: libdw hands
 * out the same pointer for the same name, for as long as the Dwfl lives. */
static struct sym_memo *symbolizer_memo_slot(struct symbolizer *s, const char *raw,
					     enum sym_memo_mode mode)
{
	uint64_t key = (uint64_t)(uintptr_t)raw << 2 | (uint64_t)mode;
	if ((s->nmemo + 1) * 2 > s->capmemo)
		symbolizer_memo_grow(s);
	size_t mask = s->capmemo - 1;
	size_t i = symbolizer_mix(key) & mask;
	while (s->memo[i].key != 0 && s->memo[i].key != key)
		i = (i + 1) & mask;
	return &s->memo[i];
}

static void symbolizer_memo_fill(struct symbolizer *s, struct sym_memo *slot, const char *raw,
				 enum sym_memo_mode mode, const char *value)
{
	slot->key = (uint64_t)(uintptr_t)raw << 2 | (uint64_t)mode;
	slot->value = value;
	s->nmemo++;
}

/* RAW interned, or demangled and interned when DEMANGLE is set (NULL if it
 * does not demangle). */
static const char *symbolizer_memo(struct symbolizer *s, const char *raw, bool demangle)
{
	enum sym_memo_mode mode = demangle ? SYM_MEMO_DEMANGLE : SYM_MEMO_PLAIN;
	struct sym_memo *slot = symbolizer_memo_slot(s, raw, mode);
	if (slot->key != 0)
		return slot->value;
	const char *v = demangle ? symbolizer_demangle(s, raw)
				 : symbolizer_intern(s, raw, strlen(raw));
	symbolizer_memo_fill(s, slot, raw, mode, v);
	return v;
}

/* A raw symbol or DIE name as shown to the user: demangled when possible. */
static const char *symbolizer_name(struct symbolizer *s, const char *raw)
{
	const char *d = symbolizer_memo(s, raw, true);
	return d != NULL ? d : symbolizer_memo(s, raw, false);
}

/* Collapse "." and "dir/.." in the absolute path P, in place.  Lexical,
 * as debuggers display paths: only a symlinked directory followed by ".."
 * would resolve elsewhere, and build trees rarely have those. */
static void symbolizer_clean_path(char *p)
{
	char *out = p;
	const char *in = p;
	while (*in != '\0') {
		while (*in == '/')
			in++;
		const char *seg = in;
		while (*in != '\0' && *in != '/')
			in++;
		size_t n = (size_t)(in - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, n);
		out += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

/* The source file RAW of compilation unit CU as a full path.  libdw gives
 * line-table names relative to the compilation directory as they are;
 * they are joined to it when it is absolute.  Reproducible builds record a
 * relative one (".", "./csu"), and then the name is kept as recorded.
 * Absolute names are cleaned, so that one header reached through
 * different relative paths (clang's "/usr/bin/../lib/gcc/...") is one
 * file. */
static const char *symbolizer_file(struct symbolizer *s, Dwarf_Die *cu, const char *raw)
{
	struct sym_memo *slot = symbolizer_memo_slot(s, raw, SYM_MEMO_FILE);
	if (slot->key != 0)
		return slot->value;
	const char *dir = NULL;
	Dwarf_Attribute attr;
	if (raw[0] != '/')
		dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
	char *full = NULL;
	if (dir != NULL && dir[0] == '/')
		full = xasprintf("%s/%s", dir, raw);
	else if (raw[0] == '/' && strstr(raw, "/.") != NULL)
		full = xstrdup(raw);
	const char *v;
	if (full != NULL) {
		symbolizer_clean_path(full);
		v = symbolizer_intern(s, full, strlen(full));
		free(full);
	} else {
		v = symbolizer_intern(s, raw, strlen(raw));
	}
	symbolizer_memo_fill(s, slot, raw, SYM_MEMO_FILE, v);
	return v;
}

/* --- modules --------------------------------------------------------- */

/* The active module whose [lo, hi) holds PC, or NULL. */
static struct sym_module *symbolizer_module_at(const struct symbolizer *s, uint64_t pc)
{
	size_t a = 0, b = s->nactive;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (s->active[mid]->lo <= pc)
			a = mid + 1;
		else
			b = mid;
	}
	if (a == 0)
		return NULL;
	struct sym_module *m = s->active[a - 1];
	return pc < m->hi ? m : NULL;
}

/* Put M in the lookup array.  Modules it overlaps leave it: the newest
 * mapping of an address range wins (a library was unloaded and another
 * loaded in its place); they stay alive for the strings already handed out. */
static void symbolizer_activate(struct symbolizer *s, struct sym_module *m)
{
	size_t j = 0;
	for (size_t i = 0; i < s->nactive; i++) {
		struct sym_module *o = s->active[i];
		if (o->lo < m->hi && m->lo < o->hi)
			o->active = false;
		else
			s->active[j++] = o;
	}
	s->nactive = j;
	if (s->nactive == s->capactive) {
		s->capactive = s->capactive ? s->capactive * 2 : 16;
		s->active = xreallocarray(s->active, s->capactive, sizeof *s->active);
	}
	size_t pos = s->nactive;
	while (pos > 0 && s->active[pos - 1]->lo > m->lo)
		pos--;
	memmove(&s->active[pos + 1], &s->active[pos], (s->nactive - pos) * sizeof *s->active);
	s->active[pos] = m;
	s->nactive++;
	m->active = true;
}

void symbolizer_add_module(struct symbolizer *s, const char *path,
			   const uint8_t *build_id, size_t build_id_len,
			   uint64_t bias, uint64_t lo, uint64_t hi)
{
	if (path == NULL || lo >= hi)
		return;
	for (size_t i = 0; i < s->nall; i++) {
		struct sym_module *m = s->all[i];
		if (m->bias == bias && strcmp(m->path, path) == 0) {
			if (!m->active)
				symbolizer_activate(s, m);
			return;
		}
	}
	struct sym_module *m = xcalloc(1, sizeof *m);
	m->path = symbolizer_intern(s, path, strlen(path));
	if (build_id != NULL && build_id_len > 0) {
		m->build_id = xmalloc(build_id_len);
		memcpy(m->build_id, build_id, build_id_len);
		m->build_id_len = build_id_len;
	}
	m->bias = bias;
	m->lo = lo;
	m->hi = hi;
	m->id = (uint32_t)s->nall;
	if (s->nall == s->capall) {
		s->capall = s->capall ? s->capall * 2 : 16;
		s->all = xreallocarray(s->all, s->capall, sizeof *s->all);
	}
	s->all[s->nall++] = m;
	symbolizer_activate(s, m);
}

/* Whether the ELF file open on FD has the build-id M was declared with (any
 * file does when none was declared). */
static bool symbolizer_build_id_matches(const struct sym_module *m, int fd)
{
	if (m->build_id_len == 0)
		return true;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf == NULL)
		return false;
	const void *id = NULL;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	bool ok = n > 0 && (size_t)n == m->build_id_len && memcmp(id, m->build_id, m->build_id_len) == 0;
	elf_end(elf);
	return ok;
}

/* Report M to libdw, once.  The file at its path is used when it is there
 * and has the declared build-id; otherwise libdw looks the build-id up
 * (debug directories, debuginfod).  When nothing is found, dwfl_mod stays
 * NULL and M's frames carry only module and offset. */
static void symbolizer_module_open(struct symbolizer *s, struct sym_module *m)
{
	m->opened = true;
	if (s->dwfl == NULL)
		return;
	int fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !symbolizer_build_id_matches(m, fd)) {
		close(fd);
		fd = -1;
	}
	Dwfl_Module *mod = NULL;
	dwfl_report_begin_add(s->dwfl);
	if (fd >= 0) {
		/* On success libdw owns fd. */
		mod = dwfl_report_elf(s->dwfl, m->path, m->path, fd, m->bias, false);
		if (mod == NULL)
			close(fd);
	}
	if (mod == NULL && m->build_id_len > 0) {
		mod = dwfl_report_module(s->dwfl, m->path, m->lo, m->hi);
		if (mod != NULL && dwfl_module_report_build_id(mod, m->build_id,
							       m->build_id_len, 0) != 0)
			mod = NULL;
	}
	dwfl_report_end(s->dwfl, NULL, NULL);
	GElf_Addr elf_bias;
	if (mod != NULL && dwfl_module_getelf(mod, &elf_bias) == NULL)
		mod = NULL;
	m->dwfl_mod = mod;
}

/* --- symbol-table index ---------------------------------------------- */

static int symbolizer_symbol_cmp(const void *pa, const void *pb)
{
	const struct sym_symbol *a = pa, *b = pb;
	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Of several names for one address, prefer a sized symbol, then a global
 * one, then one without a leading underscore ("malloc" over
 * "__libc_malloc"). */
static unsigned symbolizer_symbol_rank(const GElf_Sym *sym, const char *name)
{
	/* Ranks of 8 and above mark sizeless symbols (see symbols_build). */
	unsigned bind = GELF_ST_BIND(sym->st_info);
	unsigned r = sym->st_size == 0 ? 8 : 0;
	r += bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 2 : 4;
	return r + (name[0] == '_');
}

/* Where the allocated section SHNDX of ELF ends, with BIAS applied, or
 * UINT64_MAX when that is not known. */
static uint64_t symbolizer_section_end(Elf *elf, GElf_Word shndx, GElf_Addr bias)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elf != NULL ? elf_getscn(elf, shndx) : NULL;
	if (scn == NULL || gelf_getshdr(scn, &sh) == NULL || !(sh.sh_flags & SHF_ALLOC))
		return UINT64_MAX;
	return sh.sh_addr + sh.sh_size + bias;
}

/* Build M's sorted function index from its symbol table (.symtab when
 * present, else .dynsym, plus MiniDebugInfo). */
static void symbolizer_symbols_build(struct symbolizer *s, struct sym_module *m)
{
	m->syms_built = true;
	int n = dwfl_module_getsymtab(m->dwfl_mod);
	if (n <= 0)
		return;
	struct sym_symbol *v = xreallocarray(NULL, (size_t)n, sizeof *v);
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		Elf *elf;
		GElf_Addr bias;
		const char *name = dwfl_module_getsym_info(m->dwfl_mod, i, &sym, &addr,
							   &shndx, &elf, &bias);
		unsigned type = GELF_ST_TYPE(sym.st_info);
		if (name == NULL || name[0] == '\0' || shndx == SHN_UNDEF ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		v[k].addr = addr;
		v[k].end = sym.st_size ? addr + sym.st_size : symbolizer_section_end(elf, shndx, bias);
		v[k].name = name;
		v[k].rank = symbolizer_symbol_rank(&sym, name);
		k++;
	}
	qsort(v, k, sizeof *v, symbolizer_symbol_cmp);
	size_t j = 0;
	for (size_t i = 0; i < k; i++)
		if (j == 0 || v[j - 1].addr != v[i].addr)
			v[j++] = v[i];
	/* A sizeless symbol runs up to the next one: without that bound,
	 * _fini would claim everything after it in its section. */
	for (size_t i = 0; i + 1 < j; i++)
		if (v[i].rank >= 8 && v[i].end > v[i + 1].addr)
			v[i].end = v[i + 1].addr;
	m->syms = j ? xreallocarray(v, j, sizeof *v) : NULL;
	if (j == 0)
		free(v);
	m->nsyms = j;
	s->nsymbols += j;
}

/* The raw name of the function symbol holding ADDR in M, or NULL. */
static const char *symbolizer_symbol_at(struct symbolizer *s, struct sym_module *m, uint64_t addr)
{
	if (!m->syms_built)
		symbolizer_symbols_build(s, m);
	size_t a = 0, b = m->nsyms;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (m->syms[mid].addr <= addr)
			a = mid + 1;
		else
			b = mid;
	}
	for (size_t k = 0; k < SYM_LOOKBACK && a > k; k++)
		if (addr < m->syms[a - 1 - k].end)
			return m->syms[a - 1 - k].name;
	return NULL;
}

/* --- DWARF ----------------------------------------------------------- */

static bool symbolizer_is_function(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

static const char *symbolizer_linkage_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (linkage == NULL)
		linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	return linkage;
}

static bool symbolizer_is_cxx(Dwarf_Die *die)
{
	Dwarf_Die cu;
	if (dwarf_diecu(die, &cu, NULL, NULL) == NULL)
		return false;
	int lang = dwarf_srclang(&cu);
	return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 ||
	       lang == DW_LANG_C_plus_plus_11 || lang == DW_LANG_C_plus_plus_14;
}

/*
 * The name NAME of a C++ function DIE that has no linkage name (functions
 * in anonymous namespaces, lambdas' operator(), as GCC describes them),
 * with the scopes of the DIE that declares it: "(anonymous
 * namespace)::helper", "f1()::<lambda(int)>::operator()" instead of two
 * functions merged under one bare name.  Memoized by that DIE.
 */
static const char *symbolizer_qualified(struct symbolizer *s, Dwarf_Die *die, const char *name)
{
	Dwarf_Die decl = *die, next;
	Dwarf_Attribute attr;
	for (int k = 0; k < 8 && !dwarf_hasattr(&decl, DW_AT_name); k++) {
		if (dwarf_formref_die(dwarf_attr(&decl, DW_AT_abstract_origin, &attr), &next) == NULL &&
		    dwarf_formref_die(dwarf_attr(&decl, DW_AT_specification, &attr), &next) == NULL)
			break;
		decl = next;
	}
	const char *key = (const char *)decl.addr;
	struct sym_memo *slot = symbolizer_memo_slot(s, key, SYM_MEMO_QUALIFIED);
	if (slot->key != 0)
		return slot->value;
	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes_die(&decl, &scopes);
	char buf[1024];
	size_t len = 0;
	/* scopes[0] is DECL, scopes[n - 1] its unit. */
	for (int i = n - 2; i >= 1; i--) {
		int tag = dwarf_tag(&scopes[i]);
		const char *part = NULL;
		if (tag == DW_TAG_namespace)
			part = dwarf_diename(&scopes[i]) ? dwarf_diename(&scopes[i]) : "(anonymous namespace)";
		else if (tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
			 tag == DW_TAG_union_type)
			part = dwarf_diename(&scopes[i]) ? dwarf_diename(&scopes[i]) : "(anonymous class)";
		else if (tag == DW_TAG_subprogram) {
			const char *l = symbolizer_linkage_name(&scopes[i]);
			part = l ? symbolizer_memo(s, l, true) : NULL;
			if (part == NULL)
				part = dwarf_diename(&scopes[i]);
		}
		if (part == NULL)
			continue;
		int w = snprintf(buf + len, sizeof buf - len, "%s::", part);
		if (w < 0 || (size_t)w >= sizeof buf - len)
			break;
		len += (size_t)w;
	}
	free(scopes);
	const char *v = NULL;
	if (len > 0 && len + strlen(name) < sizeof buf) {
		memcpy(buf + len, name, strlen(name) + 1);
		v = symbolizer_intern(s, buf, strlen(buf));
	}
	/* The slot may have moved while the scopes' names were memoized. */
	slot = symbolizer_memo_slot(s, key, SYM_MEMO_QUALIFIED);
	symbolizer_memo_fill(s, slot, key, SYM_MEMO_QUALIFIED, v);
	return v;
}

/* A DIE's function name: the demangled linkage name, which qualifies C++
 * names (ns::Class::method(int)), else DW_AT_name, qualified in C++ by its
 * scopes.  Looked up through DW_AT_abstract_origin and DW_AT_specification. */
static const char *symbolizer_die_name(struct symbolizer *s, Dwarf_Die *die)
{
	const char *linkage = symbolizer_linkage_name(die);
	if (linkage != NULL) {
		const char *d = symbolizer_memo(s, linkage, true);
		if (d != NULL)
			return d;
	}
	const char *name = dwarf_diename(die);
	if (name == NULL)
		name = linkage;
	if (name == NULL)
		return NULL;
	if (linkage == NULL && symbolizer_is_cxx(die)) {
		const char *q = symbolizer_qualified(s, die, name);
		if (q != NULL)
			return q;
	}
	/* A C++ symbol defined in C (libheaptop-cxx.so's operator new). */
	if (name[0] == '_' && name[1] == 'Z') {
		const char *d = symbolizer_memo(s, name, true);
		if (d != NULL)
			return d;
	}
	return symbolizer_memo(s, name, false);
}

/* File and line of the DWARF address PC from the line table of its unit
 * CU.  (Not dwfl_module_getsrc: it finds the unit only through
 * .debug_aranges, again.) */
static void symbolizer_line(struct symbolizer *s, Dwarf_Die *cu, Dwarf_Addr pc,
			    struct sym_cframe *f)
{
	Dwarf_Line *line = dwarf_getsrc_die(cu, pc);
	if (line == NULL)
		return;
	int lineno = 0;
	const char *file = dwarf_linesrc(line, NULL, NULL);
	if (file != NULL)
		f->file = symbolizer_file(s, cu, file);
	if (dwarf_lineno(line, &lineno) == 0 && lineno > 0)
		f->line = (unsigned)lineno;
}

/* File and line of the call that the inlined subroutine DIE stands for:
 * where its caller is, at this address. */
static void symbolizer_call_site(struct symbolizer *s, Dwarf_Die *die, struct sym_cframe *f)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
		f->line = (unsigned)v;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
	    dwarf_diecu(die, &cu, NULL, NULL) != NULL &&
	    dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && v < nfiles) {
		const char *file = dwarf_filesrc(files, v, NULL, NULL);
		if (file != NULL)
			f->file = symbolizer_file(s, &cu, file);
	}
}

/* Add the ranges of the function DIE to CU's index. */
static void symbolizer_cu_add(struct symbolizer *s, struct sym_cu *cu, size_t *cap, Dwarf_Die *die)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		/* Address 0 is where the linker leaves discarded COMDAT copies. */
		if (lo == 0 || lo >= hi)
			continue;
		if (cu->nfuncs == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			cu->funcs = xreallocarray(cu->funcs, *cap, sizeof *cu->funcs);
		}
		cu->funcs[cu->nfuncs++] = (struct sym_func){ .lo = lo, .hi = hi, .die = *die };
		s->nfunctions++;
	}
}

/* Add the concrete functions among PARENT's children to CU's index.
 * Namespaces and classes are searched too: a member's definition is
 * usually at unit level, but may be nested. */
static void symbolizer_cu_collect(struct symbolizer *s, struct sym_cu *cu, size_t *cap,
				  Dwarf_Die *parent, int depth)
{
	Dwarf_Die child;
	if (dwarf_child(parent, &child) != 0)
		return;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram:
			symbolizer_cu_add(s, cu, cap, &child);
			break;
		case DW_TAG_imported_unit:
			cu->imports = true;
			break;
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
			if (depth < SYM_MAX_NEST)
				symbolizer_cu_collect(s, cu, cap, &child, depth + 1);
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static int symbolizer_func_cmp(const void *pa, const void *pb)
{
	const struct sym_func *a = pa, *b = pb;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	/* Aliases (assembly functions get one DIE per symbol): the first in
	 * the unit wins, as with dwarf_getscopes. */
	Dwarf_Die da = a->die, db = b->die;
	Dwarf_Off oa = dwarf_dieoffset(&da), ob = dwarf_dieoffset(&db);
	return oa < ob ? -1 : oa > ob;
}

static void symbolizer_cus_grow(struct sym_module *m)
{
	size_t cap = m->capcus ? m->capcus * 2 : 64;
	struct sym_cu *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < m->capcus; i++) {
		if (m->cus[i].key == 0)
			continue;
		size_t j = symbolizer_mix(m->cus[i].key) & (cap - 1);
		while (t[j].key != 0)
			j = (j + 1) & (cap - 1);
		t[j] = m->cus[i];
	}
	free(m->cus);
	m->cus = t;
	m->capcus = cap;
}

/* The function index of the unit CUDIE of M, built on first use.  The
 * pointer is valid until the next call. */
static const struct sym_cu *symbolizer_cu_index(struct symbolizer *s, struct sym_module *m,
						Dwarf_Die *cudie)
{
	uint64_t key = dwarf_dieoffset(cudie) + 1;
	if ((m->ncus + 1) * 2 > m->capcus)
		symbolizer_cus_grow(m);
	size_t mask = m->capcus - 1;
	size_t i = symbolizer_mix(key) & mask;
	while (m->cus[i].key != 0 && m->cus[i].key != key)
		i = (i + 1) & mask;
	struct sym_cu *cu = &m->cus[i];
	if (cu->key != 0)
		return cu;
	cu->key = key;
	m->ncus++;
	size_t cap = 0;
	symbolizer_cu_collect(s, cu, &cap, cudie, 0);
	qsort(cu->funcs, cu->nfuncs, sizeof *cu->funcs, symbolizer_func_cmp);
	size_t j = 0;
	for (size_t k = 0; k < cu->nfuncs; k++)
		if (j == 0 || cu->funcs[j - 1].lo != cu->funcs[k].lo ||
		    cu->funcs[j - 1].hi != cu->funcs[k].hi)
			cu->funcs[j++] = cu->funcs[k];
	s->nfunctions -= cu->nfuncs - j;
	cu->nfuncs = j;
	return cu;
}

/* The function of CU whose range holds the DWARF address PC, or NULL. */
static const struct sym_func *symbolizer_cu_func(const struct sym_cu *cu, Dwarf_Addr pc)
{
	size_t a = 0, b = cu->nfuncs;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (cu->funcs[mid].lo <= pc)
			a = mid + 1;
		else
			b = mid;
	}
	for (size_t k = 0; k < SYM_LOOKBACK && a > k; k++)
		if (pc < cu->funcs[a - 1 - k].hi)
			return &cu->funcs[a - 1 - k];
	return NULL;
}

/* Scopes with code of their own, which may hold inlined calls. */
static bool symbolizer_is_code_scope(int tag)
{
	switch (tag) {
	case DW_TAG_inlined_subroutine:
	case DW_TAG_lexical_block:
	case DW_TAG_try_block:
	case DW_TAG_catch_block:
	case DW_TAG_with_stmt:
		return true;
	default:
		return false;
	}
}

/* The scopes holding the DWARF address PC inside the function FN, into
 * CHAIN innermost first (FN's DIE last); returns how many.  Only children
 * that can have code are asked for their ranges, one level at a time. */
static int symbolizer_descend(const struct sym_func *fn, Dwarf_Addr pc, Dwarf_Die *chain, int max)
{
	int n = 0;
	chain[n++] = fn->die;
	while (n < max) {
		Dwarf_Die child;
		if (dwarf_child(&chain[n - 1], &child) != 0)
			break;
		bool found = false;
		do
			found = symbolizer_is_code_scope(dwarf_tag(&child)) && dwarf_haspc(&child, pc) > 0;
		while (!found && dwarf_siblingof(&child, &child) == 0);
		if (!found)
			break;
		chain[n++] = child;
	}
	for (int i = 0; i < n / 2; i++) {
		Dwarf_Die t = chain[i];
		chain[i] = chain[n - 1 - i];
		chain[n - 1 - i] = t;
	}
	return n;
}

/* The scopes holding PC, innermost first, the slow general way, for units
 * that import others (dwz): libdw follows the imports. */
static int symbolizer_getscopes(Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die *chain, int max)
{
	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes(cudie, pc, &scopes);
	/* Past an inlined instance, dwarf_getscopes continues with the scopes
	 * of its abstract origin; the callers are the DIEs that physically
	 * contain it, which dwarf_getscopes_die walks. */
	if (n > 0) {
		Dwarf_Die *concrete = NULL;
		int nc = dwarf_getscopes_die(&scopes[0], &concrete);
		free(scopes);
		scopes = concrete;
		n = nc;
	}
	if (n > max)
		n = max;
	if (n > 0)
		memcpy(chain, scopes, (size_t)n * sizeof *chain);
	free(scopes);
	return n > 0 ? n : 0;
}

static int symbolizer_curange_cmp(const void *pa, const void *pb)
{
	const struct sym_curange *a = pa, *b = pb;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return a->hi < b->hi ? -1 : a->hi > b->hi;
}

/* Index every unit of M by its own DW_AT_low_pc/high_pc/ranges. */
static void symbolizer_curanges_build(struct sym_module *m)
{
	m->curanges_built = true;
	size_t cap = 0;
	Dwarf_Addr bias;
	Dwarf_Die *cu = NULL;
	while ((cu = dwfl_module_nextcu(m->dwfl_mod, cu, &bias)) != NULL) {
		m->dwbias = bias;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;
		while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0) {
			if (lo == 0 || lo >= hi)
				continue;
			if (m->ncuranges == cap) {
				cap = cap ? cap * 2 : 64;
				m->curanges = xreallocarray(m->curanges, cap, sizeof *m->curanges);
			}
			m->curanges[m->ncuranges++] = (struct sym_curange){ .lo = lo, .hi = hi, .cu = *cu };
		}
	}
	if (m->ncuranges > 0)
		qsort(m->curanges, m->ncuranges, sizeof *m->curanges, symbolizer_curange_cmp);
}

/* The unit of M holding ADDR, and its bias.  Through .debug_aranges first
 * (dwfl_module_addrdie); libdw 0.188 finds no unit that it omits, and
 * clang does not emit it at all, so then by the units' own ranges. */
static Dwarf_Die *symbolizer_cu_at(struct sym_module *m, Dwarf_Addr addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(m->dwfl_mod, addr, bias);
	if (cu != NULL)
		return cu;
	if (!m->curanges_built)
		symbolizer_curanges_build(m);
	*bias = m->dwbias;
	size_t a = 0, b = m->ncuranges;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (m->curanges[mid].lo <= addr - m->dwbias)
			a = mid + 1;
		else
			b = mid;
	}
	for (size_t k = 0; k < SYM_LOOKBACK && a > k; k++)
		if (addr - m->dwbias < m->curanges[a - 1 - k].hi)
			return &m->curanges[a - 1 - k].cu;
	return NULL;
}

/* Whether one of the ranges of unit CU holds PC. */
static bool symbolizer_cu_covers(Dwarf_Die *cu, Dwarf_Addr pc)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0)
		if (pc >= lo && pc < hi)
			return true;
	return false;
}

/* Frames of ADDR from its DWARF scopes, innermost first: the innermost
 * takes its line from the line table, each caller the call site of the
 * inlined scope inside it.  Returns 0 when no unit covers ADDR; 1 frame
 * without a function when one does but none of its functions. */
static int symbolizer_dwarf_frames(struct symbolizer *s, struct sym_module *m, Dwarf_Addr addr,
				   struct sym_cframe *out, int max)
{
	Dwarf_Addr bias;
	Dwarf_Die *cudie = symbolizer_cu_at(m, addr, &bias);
	if (cudie == NULL)
		return 0;
	const struct sym_cu *cu = symbolizer_cu_index(s, m, cudie);
	const struct sym_func *fn = symbolizer_cu_func(cu, addr - bias);
	Dwarf_Die chain[SYM_MAX_SCOPES];
	int n = 0;
	if (fn != NULL)
		n = symbolizer_descend(fn, addr - bias, chain, SYM_MAX_SCOPES);
	else if (cu->imports)
		n = symbolizer_getscopes(cudie, addr - bias, chain, SYM_MAX_SCOPES);
	int k = 0;
	Dwarf_Die *callee = NULL;
	for (int i = 0; i < n && k < max; i++) {
		int tag = dwarf_tag(&chain[i]);
		if (!symbolizer_is_function(tag))
			continue;
		struct sym_cframe *f = &out[k++];
		*f = (struct sym_cframe){ .function = symbolizer_die_name(s, &chain[i]),
					  .inlined = tag == DW_TAG_inlined_subroutine };
		if (callee == NULL)
			symbolizer_line(s, cudie, addr - bias, f);
		else
			symbolizer_call_site(s, callee, f);
		if (tag != DW_TAG_inlined_subroutine)
			break;
		callee = &chain[i];
	}
	if (k == 0) {
		/* No function of the unit: a line only where the unit's own
		 * ranges hold ADDR.  The unit .debug_aranges gives can be one
		 * whose ranges leave it out (crt1.o's _start between two of
		 * them), and its line table would answer with a line of its own
		 * last row. */
		if (!symbolizer_cu_covers(cudie, addr - bias))
			return 0;
		out[0] = (struct sym_cframe){ 0 };
		symbolizer_line(s, cudie, addr - bias, &out[0]);
		k = 1;
	}
	return k;
}

/* --- the cache ------------------------------------------------------- */

static void symbolizer_cache_grow(struct symbolizer *s)
{
	size_t cap = s->capslots ? s->capslots * 2 : 4096;
	struct sym_slot *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < s->capslots; i++) {
		struct sym_slot e = s->slots[i];
		if (e.module == 0)
			continue;
		size_t j = symbolizer_slot_hash(e.module, e.offset) & (cap - 1);
		while (t[j].module != 0)
			j = (j + 1) & (cap - 1);
		t[j] = e;
	}
	free(s->slots);
	s->slots = t;
	s->capslots = cap;
}

/* The slot of (MODULE id + 1, OFFSET): the filled one, or the empty one
 * where it goes. */
static struct sym_slot *symbolizer_cache_slot(struct symbolizer *s, uint32_t module, uint64_t offset)
{
	size_t mask = s->capslots - 1;
	size_t i = symbolizer_slot_hash(module, offset) & mask;
	for (;; i = (i + 1) & mask) {
		struct sym_slot *e = &s->slots[i];
		if (e->module == 0 || (e->module == module && e->offset == offset))
			return e;
	}
}

/* Symbolize ADDR in M (the slow path) and append its frames to the frame
 * pool; returns the index of the first and sets *COUNT. */
static uint32_t symbolizer_resolve(struct symbolizer *s, struct sym_module *m, uint64_t addr,
				   uint32_t *count)
{
	struct sym_cframe tmp[SYM_MAX_DEPTH];
	int n = 0;
	if (!m->opened)
		symbolizer_module_open(s, m);
	if (m->dwfl_mod != NULL)
		n = symbolizer_dwarf_frames(s, m, addr, tmp, SYM_MAX_DEPTH);
	if (n == 0) {
		tmp[0] = (struct sym_cframe){ 0 };
		n = 1;
	}
	/* No debug info for the function: the symbol table has its name. */
	if (tmp[n - 1].function == NULL && m->dwfl_mod != NULL) {
		const char *raw = symbolizer_symbol_at(s, m, addr);
		if (raw != NULL)
			tmp[n - 1].function = symbolizer_name(s, raw);
	}
	/* Nor a symbol (a stripped object): the address, as addr2line -e
	 * MODULE takes it, so that its sites stay apart. */
	if (tmp[n - 1].function == NULL) {
		char hex[24];
		int len = snprintf(hex, sizeof hex, "0x%" PRIx64, addr - m->bias);
		tmp[n - 1].function = symbolizer_intern(s, hex, (size_t)len);
	}
	if (s->capframes - s->nframes < (size_t)n) {
		while (s->capframes - s->nframes < (size_t)n)
			s->capframes = s->capframes ? s->capframes * 2 : 4096;
		s->frames = xreallocarray(s->frames, s->capframes, sizeof *s->frames);
	}
	uint32_t first = (uint32_t)s->nframes;
	memcpy(&s->frames[first], tmp, (size_t)n * sizeof *tmp);
	s->nframes += (size_t)n;
	*count = (uint32_t)n;
	return first;
}

/* --- public API ------------------------------------------------------ */

struct symbolizer *symbolizer_new(void)
{
	struct symbolizer *s = xcalloc(1, sizeof *s);
	s->strings = strpool_new();
	elf_version(EV_CURRENT);
	/* dwfl_begin fails only for lack of memory; without it every frame
	 * still gets its module and offset (see symbolizer_module_open). */
	s->dwfl = dwfl_begin(&symbolizer_callbacks);
	symbolizer_cache_grow(s);
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (s == NULL)
		return;
	if (s->dwfl != NULL)
		dwfl_end(s->dwfl);
	for (size_t i = 0; i < s->nall; i++) {
		struct sym_module *m = s->all[i];
		for (size_t j = 0; j < m->capcus; j++)
			free(m->cus[j].funcs);
		free(m->cus);
		free(m->curanges);
		free(m->build_id);
		free(m->syms);
		free(m);
	}
	free(s->all);
	free(s->active);
	free(s->slots);
	free(s->frames);
	strpool_free(s->strings);
	free(s->memo);
	if (s->libstdcxx != NULL)
		dlclose(s->libstdcxx);
	free(s);
}

int symbolizer_lookup(struct symbolizer *s, uint64_t pc, int return_address,
		      struct sym_frame *out, int max)
{
	if (max < 1)
		return 0;
	s->lookups++;
	struct sym_module *m = symbolizer_module_at(s, pc);
	if (m == NULL) {
		out[0] = (struct sym_frame){ .offset = pc };
		return 1;
	}
	/* A return address points after the call, possibly at the next line
	 * or past the end of the function: look at the call instruction. */
	uint64_t addr = return_address && pc > m->lo ? pc - 1 : pc;
	uint32_t key = m->id + 1;
	struct sym_slot *slot = symbolizer_cache_slot(s, key, addr - m->bias);
	if (slot->module == 0) {
		s->misses++;
		uint32_t count;
		uint32_t first = symbolizer_resolve(s, m, addr, &count);
		if ((s->nslots + 1) * 2 > s->capslots) {
			symbolizer_cache_grow(s);
			slot = symbolizer_cache_slot(s, key, addr - m->bias);
		}
		*slot = (struct sym_slot){ .offset = addr - m->bias, .module = key,
					   .first = first, .count = count };
		s->nslots++;
	} else {
		s->hits++;
	}
	int n = slot->count < (uint32_t)max ? (int)slot->count : max;
	const struct sym_cframe *f = &s->frames[slot->first];
	for (int i = 0; i < n; i++)
		out[i] = (struct sym_frame){ .function = f[i].function, .file = f[i].file,
					     .line = f[i].line, .module = m->path,
					     .offset = pc - m->bias, .inlined = f[i].inlined };
	return n;
}

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out)
{
	size_t opened = 0;
	for (size_t i = 0; i < s->nall; i++)
		opened += s->all[i]->opened;
	*out = (struct symbolizer_stats){
		.lookups = s->lookups,
		.cache_hits = s->hits,
		.cache_misses = s->misses,
		.cached_frames = s->nframes,
		.modules = s->nall,
		.modules_opened = opened,
		.symbols = s->nsymbols,
		.functions = s->nfunctions,
		.strings = strpool_count(s->strings),
		.string_bytes = strpool_bytes(s->strings),
	};
}
