/*
 * Rough benchmark of the symbolizer: N distinct addresses spread over the
 * executable segments of one ELF file, looked up once (every lookup a
 * miss: libdw work) and again (every lookup a cache hit).  Optionally
 * times dwfl_module_addrname on a sample, the per-lookup cost that the
 * symbolizer's own function index avoids.  Not part of `make check`.
 *
 * Build (from a configured build directory, without sanitizers):
 *   gcc -O2 -g -I$srcdir/src -I. $srcdir/tests/bench/bench_symbolizer.c \
 *       $srcdir/src/viewer/symbolizer.c $srcdir/src/common/xalloc.c \
 *       -ldw -lelf -o bench_symbolizer
 * Run:
 *   ./bench_symbolizer FILE [N [ADDRNAME_SAMPLE]]
 */
#include "config.h"

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "viewer/symbolizer.h"

/* Where the file is pretended to be loaded (for ET_DYN). */
#define BENCH_BIAS UINT64_C(0x7f1200000000)

struct bench_elf {
	uint8_t build_id[64];
	size_t build_id_len;
	uint64_t lo, hi;        /* file addresses of all PT_LOAD segments */
	uint64_t text_lo[16];   /* executable PT_LOAD segments */
	uint64_t text_len[16];
	int ntext;
	int is_dyn;
};

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: deterministic, so runs are comparable. */
static uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static int bench_read_elf(const char *path, struct bench_elf *b)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr eh;
	size_t phnum;
	if (elf == NULL || gelf_getehdr(elf, &eh) == NULL || elf_getphdrnum(elf, &phnum) != 0) {
		close(fd);
		return -1;
	}
	b->is_dyn = eh.e_type == ET_DYN;
	b->lo = UINT64_MAX;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
			continue;
		uint64_t lo = ph.p_vaddr & ~(ph.p_align > 1 ? ph.p_align - 1 : 0);
		if (lo < b->lo)
			b->lo = lo;
		if (ph.p_vaddr + ph.p_memsz > b->hi)
			b->hi = ph.p_vaddr + ph.p_memsz;
		if ((ph.p_flags & PF_X) && b->ntext < 16) {
			b->text_lo[b->ntext] = ph.p_vaddr;
			b->text_len[b->ntext] = ph.p_memsz;
			b->ntext++;
		}
	}
	const void *id;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	if (n > 0 && (size_t)n <= sizeof b->build_id) {
		memcpy(b->build_id, id, (size_t)n);
		b->build_id_len = (size_t)n;
	}
	elf_end(elf);
	close(fd);
	return b->ntext > 0 ? 0 : -1;
}

/* *N distinct addresses (with the bias applied) spread evenly over the
 * executable segments, a random few bytes apart from the even grid, in
 * random order; fewer when the segments are smaller than *N bytes. */
static uint64_t *bench_addresses(const struct bench_elf *b, uint64_t bias, size_t *np)
{
	uint64_t total = 0;
	for (int i = 0; i < b->ntext; i++)
		total += b->text_len[i];
	if (total < *np)
		*np = (size_t)total;
	size_t n = *np;
	uint64_t *v = xreallocarray(NULL, n, sizeof *v);
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t step = total / n;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = i * step + (step > 1 ? bench_rand(&seed) % step : 0);
		int seg = 0;
		while (off >= b->text_len[seg]) {
			off -= b->text_len[seg];
			seg++;
		}
		v[i] = bias + b->text_lo[seg] + off;
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(bench_rand(&seed) % (i + 1));
		uint64_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
	return v;
}

/* Time dwfl_module_addrname alone, on the first SAMPLE addresses. */
static void bench_addrname(const char *path, uint64_t bias, const uint64_t *addrs, size_t sample)
{
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
	};
	Dwfl *dwfl = dwfl_begin(&cb);
	dwfl_report_begin_add(dwfl);
	Dwfl_Module *mod = dwfl_report_elf(dwfl, path, path, -1, bias, false);
	dwfl_report_end(dwfl, NULL, NULL);
	if (mod == NULL) {
		dwfl_end(dwfl);
		return;
	}
	dwfl_module_getsymtab(mod); /* load outside the timing */
	size_t named = 0;
	double t0 = bench_now();
	for (size_t i = 0; i < sample; i++)
		named += dwfl_module_addrname(mod, addrs[i]) != NULL;
	double t = bench_now() - t0;
	printf("dwfl_module_addrname: %zu lookups in %.3f s = %.1f us/lookup (%zu named)\n",
	       sample, t, t * 1e6 / (double)sample, named);
	dwfl_end(dwfl);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [N [ADDRNAME_SAMPLE]]\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
	size_t sample = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	struct bench_elf b = { 0 };
	if (n == 0 || bench_read_elf(path, &b) != 0) {
		fprintf(stderr, "%s: cannot read the program headers\n", path);
		return 1;
	}
	uint64_t bias = b.is_dyn ? BENCH_BIAS : 0;
	uint64_t *addrs = bench_addresses(&b, bias, &n);

	double t0 = bench_now();
	struct symbolizer *s = symbolizer_new();
	symbolizer_add_module(s, path, b.build_id, b.build_id_len, bias, bias + b.lo, bias + b.hi);
	struct sym_frame f[64];
	size_t frames = 0, named = 0, lined = 0;
	double t1 = bench_now();
	for (size_t i = 0; i < n; i++) {
		int k = symbolizer_lookup(s, addrs[i], 1, f, 64);
		frames += (size_t)k;
		named += f[0].function != NULL;
		lined += f[0].line != 0;
	}
	double t2 = bench_now();
	for (size_t i = 0; i < n; i++)
		symbolizer_lookup(s, addrs[i], 1, f, 64);
	double t3 = bench_now();

	struct symbolizer_stats st;
	symbolizer_get_stats(s, &st);
	printf("%s: %zu distinct addresses, %zu frames (%.2f per address), "
	       "%zu with a function, %zu with a line\n",
	       path, n, frames, (double)frames / (double)n, named, lined);
	printf("first lookups: %.3f s = %.2f us/lookup (includes opening the module)\n",
	       t2 - t1, (t2 - t1) * 1e6 / (double)n);
	printf("cached lookups: %.4f s = %.1f ns/lookup\n", t3 - t2, (t3 - t2) * 1e9 / (double)n);
	printf("stats: hits %" PRIu64 " misses %" PRIu64 " symbols %zu strings %zu (%zu bytes)\n",
	       st.cache_hits, st.cache_misses, st.symbols, st.strings, st.string_bytes);
	symbolizer_free(s);
	printf("symbolizer_new..free: %.3f s\n", bench_now() - t0);
	if (sample > 0)
		bench_addrname(path, bias, addrs, sample < n ? sample : n);
	free(addrs);
	return 0;
}
