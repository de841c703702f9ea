#!/bin/bash
# Threads: 8 workers x 200 000 allocations, each block freed by another
# thread than the one that allocated it, plus short-lived threads that exit
# while the workers run.  The totals must be exact and the program must
# finish (no deadlock) well within the timeout.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_threads
HT_TIMEOUT=120

check() {
	local f=$1 what=$2 keep=$3 short=$4
	expect_eq "$what: site_thread_churn live" "$(site_live site_thread_churn "$f")" 0/0
	expect_eq "$what: site_thread_churn total" "$(site_total site_thread_churn "$f")" \
		428800000/1600000
	expect_eq "$what: site_thread_keep live" "$(site_live site_thread_keep "$f")" "$keep"
	expect_eq "$what: site_thread_keep total" "$(site_total site_thread_keep "$f")" 8000/80
	expect_eq "$what: site_short_thread live" "$(site_live site_short_thread "$f")" "$short"
	expect_eq "$what: site_short_thread total" "$(site_total site_short_thread "$f")" \
		51200/1600
}

echo "== hold, with a client taking snapshots while the workers run"
start=$SECONDS
wl_start "$wl" hold
timeout 60 "$HT_SNAPSHOT" --socket "$(sock_of "$WL_PID")" --wait 10 --count 40 \
	--interval-ms 5 >"$HT_TMP/during.txt" &
watcher=$!
wl_ready
rc=0
wait "$watcher" || rc=$?
expect_eq "snapshots during the run: exit status" "$rc" 0
expect_eq "snapshots during the run" "$(grep -c '^snapshot ' "$HT_TMP/during.txt")" 40
echo "workers done after $((SECONDS - start)) s"
expect_le "seconds to run the workers" "$((SECONDS - start))" 60
snap_live "$WL_PID" "$HT_TMP/done.txt"
check "$HT_TMP/done.txt" done 8000/80 20480/640
allocs=$(globals_field allocs "$HT_TMP/done.txt")
frees=$(globals_field frees "$HT_TMP/done.txt")
expect_eq "globals: allocs - frees" "$((allocs - frees))" "$(globals_field live_blocks "$HT_TMP/done.txt")"
expect_ge "globals: allocs" "$allocs" 1601680
expect_eq "globals: untracked_blocks" "$(globals_field untracked_blocks "$HT_TMP/done.txt")" 0
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/freed.txt"
check "$HT_TMP/freed.txt" freed 0/0 0/0
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_threads hold exit status" "$rc" 0

echo "== exit: the kept blocks are live at exit"
rc=0
run_traced "$wl" exit || rc=$?
expect_eq "wl_threads exit status" "$rc" 0
snap_final "$RUN_PID" "$HT_TMP/final.txt"
check "$HT_TMP/final.txt" exit 8000/80 20480/640

echo "== exit-small: exit() on a thread with PTHREAD_STACK_MIN of stack"
rc=0
run_traced "$wl" exit-small || rc=$?
expect_eq "wl_threads exit-small exit status" "$rc" 0
snap_final "$RUN_PID" "$HT_TMP/final-small.txt"
check "$HT_TMP/final-small.txt" exit-small 8000/80 20480/640

# exits_holding UNWIND MODE SITE LIVE: wl_threads MODE under HEAPTOP_UNWIND,
# which must exit 0 with SITE holding LIVE (bytes/blocks) at exit.
exits_holding() {
	local unwind=$1 mode=$2 site=$3 live=$4 rc=0
	run_traced HEAPTOP_UNWIND="$unwind" "$wl" "$mode" || rc=$?
	expect_eq "$mode ($unwind): exit status" "$rc" 0
	snap_final "$RUN_PID" "$HT_TMP/$mode-$unwind.txt"
	expect_eq "$mode ($unwind): $site live" "$(site_live "$site" "$HT_TMP/$mode-$unwind.txt")" "$live"
}

# Under every walker:
# - getattr: a thread whose first allocation is made inside
#   pthread_getattr_np (which holds the thread's lock) must not have the
#   agent ask for its stack then: the program hung, main's first
#   allocation and a new thread's alike;
# - small-stack: the agent's per-thread memory (8 KiB of walk buffers) must
#   not come out of a thread's stack: a PTHREAD_STACK_MIN thread using 5000
#   bytes of its own crashed under every walker when it lived in static TLS;
# - coroutine: a stack that is not the thread's own is walked, by libunwind
#   when frame pointers cannot.
HT_TIMEOUT=20
for unwind in dwarf fp libunwind; do
	echo "== getattr, small stack and coroutine, HEAPTOP_UNWIND=$unwind"
	exits_holding "$unwind" getattr site_getattr 2048/32
	exits_holding "$unwind" small-stack site_small_stack 1000/10
	exits_holding "$unwind" coroutine site_coroutine 1500/5
done
