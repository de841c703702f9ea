/* Module map through dl_iterate_phdr; build-ids read from the loaded notes. */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "agent/lock.h"
#include "agent/mem.h"
#include "agent/modules.h"

static char exe_path[HT_MAX_STR];

static int loader_users;   /* the agent's threads in the gate */
static int loader_forking; /* the gate is closed */
static __thread int loader_mine __attribute__((tls_model("initial-exec")));

/* Enter the gate: 0, or -1 when GATED and a fork is in progress (a hook
 * must not wait for it). */
static int loader_enter(int gated)
{
	for (;;) {
		while (__atomic_load_n(&loader_forking, __ATOMIC_ACQUIRE)) {
			if (gated && forklog_forking())
				return -1;
			sched_yield();
		}
		__atomic_add_fetch(&loader_users, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&loader_forking, __ATOMIC_SEQ_CST))
			break;
		__atomic_sub_fetch(&loader_users, 1, __ATOMIC_SEQ_CST);
	}
	loader_mine++;
	return 0;
}

void modules_loader_enter(void)
{
	loader_enter(0);
}

int modules_loader_try(void)
{
	return loader_enter(1);
}

void modules_loader_leave(void)
{
	loader_mine--;
	__atomic_sub_fetch(&loader_users, 1, __ATOMIC_RELEASE);
}

int modules_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	modules_loader_enter();
	int r = dl_iterate_phdr(cb, data);
	modules_loader_leave();
	return r;
}

int modules_iterate_gated(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	if (modules_loader_try() < 0)
		return -1;
	dl_iterate_phdr(cb, data);
	modules_loader_leave();
	return 0;
}

void modules_fork_prepare(void)
{
	__atomic_store_n(&loader_forking, 1, __ATOMIC_SEQ_CST);
	/* Not this thread's own calls: a fork from a signal handler that
	 * interrupted one (they cannot end before the fork does). */
	while (__atomic_load_n(&loader_users, __ATOMIC_SEQ_CST) > loader_mine)
		sched_yield();
}

void modules_fork_parent(void)
{
	__atomic_store_n(&loader_forking, 0, __ATOMIC_RELEASE);
}

void modules_fork_child(void)
{
	__atomic_store_n(&loader_users, loader_mine, __ATOMIC_RELAXED);
	__atomic_store_n(&loader_forking, 0, __ATOMIC_RELEASE);
}
/* The agent's code, and libheaptop-cxx.so's once it says it is loaded:
 * walks drop the frames in either. */
static uintptr_t agent_lo, agent_hi, cxx_lo, cxx_hi;

struct find_object {
	uintptr_t addr;   /* in */
	uintptr_t lo, hi; /* out: the load range of the object holding it */
};

static void load_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < *lo)
			*lo = a;
		if (a + ph->p_memsz > *hi)
			*hi = a + ph->p_memsz;
	}
}

static int find_object_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find_object *f = data;
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
	if (f->addr >= lo && f->addr < hi) {
		f->lo = lo;
		f->hi = hi;
		return 1;
	}
	return 0;
}

/* The load range of the object holding ADDR into *F (empty when none). */
static void find_object(uintptr_t addr, struct find_object *f)
{
	*f = (struct find_object){ .addr = addr };
	modules_iterate(find_object_cb, f);
}

void modules_init(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
	exe_path[n > 0 ? n : 0] = '\0';
	struct find_object f;
	find_object((uintptr_t)&modules_init, &f);
	agent_lo = f.lo;
	agent_hi = f.hi;
}

void modules_cxx_loaded(uintptr_t addr)
{
	struct find_object f;
	find_object(addr, &f);
	__atomic_store_n(&cxx_lo, f.lo, __ATOMIC_RELAXED);
	__atomic_store_n(&cxx_hi, f.hi, __ATOMIC_RELAXED);
}

