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

# The program's own operator new, in two shapes hand-written allocators
# have: one that serves small blocks from a pool and big ones with malloc,
# and one that puts a 16-byte header in front of malloc's block.  Exact,
# each block counts once, at the caller of new, with what malloc holds for
# it (a header included: the heap holds it), and a delete takes it off.
# Sampled, the shim's operator takes the short way only while nothing it
# calls goes through the hooks: the first big block that comes the long
# way keeps it there for good, or every big block's bytes count twice
# towards the sample points and the block is recorded again at the pool's
# operator (the heap estimated at about twice its size).
CC=${CC:-cc}
if command -v "$CC" >/dev/null; then
	cat >"$HT_TMP/pool.c" <<'EOF'
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
	cat >"$HT_TMP/hdr.c" <<'EOF'
#include <stdlib.h>
void *_Znwm(size_t n)
{
	size_t *h = malloc(n + 16);
	if (!h)
		abort();
	h[0] = n;
	return h + 2;
}
void _ZdlPv(void *p)
{
	if (p)
		free((size_t *)p - 2);
}
EOF
	cat >"$HT_TMP/newmain.c" <<'EOF'
void *_Znwm(unsigned long);
void _ZdlPv(void *);
static void *small[200], *big[100000];
__attribute__((noinline)) void site_small(void)
{
	for (int i = 0; i < 200; i++)
		small[i] = _Znwm(16);
}
__attribute__((noinline)) void site_big(void)
{
	for (int i = 0; i < 100000; i++)
		big[i] = _Znwm(1000);
}
int main(void)
{
	site_small();
	site_big();
	for (int i = 1; i < 100000; i += 2)
		_ZdlPv(big[i]);
	return 0;
}
EOF
	# the library, then a big block's and a small one's bytes in the heap
	for c in "pool 1000 16" "hdr 1016 32"; do
		read -r name bigb smallb <<<"$c"
		"$CC" -g -O1 -shared -fPIC -o "$HT_TMP/lib$name.so" "$HT_TMP/$name.c"
		"$CC" -g -O1 -o "$HT_TMP/${name}main" "$HT_TMP/newmain.c" -L"$HT_TMP" -l"$name" \
			-Wl,-rpath,"$HT_TMP"
		live_big=$((50000 * bigb)) all=$((50000 * bigb + 200 * smallb))
		for sample in 0 32768; do
			echo "== $name operator new, HEAPTOP_SAMPLE=$sample"
			run_traced HEAPTOP_SAMPLE=$sample "LD_PRELOAD=$HEAPTOP_AGENT:$shim" \
				"$HT_TMP/${name}main"
			f=$HT_TMP/$name-$sample.txt
			snap_final "$RUN_PID" "$f"
			sum=$(grep '^site ' "$f" | grep -o ' live_bytes=[0-9]*' | cut -d= -f2 |
				awk '{ s += $1 } END { print s + 0 }')
			if [ "$sample" = 0 ]; then
				expect_eq "$name exact: site_big live" "$(site_live site_big "$f")" \
					"$live_big/50000"
				expect_eq "$name exact: site_big total" "$(site_total site_big "$f")" \
					"$((2 * live_big))/100000"
				expect_eq "$name exact: site_small live" "$(site_live site_small "$f")" \
					"$((200 * smallb))/200"
				expect_eq "$name exact: every site's live bytes" "$sum" "$all"
			else
				within "$name sampled: site_big bytes" \
					"$(site_field site_big live_bytes "$f")" "$live_big" 10
				within "$name sampled: every site's live bytes" "$sum" "$all" 10
			fi
		done
	done
else
	echo "== not built: the program's own operator new ($CC is not installed)"
fi
