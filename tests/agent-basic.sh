#!/bin/bash
# Every interposed function of the malloc family, with exact live and total
# bytes and blocks per site: through the socket at the ready point, after
# freeing (live back to zero), and in the live-at-exit file.  wl_basic
# also checks by itself that the allocator still behaves as documented
# (errno, alignment, realloc corner cases, calloc overflow) under the agent.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_basic

echo "== the agent defines only the functions libheaptop(7) names"
# Anything else it exported would take the place of the program's own (a
# plugin's operator new, say) for every object loaded after it.  The
# __heaptop_ ones are for libheaptop-cxx.so, which defines the twenty
# operators new and delete and nothing else.
if command -v nm >/dev/null; then
	expect_eq "exported functions" \
		"$(nm -D --defined-only "$HEAPTOP_AGENT" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')" \
		"_Exit __heaptop_alloc2 __heaptop_busy __heaptop_cxx_enter __heaptop_cxx_leave __heaptop_cxx_loaded __heaptop_cxx_thread2 __heaptop_free __register_atfork _exit aligned_alloc calloc dlclose free malloc memalign posix_memalign pthread_getattr_np pvalloc quick_exit realloc reallocarray valloc "
	shim=$(dirname "$HEAPTOP_AGENT")/libheaptop-cxx.so
	expect_eq "libheaptop-cxx.so's exported functions" \
		"$(nm -D --defined-only "$shim" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')" \
		"_ZdaPv _ZdaPvRKSt9nothrow_t _ZdaPvSt11align_val_t _ZdaPvSt11align_val_tRKSt9nothrow_t _ZdaPvm _ZdaPvmSt11align_val_t _ZdlPv _ZdlPvRKSt9nothrow_t _ZdlPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdlPvm _ZdlPvmSt11align_val_t _Znam _ZnamRKSt9nothrow_t _ZnamSt11align_val_t _ZnamSt11align_val_tRKSt9nothrow_t _Znwm _ZnwmRKSt9nothrow_t _ZnwmSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t "
fi

# site  live bytes/blocks  total bytes/blocks (see wl_basic.c)
expected='
site_malloc          10000/10  10000/10
site_calloc           2100/7    2100/7
site_realloc_origin      0/0     100/1
site_realloc          3200/1    6200/5
site_realloc_null      500/1     500/1
site_realloc_zero        0/0      77/1
site_reallocarray     1000/1    1500/2
site_strdup            500/5     500/5
site_posix_memalign   6024/3    6024/3
site_aligned_alloc    2048/4    2048/4
site_memalign          600/2     600/2
site_valloc            300/3     300/3
site_pvalloc           200/2     200/2
site_malloc0             0/2       0/2
'

# check_sites FILE WHAT: compare every site of FILE with $expected; WHAT is
# "live" (live as listed) or "freed" (live 0/0, totals as listed).
check_sites() {
	local file=$1 what=$2 site live total
	while read -r site live total; do
		[ -n "$site" ] || continue
		[ "$what" = freed ] && live=0/0
		expect_eq "$what: $site live" "$(site_live "$site" "$file")" "$live"
		expect_eq "$what: $site total" "$(site_total "$site" "$file")" "$total"
	done <<<"$expected"
}

# check_globals FILE: allocs - frees must be the live block count.
check_globals() {
	local allocs frees blocks
	allocs=$(globals_field allocs "$1")
	frees=$(globals_field frees "$1")
	blocks=$(globals_field live_blocks "$1")
	expect_eq "globals: allocs - frees" "$((allocs - frees))" "$blocks"
	expect_eq "globals: untracked_blocks" "$(globals_field untracked_blocks "$1")" 0
}

echo "== self-checks without and with the agent"
expect_true "wl_basic check (no agent)" "$wl" check
expect_true "wl_basic check (agent)" run_traced "$wl" check