int modules_new_unseen(void)
{
	modules_loader_enter(); /* both take the loader's lock */
	void *op = dlsym(RTLD_DEFAULT, "_Znwm");
	Dl_info di;
	int found = op && dladdr(op, &di) && di.dli_fname && di.dli_fname[0];
	modules_loader_leave();
	if (!found)
		return 0; /* no C++ runtime, or the executable's own */
	const char *base = strrchr(di.dli_fname, '/');
	base = base ? base + 1 : di.dli_fname;
	if (strcmp(di.dli_fname, exe_path) == 0 || strncmp(base, "libstdc++.so", 12) == 0 ||
	    strcmp(base, "libheaptop-cxx.so") == 0)
		return 0;
	return 1;
}

const char *modules_exe(void)
{
	return exe_path;
}

int modules_in_agent(uintptr_t pc)
{
	return (pc >= agent_lo && pc < agent_hi) ||
	       (pc >= __atomic_load_n(&cxx_lo, __ATOMIC_RELAXED) &&
		pc < __atomic_load_n(&cxx_hi, __ATOMIC_RELAXED));
}

static int generation_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	uint32_t *gen = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
		*gen = (uint32_t)(info->dlpi_adds + info->dlpi_subs);
	return 1;
}

uint32_t modules_generation(void)
{
	uint32_t gen = 0;
	modules_iterate(generation_cb, &gen);
	/* 0 is what a client that holds no module map sends. */
	return gen + 1 ? gen + 1 : 1;
}

/* Find the GNU build-id note in the loaded segments of one object. */
static const uint8_t *build_id(const struct dl_phdr_info *info, size_t *len)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t name = (nh->n_namesz + 3) & ~(size_t)3;
			size_t desc = (nh->n_descsz + 3) & ~(size_t)3;
			const uint8_t *d = p + sizeof *nh + name;
			if (d + desc > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + sizeof *nh, "GNU", 4) == 0 &&
			    nh->n_descsz <= HT_MAX_BUILD_ID) {
				*len = nh->n_descsz;
				return d;
			}
			p = d + desc;
		}
	}
	*len = 0;
	return NULL;
}

struct encode_state {
	struct ht_writer *w;
	uint32_t count;
	int first;
};

/* One object's record of MODULES. */
static void put_module(struct encode_state *st, uint64_t bias, uint64_t lo, uint64_t hi,
		       const char *path, size_t path_len, const uint8_t *id, size_t id_len)
{
	ht_put_u64(st->w, bias);
	ht_put_u64(st->w, lo);
	ht_put_u64(st->w, hi);
	ht_put_u16(st->w, (uint16_t)path_len);
	ht_put_u16(st->w, (uint16_t)id_len);
	ht_put_bytes(st->w, path, path_len);
	ht_put_bytes(st->w, id, id_len);
	st->count++;
}

static int encode_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct encode_state *st = data;
	const char *path = info->dlpi_name ? info->dlpi_name : "";
	int first = st->first;
	st->first = 0;
	if (first && path[0] == '\0')
		path = exe_path; /* the executable comes first, unnamed */
	else if (path[0] == '\0' || strncmp(path, "linux-vdso", 10) == 0)
		return 0; /* the vDSO has no file to read symbols from */
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
	if (lo >= hi || st->count == HT_MAX_MODULES)
		return 0;
	size_t path_len = strnlen(path, HT_MAX_STR), id_len;
	const uint8_t *id = build_id(info, &id_len);
	put_module(st, info->dlpi_addr, lo, hi, path, path_len, id, id_len);
	return 0;
}

/*
 * Objects unloaded with dlclose.  The stacks of blocks they allocated still
 * hold their addresses (a plugin's leak outlives the plugin), and a viewer
 * that connects later must still be able to name them: MODULES sends them
 * after the loaded objects, for as long as no loaded object, nor one
 * unloaded later, overlaps them.  Entries are written once, then published
 * by the count; at most RETIRED_MAX, the same object at the same address
 * once.
 */
#define RETIRED_MAX 64

