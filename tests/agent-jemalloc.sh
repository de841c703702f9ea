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

check() {
	local f=$1 what=$2 site live total
	while read -r site live total; do
		[ -n "$site" ] || continue
		[ "$what" = freed ] && live=0/0
		expect_eq "$what: $site live" "$(site_live "$site" "$f")" "$live"
		expect_eq "$what: $site total" "$(site_total "$site" "$f")" "$total"
	done <<<"$expected"
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
