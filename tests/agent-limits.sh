#!/bin/bash
# When the stack table is full (HEAPTOP_MAX_STACKS), new stacks are charged
# to the overflow stack, id 0: the program runs on, the totals stay exact,
# and the snapshot shows how much went there.  Bad values of the agent's
# settings fall back to the defaults rather than break the program.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_basic
rc=0
run_traced "$wl" exit || rc=$?
expect_eq "wl_basic exit status" "$rc" 0
snap "$HT_TMP/full.txt" --file "$(final_of "$RUN_PID")" >/dev/null

rc=0
run_traced HEAPTOP_MAX_STACKS=4 "$wl" exit || rc=$?
expect_eq "wl_basic exit status with 4 stacks at most" "$rc" 0
snap "$HT_TMP/small.txt" --file "$(final_of "$RUN_PID")" >/dev/null
expect_eq "stacks in the table" "$(header_field stacks "$HT_TMP/small.txt")" 4
for f in live_bytes live_blocks allocs frees total_bytes; do
	expect_eq "$f with a full table" "$(globals_field $f "$HT_TMP/small.txt")" \
		"$(globals_field $f "$HT_TMP/full.txt")"
done
overflow=$(awk '$1 == "stack" && $2 == 0' "$HT_TMP/small.txt" | kv_field total_blocks)
expect_ge "allocations charged to the overflow stack" "${overflow:-0}" 1
expect_eq "overflow stack's site" \
	"$(awk '$1 == "stack" && $2 == 0' "$HT_TMP/small.txt" | grep -o 'site=[^ ]*')" "site=[overflow]"

# Nonsense settings: the defaults apply and the program is unaffected.
rc=0
run_traced HEAPTOP_DEPTH=banana HEAPTOP_MAX_STACKS=-3 HEAPTOP_SAMPLE=xyz HEAPTOP_UNWIND=sideways \
	"$wl" exit || rc=$?
expect_eq "wl_basic exit status with bad settings" "$rc" 0
snap "$HT_TMP/bad.txt" --file "$(final_of "$RUN_PID")" >/dev/null
expect_eq "live bytes with bad settings" "$(globals_field live_bytes "$HT_TMP/bad.txt")" \
	"$(globals_field live_bytes "$HT_TMP/full.txt")"
check_failed && exit 1
exit 0