static struct retired_module *retired; /* RETIRED_MAX entries, mapped on first use */
static unsigned nretired;       /* published entries */
static uintptr_t retired_lock;       /* between writers */

struct find_base {
	uintptr_t bias;
	struct retired_module *out;
	int found;
};

static int find_base_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find_base *f = data;
	if (info->dlpi_addr != f->bias || !info->dlpi_name || !info->dlpi_name[0])
		return 0;
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
	if (lo >= hi)
		return 0;
	struct retired_module *r = f->out;
	if (r) {
		size_t id_len;
		const uint8_t *id = build_id(info, &id_len);
		r->bias = info->dlpi_addr;
		r->lo = lo;
		r->hi = hi;
		r->path_len = (uint16_t)strnlen(info->dlpi_name, HT_MAX_STR);
		memcpy(r->path, info->dlpi_name, r->path_len);
		r->id_len = (uint16_t)id_len;
		memcpy(r->id, id, id_len);
	}
	f->found = 1;
	return 1;
}

int modules_closing(void *handle, struct retired_module *m)
{
	struct link_map *lm = handle; /* glibc's handles are link maps */
	if (!handle || !lm->l_name || !lm->l_name[0])
		return 0;
	struct find_base f = { lm->l_addr, m, 0 };
	/* A fork in progress: the module is not remembered. */
	modules_iterate_gated(find_base_cb, &f);
	return f.found;
}

static int overlaps(uint64_t lo1, uint64_t hi1, uint64_t lo2, uint64_t hi2)
{
	return lo1 < hi2 && lo2 < hi1;
}

void modules_closed(const struct retired_module *r)
{
	struct find_base f = { r->bias, NULL, 0 };
	if (modules_iterate_gated(find_base_cb, &f) < 0 || f.found)
		return; /* still loaded (another handle holds it), or a fork */
	lock_acquire(&retired_lock);
	unsigned n = __atomic_load_n(&nretired, __ATOMIC_RELAXED);
	int known = 0;
	for (unsigned i = 0; i < n && !known; i++)
		known = retired[i].bias == r->bias && retired[i].lo == r->lo &&
			retired[i].hi == r->hi && retired[i].path_len == r->path_len &&
			memcmp(retired[i].path, r->path, r->path_len) == 0;
	if (!known && n < RETIRED_MAX && (retired || (retired = mem_map(RETIRED_MAX * sizeof *retired)))) {
		retired[n] = *r;
		__atomic_store_n(&nretired, n + 1, __ATOMIC_RELEASE);
	}
	lock_release(&retired_lock);
}

struct overlap {
	uint64_t lo, hi;
	int found;
};

static int overlap_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct overlap *o = data;
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
	if (lo < hi && overlaps(lo, hi, o->lo, o->hi)) {
		o->found = 1;
		return 1;
	}
	return 0;
}

/* Append the unloaded objects that nothing loaded since has replaced. */
static void encode_retired(struct encode_state *st)
{
	unsigned n = __atomic_load_n(&nretired, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n && st->count < HT_MAX_MODULES; i++) {
		const struct retired_module *r = &retired[i];
		int later = 0;
		for (unsigned j = i + 1; j < n && !later; j++)
			later = overlaps(r->lo, r->hi, retired[j].lo, retired[j].hi);
		struct overlap o = { r->lo, r->hi, 0 };
		if (!later)
			modules_iterate(overlap_cb, &o);
		if (later || o.found)
			continue;
		put_module(st, r->bias, r->lo, r->hi, r->path, r->path_len, r->id, r->id_len);
	}
}

void modules_encode(struct ht_writer *w)
{
	size_t off = ht_frame_begin(w, HT_MSG_MODULES);
	ht_put_u32(w, modules_generation());
	size_t count_at = w->len;
	ht_put_u32(w, 0);
	struct encode_state st = { w, 0, 1 };
	modules_iterate(encode_cb, &st);
	encode_retired(&st);
	ht_patch_u32(w, count_at, st.count);
	ht_frame_end(w, off);
}
