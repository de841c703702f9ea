#!/bin/bash
# C++: new/delete, new[]/delete[], aligned and nothrow new, containers, and
# exceptions thrown through a frame that allocated: exact numbers at the
# ready point, nothing left by the exceptions, zero after freeing, and the
# live-at-exit file (global objects are destroyed by exit before it).
# The same program linked with jemalloc, whose own operator new serves
# objects without malloc, gives the same numbers with libheaptop-cxx.so
# preloaded beside the agent, and none of its C++ objects without it.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

shim=$(dirname "$HEAPTOP_AGENT")/libheaptop-cxx.so

# Direct `new` sites, by attributed frame (operator new is in libstdc++).
direct='
site_new            240/5    480/10
site_new_array     2000/2   3000/3
site_new_aligned    256/2    256/2
site_new_nothrow    300/1    300/1
site_bad_alloc       48/1    456/4
site_handler    2097152/2 2097152/2
'
# Blocks found through the site function on their stack (the allocation is
# made by template code instantiated in wl_cxx, or by the C++ runtime).
through='
site_vector        4096/1   8188/11
site_string        1001/1   1001/1
site_map           4848/101 4848/101
site_throw            0/0   -/30
site_throw_std        0/0   -/20
'

check() {
	local sites=$1 stacks=$2 what=$3 site live total
	while read -r site live total; do
		[ -n "$site" ] || continue
		[ "$what" = freed ] && live=0/0
		expect_eq "$what: $site live" "$(site_live "$site" "$sites")" "$live"
		expect_eq "$what: $site total" "$(site_total "$site" "$sites")" "$total"
	done <<<"$direct"
	while read -r site live total; do
		[ -n "$site" ] || continue
		[ "$what" = freed ] && live=0/0
		expect_eq "$what: stacks through $site live" "$(stack_live "$site" "$stacks")" "$live"
		case $total in
		-/*) expect_eq "$what: blocks ever allocated through $site" \
			"$(stack_sum "$site" total_blocks "$stacks")" "${total#-/}" ;;
		*) expect_eq "$what: stacks through $site total" \
			"$(stack_total "$site" "$stacks")" "$total" ;;
		esac
	done <<<"$through"
}

# check_workload WL [NAME=VALUE...]: every check on workload WL, run with
# the agent's environment changed by the NAME=VALUE words.
check_workload() {
	local wl=$1 name
	name=$(basename "$1")
	shift
	echo "== $name: hold"
	wl_start "$@" "$wl" hold
	wl_ready
	snap_live "$WL_PID" "$HT_TMP/$name-sites.txt"
	snap "$HT_TMP/$name-stacks.txt" --socket "$(sock_of "$WL_PID")"
	check "$HT_TMP/$name-sites.txt" "$HT_TMP/$name-stacks.txt" live
	ALLOCS[$name]=$(globals_field allocs "$HT_TMP/$name-sites.txt")
	TOTAL[$name]=$(globals_field total_bytes "$HT_TMP/$name-sites.txt")
	wl_continue
	wl_ready
	snap_live "$WL_PID" "$HT_TMP/$name-sites2.txt"
	snap "$HT_TMP/$name-stacks2.txt" --socket "$(sock_of "$WL_PID")"
	check "$HT_TMP/$name-sites2.txt" "$HT_TMP/$name-stacks2.txt" freed
	wl_continue
	rc=0
	wl_finish || rc=$?
	expect_eq "$name hold exit status" "$rc" 0

	echo "== $name: exit: live at exit (vector and string are globals, destroyed by exit)"
	run_traced "$@" "$wl" exit
	snap_final "$RUN_PID" "$HT_TMP/$name-final-sites.txt"
	snap "$HT_TMP/$name-final-stacks.txt" --file "$(final_of "$RUN_PID")"
	while read -r site live total; do
		[ -n "$site" ] || continue
		expect_eq "exit: $site live" "$(site_live "$site" "$HT_TMP/$name-final-sites.txt")" "$live"
	done <<<"$direct"
	expect_eq "exit: site_vector live" "$(stack_live site_vector "$HT_TMP/$name-final-stacks.txt")" 0/0
	expect_eq "exit: site_string live" "$(stack_live site_string "$HT_TMP/$name-final-stacks.txt")" 0/0
	expect_eq "exit: site_map live" "$(stack_live site_map "$HT_TMP/$name-final-stacks.txt")" 4848/101
	expect_eq "exit: site_throw live" "$(stack_live site_throw "$HT_TMP/$name-final-stacks.txt")" 0/0
}

declare -A ALLOCS TOTAL
check_workload "$HT_WORKLOADS/wl_cxx"

wl=$HT_WORKLOADS/wl_cxx_jemalloc
if [ ! -x "$wl" ]; then
	echo "== not built: wl_cxx_jemalloc (configure found no -ljemalloc)"
	exit 0
fi
check_workload "$wl" "LD_PRELOAD=$HEAPTOP_AGENT:$shim"
# Each block once: jemalloc's aligned operator new calls its own
# posix_memalign, which must not count again.  wl_cxx_jemalloc makes one
# more block first, 64 KiB, to check that jemalloc serves `new`.
expect_eq "wl_cxx_jemalloc: blocks ever allocated" "${ALLOCS[wl_cxx_jemalloc]}" \
	"$((ALLOCS[wl_cxx] + 1))"
expect_eq "wl_cxx_jemalloc: bytes ever allocated" "${TOTAL[wl_cxx_jemalloc]}" \
	"$((TOTAL[wl_cxx] + 65536))"

# Sampled: 1 MiB blocks are sampled with a probability that is 1 in a
# double, so their estimates are exact; what the new_handler allocates is
# the program's, whichever operator new calls it.
for w in wl_cxx wl_cxx_jemalloc; do
	echo "== $w, sampled every 4 KiB"
	run_traced HEAPTOP_SAMPLE=4096 "LD_PRELOAD=$HEAPTOP_AGENT:$shim" "$HT_WORKLOADS/$w" exit
	snap_final "$RUN_PID" "$HT_TMP/$w-sampled.txt"
	expect_eq "$w sampled: site_handler live" \
		"$(site_live site_handler "$HT_TMP/$w-sampled.txt")" 2097152/2
done

# The shim in front of three operators new: libstdc++'s (which calls
# malloc), jemalloc's linked in, tcmalloc's preloaded.
configs=("wl_cxx $HT_WORKLOADS/wl_cxx $HEAPTOP_AGENT:$shim"
	"wl_cxx_jemalloc $HT_WORKLOADS/wl_cxx_jemalloc $HEAPTOP_AGENT:$shim")
tcmalloc=$(shared_lib libtcmalloc_minimal.so.4)
if [ -n "$tcmalloc" ]; then
	configs+=("tcmalloc $HT_WORKLOADS/wl_cxx $HEAPTOP_AGENT:$shim:$tcmalloc")
else
	echo "== not installed: libtcmalloc_minimal.so.4"
fi

# Sampled, many small objects: the shim itself takes the bytes of those
# with no sample point off the countdown (cxx.c, cxxabi.h), and nothing
# the allocator's operator does inside counts again (jemalloc's aligned
# new calls its own posix_memalign, libstdc++'s new calls malloc: counted
# twice, a site's estimate would be about twice its bytes), nor what an
# operator nested in it tells (libstdc++'s new[] calls new, which is the
# shim's again).  At 32 KiB a 128 MiB site of 64- or 128-byte blocks is
# off by about 1.6% (1 sd).
for c in "${configs[@]}"; do
	read -r name w preload <<<"$c"
	echo "== $name, many small objects sampled every 32 KiB"
	wl_start HEAPTOP_SAMPLE=32768 "LD_PRELOAD=$preload" "$w" many
	wl_ready
	f=$HT_TMP/$name-many.txt
	snap_live "$WL_PID" "$f"
	within "$name site_many_new bytes" "$(site_field site_many_new live_bytes "$f")" $((128 << 20)) 10
	within "$name site_many_new blocks" "$(site_field site_many_new live_blocks "$f")" $((2 << 20)) 10
	within "$name site_many_aligned bytes" "$(site_field site_many_aligned live_bytes "$f")" \
		$((128 << 20)) 10
	within "$name site_many_aligned blocks" "$(site_field site_many_aligned live_blocks "$f")" \
		$((1 << 20)) 10
	within "$name site_many_array bytes" "$(site_field site_many_array live_bytes "$f")" $((128 << 20)) 10
	within "$name site_many_array blocks" "$(site_field site_many_array live_blocks "$f")" $((2 << 20)) 10
	wl_continue
	wl_ready
	snap_live "$WL_PID" "$HT_TMP/$name-many-freed.txt"
	for site in site_many_new site_many_aligned site_many_array; do
		expect_eq "$name $site live after delete" "$(site_live $site "$HT_TMP/$name-many-freed.txt")" 0/0
	done
	wl_continue
	rc=0
	wl_finish || rc=$?
	expect_eq "$name many exit status" "$rc" 0
done

# A small new that runs out of memory: what its new_handler allocates is
# the program's, exact or sampled (1 MiB blocks are sampled with a
# probability that is 1 in a double at 32 KiB, so their estimate is exact).
for c in "${configs[@]}"; do
	read -r name w preload <<<"$c"
	for sample in 0 32768; do
		echo "== $name, new_handler of a small new out of memory, HEAPTOP_SAMPLE=$sample"
		wl_start HEAPTOP_SAMPLE=$sample "LD_PRELOAD=$preload" "$w" oom
		wl_ready
		n=$(echo "$READY_LINE" | sed -n 's/.*handler_blocks=\([0-9]*\).*/\1/p')
		expect_eq "$name handler blocks made" "$n" 16
		f=$HT_TMP/$name-oom-$sample.txt
		snap_live "$WL_PID" "$f"
		expect_eq "$name sampled=$sample site_oom_handler live" \
			"$(site_live site_oom_handler "$f")" "$((16 << 20))/16"
		wl_continue
		wl_ready
		snap_live "$WL_PID" "$f.freed"
		expect_eq "$name sampled=$sample site_oom_handler after delete" \
			"$(site_live site_oom_handler "$f.freed")" 0/0
		wl_continue
		rc=0
		wl_finish || rc=$?
		expect_eq "$name oom exit status" "$rc" 0
	done
done

echo "== wl_cxx_jemalloc without libheaptop-cxx.so: jemalloc's operator new is not seen"
run_traced "$wl" exit
snap_final "$RUN_PID" "$HT_TMP/noshim.txt"
expect_eq "no shim: site_new live" "$(site_live site_new "$HT_TMP/noshim.txt")" 0/0
expect_eq "no shim: site_new_array live" "$(site_live site_new_array "$HT_TMP/noshim.txt")" 0/0

# The program's own operator new, in the shapes hand-written allocators
# have, each built here as a library (the operators by their mangled
# names, in C) with a program that calls them.  Whatever the shape, the
# heap's blocks count once: a block new returns that malloc made in there,
# or that lies in one (after a header, a trailer or an alignment), at the
# caller of new with what malloc holds for it (a block new hands out
# again from a cache of its own counts the size new was asked); a slab's
# or a registry's own blocks stay at the operator.  Sampled, the shim's operator takes the
# short way only while nothing it calls goes through the hooks: the first
# big block that comes the long way keeps it there for good, or every big
# block's bytes count twice towards the sample points and the block is
# recorded again at the operator (the heap estimated at about twice its
# size).
CC=${CC:-cc}
if command -v "$CC" >/dev/null; then
	mkdir -p "$HT_TMP/new"
	# pool: small blocks from its own pool, big ones from malloc
	cat >"$HT_TMP/new/pool.c" <<'EOF'
#include <stdlib.h>
#include <sys/mman.h>
#define POOL (1 << 20)
static char *pool, *next;
void *_Znwm(size_t n)
{
	if (n > 64) {
		void *p = malloc(n);
		if (!p)
			abort();
		return p;
	}
	if (!pool && (pool = next = mmap(NULL, POOL, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		abort();
	if (next + 64 > pool + POOL)
		abort();
	next += 64;
	return next - 64;
}
void _ZdlPv(void *p)
{
	if (p && !((char *)p >= pool && (char *)p < pool + POOL))
		free(p);
}
EOF
	# hdr: a 16-byte header in front of malloc's block; blocks of 48
	# bytes go to a free list on delete and come back from it
	cat >"$HT_TMP/new/hdr.c" <<'EOF'
#include <stdlib.h>
struct hdr {
	size_t n;
	struct hdr *next;
};
static struct hdr *cache;
void *_Znwm(size_t n)
{
	struct hdr *h = n == 48 ? cache : NULL;
	if (h)
		cache = h->next;
	else if (!(h = malloc(sizeof *h + n)))
		abort();
	h->n = n;
	return h + 1;
}
void _ZdlPv(void *p)
{
	struct hdr *h = p ? (struct hdr *)p - 1 : NULL;
	if (h && h->n == 48) {
		h->next = cache;
		cache = h;
	} else if (h) {
		free(h);
	}
}
EOF
	# reg: a header, then a registry node of 24 bytes from malloc
	cat >"$HT_TMP/new/reg.c" <<'EOF'
#include <stdlib.h>
void *_Znwm(size_t n)
{
	void **h = malloc(n + 16), **node = malloc(3 * sizeof(void *));
	if (!h || !node)
		abort();
	node[0] = h;
	h[0] = node;
	return h + 2;
}
void _ZdlPv(void *p)
{
	if (p) {
		void **h = (void **)p - 2;
		free(h[0]);
		free(h);
	}
}
EOF
	# round: malloc asked for the size rounded up to 32 bytes; aligned
	# new over-allocates and keeps malloc's pointer below the block
	cat >"$HT_TMP/new/round.c" <<'EOF'
#include <stdint.h>
#include <stdlib.h>
void *_Znwm(size_t n)
{
	void *p = malloc((n + 31) & ~(size_t)31);
	if (!p)
		abort();
	return p;
}
void _ZdlPv(void *p)
{
	free(p);
}
void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
	char *raw = malloc(n + al - 1 + sizeof(void *));
	if (!raw)
		abort();
	uintptr_t a = ((uintptr_t)raw + sizeof(void *) + al - 1) & ~(uintptr_t)(al - 1);
	((void **)a)[-1] = raw;
	return (void *)a;
}
void _ZdlPvSt11align_val_t(void *p, size_t al)
{
	(void)al;
	if (p)
		free(((void **)p)[-1]);
}
EOF
	# slab: 4 KiB chunks from malloc, a 16-byte chunk header, then 63
	# slots of 64 bytes; delete puts a slot on a free list
	cat >"$HT_TMP/new/slab.c" <<'EOF'
#include <stdlib.h>
#define CHUNK 4096
#define SLOT 64
static char *chunk;
static size_t used = CHUNK;
static void *freelist;
void *_Znwm(size_t n)
{
	if (n > SLOT)
		abort();
	if (freelist) {
		void *p = freelist;
		freelist = *(void **)p;
		return p;
	}
	if (used + SLOT > CHUNK) {
		if (!(chunk = malloc(CHUNK)))
			abort();
		used = 16;
	}
	used += SLOT;
	return chunk + used - SLOT;
}
void _ZdlPv(void *p)
{
	if (p) {
		*(void **)p = freelist;
		freelist = p;
	}
}
EOF
	# The program: site_a makes A_N blocks of A_SIZE bytes (aligned to
	# A_ALIGN when not 0) and deletes every other one, site_temp makes
	# 1000 of 48 bytes and deletes them all, then site_keep 1000 of 48.
	cat >"$HT_TMP/new/main.c" <<'EOF'
#include <stdlib.h>
void *_Znwm(unsigned long);
void _ZdlPv(void *);
void *_ZnwmSt11align_val_t(unsigned long, unsigned long) __attribute__((weak));
void _ZdlPvSt11align_val_t(void *, unsigned long) __attribute__((weak));
static unsigned long n, size, align;
static void **a, *temp[1000], *keep[1000];
__attribute__((noinline)) void site_a(void)
{
	for (unsigned long i = 0; i < n; i++)
		a[i] = align ? _ZnwmSt11align_val_t(size, align) : _Znwm(size);
}
__attribute__((noinline)) void site_temp(void)
{
	for (int i = 0; i < 1000; i++)
		temp[i] = _Znwm(48);
}
__attribute__((noinline)) void site_keep(void)
{
	for (int i = 0; i < 1000; i++)
		keep[i] = _Znwm(48);
}
int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	n = strtoul(argv[1], NULL, 0);
	size = strtoul(argv[2], NULL, 0);
	align = strtoul(argv[3], NULL, 0);
	if (!(a = calloc(n, sizeof *a)))
		return 1;
	site_a();
	for (unsigned long i = 1; i < n; i += 2) {
		if (align)
			_ZdlPvSt11align_val_t(a[i], align);
		else
			_ZdlPv(a[i]);
	}
	site_temp();
	for (int i = 0; i < 1000; i++)
		_ZdlPv(temp[i]);
	site_keep();
	return 0;
}
EOF
	"$CC" -g -O1 -c -o "$HT_TMP/new/main.o" "$HT_TMP/new/main.c"
	# library, site_a's blocks, size, alignment; then live at exit in the
	# heap: site_a, site_keep, and every site's bytes (what the operator
	# keeps for itself included: the slab's chunks, the registry's nodes,
	# a's array of pointers)
	cases=(
		"pool 100000 1000 0 50000000/50000 48000/1000 $((50000000 + 48000 + 800000))"
		"hdr 100000 1000 0 50800000/50000 48000/1000 $((50800000 + 48000 + 800000))"
		"reg 100000 1000 0 50800000/50000 64000/1000 $((50800000 + 64000 + 51000 * 24 + 800000))"
		"round 2000000 16 0 32000000/1000000 64000/1000 $((32000000 + 64000 + 16000000))"
		"round 20000 1000 4096 51030000/10000 64000/1000 $((51030000 + 64000 + 160000))"
		"slab 1000 40 0 20000/500 48000/1000 $((20000 + 48000 + 24 * 4096 + 8000))"
	)
	for c in "${cases[@]}"; do
		read -r lib cnt sz al want_a want_keep want_all <<<"$c"
		name=$lib-$sz-$al
		[ -f "$HT_TMP/new/lib$lib.so" ] ||
			"$CC" -g -O1 -shared -fPIC -o "$HT_TMP/new/lib$lib.so" "$HT_TMP/new/$lib.c"
		[ -f "$HT_TMP/new/$lib-main" ] ||
			"$CC" -g -o "$HT_TMP/new/$lib-main" "$HT_TMP/new/main.o" -L"$HT_TMP/new" -l"$lib" \
				-Wl,-rpath,"$HT_TMP/new"
		for sample in 0 32768; do
			echo "== operator new $name, HEAPTOP_SAMPLE=$sample"
			run_traced HEAPTOP_SAMPLE=$sample "LD_PRELOAD=$HEAPTOP_AGENT:$shim" \
				"$HT_TMP/new/$lib-main" "$cnt" "$sz" "$al"
			f=$HT_TMP/new/$name-$sample.txt
			snap_final "$RUN_PID" "$f"
			sum=$(grep '^site ' "$f" | grep -o ' live_bytes=[0-9]*' | cut -d= -f2 |
				awk '{ s += $1 } END { print s + 0 }')
			if [ "$sample" = 0 ]; then
				expect_eq "$name exact: site_a live" "$(site_live site_a "$f")" "$want_a"
				expect_eq "$name exact: site_temp live" "$(site_live site_temp "$f")" 0/0
				expect_eq "$name exact: site_keep live" "$(site_live site_keep "$f")" \
					"$want_keep"
				expect_eq "$name exact: every site's live bytes" "$sum" "$want_all"
			elif [ "${want_a%/*}" -ge 30000000 ]; then
				# 30 MB and more: within 10 % (3 sd) at 32 KiB
				within "$name sampled: site_a bytes" \
					"$(site_field site_a live_bytes "$f")" "${want_a%/*}" 10
				within "$name sampled: every site's live bytes" "$sum" "$want_all" 10
			fi
		done
	done
else
	echo "== not built: the program's own operator new ($CC is not installed)"
fi