echo "== hold: live at the ready point, then freed"
wl_start "$wl" hold
wl_ready
snap_live "$WL_PID" "$HT_TMP/live.txt"
expect_eq "snapshot pid" "$(header_field pid "$HT_TMP/live.txt")" "$WL_PID"
expect_eq "snapshot final" "$(header_field final "$HT_TMP/live.txt")" 0
check_sites "$HT_TMP/live.txt" live
check_globals "$HT_TMP/live.txt"
expect_ge "globals: live_bytes >= sum of the sites" \
	"$(globals_field live_bytes "$HT_TMP/live.txt")" 26472
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/freed.txt"
check_sites "$HT_TMP/freed.txt" freed
check_globals "$HT_TMP/freed.txt"
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_basic hold exit status" "$rc" 0
expect_true "socket removed at exit" test ! -e "$(sock_of "$WL_PID")"
snap_final "$WL_PID" "$HT_TMP/final-hold.txt"
expect_eq "hold: final flag" "$(header_field final "$HT_TMP/final-hold.txt")" 1
check_sites "$HT_TMP/final-hold.txt" freed

echo "== exit: everything still live at exit, exit status 3"
rc=0
run_traced "$wl" exit 3 || rc=$?
expect_eq "wl_basic exit 3 status" "$rc" 3
snap_final "$RUN_PID" "$HT_TMP/final-exit.txt"
expect_eq "exit: final flag" "$(header_field final "$HT_TMP/final-exit.txt")" 1
expect_eq "exit: exit_status" "$(header_field exit_status "$HT_TMP/final-exit.txt")" 3
expect_eq "exit: pid" "$(header_field pid "$HT_TMP/final-exit.txt")" "$RUN_PID"
check_sites "$HT_TMP/final-exit.txt" live
check_globals "$HT_TMP/final-exit.txt"
leftover=$(find "$HT_TMP" -type f ! -name '*.snap' ! -name '*.txt' ! -name '*.pid')
expect_eq "files left besides snapshots (atomic rename)" "${leftover:-none}" none

echo "== errno after failing allocations is the C library's"
rc=0
run_traced "$wl" errno || rc=$?
expect_eq "wl_basic errno: exit status" "$rc" 0

echo "== quick_exit: the same, after the program's at_quick_exit handlers"
rc=0
run_traced "$wl" quick_exit 4 || rc=$?
expect_eq "wl_basic quick_exit 4 status" "$rc" 4
snap_final "$RUN_PID" "$HT_TMP/final-quick.txt"
expect_eq "quick_exit: exit_status" "$(header_field exit_status "$HT_TMP/final-quick.txt")" 4
check_sites "$HT_TMP/final-quick.txt" live
expect_eq "quick_exit: the program's handler's block" \
	"$(site_live site_quick_exit "$HT_TMP/final-quick.txt")" 123/1

echo "== HEAPTOP_DEPTH=1 keeps one frame per stack"
# ht-snapshot expands a pc into its inline frames, so with one pc the stack
# of site_malloc (noinline, calling malloc itself) is exactly site_malloc,
# while by default it goes up to main.
run_traced HEAPTOP_DEPTH=1 "$wl" exit
snap "$HT_TMP/depth1.txt" --file "$(final_of "$RUN_PID")"
frames=$(awk '$1 == "stack" && / site=site_malloc / { sub(/.* frames=/, ""); print }' "$HT_TMP/depth1.txt")
expect_eq "depth 1: frames of site_malloc's stack" "$frames" site_malloc
expect_eq "depth 1: stacks through main" "$(stack_sum main total_blocks "$HT_TMP/depth1.txt")" 0
snap "$HT_TMP/depth1-sites.txt" --file "$(final_of "$RUN_PID")" --by-site
expect_eq "depth 1: site_malloc live" "$(site_live site_malloc "$HT_TMP/depth1-sites.txt")" 10000/10
run_traced "$wl" exit
snap "$HT_TMP/depth-default.txt" --file "$(final_of "$RUN_PID")" >/dev/null
expect_eq "default depth: site_malloc's stack reaches main" \
	"$(stack_live main "$HT_TMP/depth-default.txt" | cut -d/ -f2)" 41
