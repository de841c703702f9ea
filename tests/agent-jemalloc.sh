#!/bin/bash
# jemalloc: a program whose malloc is jemalloc's.  The agent finds it with
# dlsym(RTLD_NEXT) and counts exactly; blocks from jemalloc's own API
# (mallocx) are not interposed, and free()ing them must pass through.
# wl_jemalloc checks by itself that jemalloc served its malloc calls.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_jemalloc
[ -x "$wl" ] || skip "jemalloc is not installed (configure found no -ljemalloc)"

expected='
site_je_malloc          10000/10  10000/10
site_je_calloc           2000/4    2000/4
site_je_realloc          5000/1    5100/2
site_je_posix_memalign   6000/2    6000/2
site_je_aligned_alloc    1280/2    1280/2
site_je_mallocx             0/0    missing/missing
'

# check FILE WHAT [TABLE]: the sites of TABLE ($expected by default) in
# FILE, all freed when WHAT is "freed" ("C++ freed" too).
check() {
	local f=$1 what=$2 table=${3:-$expected} site live total
	while read -r site live total; do
		[ -n "$site" ] || continue
		[[ $what == *freed ]] && live=0/0
		expect_eq "$what: $site live" "$(site_live "$site" "$f")" "$live"
		expect_eq "$what: $site total" "$(site_total "$site" "$f")" "$total"
	done <<<"$table"
}

echo "== hold"
wl_start "$wl" hold
wl_ready
snap_live "$WL_PID" "$HT_TMP/live.txt"
check "$HT_TMP/live.txt" live
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/freed.txt"
check "$HT_TMP/freed.txt" freed
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_jemalloc hold exit status" "$rc" 0

echo "== exit"
run_traced "$wl" exit
snap_final "$RUN_PID" "$HT_TMP/final.txt"
check "$HT_TMP/final.txt" live

# C++: jemalloc brings its own operator new and delete, which never call
# malloc or free; the agent counts them where they are defined.
wlx=$HT_WORKLOADS/wl_jemalloc_cxx
expected_cxx='
site_jx_new          384/8     384/8
site_jx_new_array   3000/3    3000/3
site_jx_nothrow     1000/2    1000/2
site_jx_aligned     1024/2    1024/2
site_jx_vector        24/1      24/1
site_jx_churn          0/0   48000/1000
'
check_cxx() {
	local f=$1 what=$2
	check "$f" "C++ $what" "$expected_cxx"
	# The vector's buffer is allocated by libstdc++'s templates: found
	# through site_jx_vector on its stack.
	local v=1024/2
	[ "$what" = freed ] && v=0/0
	expect_eq "C++ $what: stacks through site_jx_vector live" \
		"$(stack_live site_jx_vector "${f%.txt}-stacks.txt")" "$v"
	expect_eq "C++ $what: stacks through site_jx_vector total" \
		"$(stack_total site_jx_vector "${f%.txt}-stacks.txt")" 1024/2
}
echo "== C++ hold: jemalloc's operator new and delete"
wl_start "$wlx" hold
wl_ready
snap_live "$WL_PID" "$HT_TMP/cxx-live.txt"
snap "$HT_TMP/cxx-live-stacks.txt" --socket "$(sock_of "$WL_PID")"
check_cxx "$HT_TMP/cxx-live.txt" live
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/cxx-freed.txt"
snap "$HT_TMP/cxx-freed-stacks.txt" --socket "$(sock_of "$WL_PID")"
check_cxx "$HT_TMP/cxx-freed.txt" freed
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_jemalloc_cxx hold exit status" "$rc" 0
