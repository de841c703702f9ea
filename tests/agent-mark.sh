#!/bin/bash
# The mark: a client sets it with a request; from then on each stack's
# "born" counters hold the bytes and blocks allocated since the mark that
# are still live.  Blocks from before the mark never count, even when they
# are freed after it; churn after the mark nets to zero.  A second mark
# starts again from zero.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl_start "$HT_WORKLOADS/wl_mark"
wl_ready
snap_live "$WL_PID" "$HT_TMP/before.txt" --mark
expect_eq "no born bytes right at the mark" \
	"$(site_field site_before born_bytes "$HT_TMP/before.txt")" 0
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/after.txt"
f=$HT_TMP/after.txt
expect_eq "site_after live" "$(site_live site_after "$f")" 6000/3
expect_eq "site_after born since the mark" \
	"$(site_field site_after born_bytes "$f")/$(site_field site_after born_blocks "$f")" 6000/3
expect_eq "site_before live" "$(site_live site_before "$f")" 6000/6
expect_eq "site_before born (older than the mark)" \
	"$(site_field site_before born_bytes "$f")/$(site_field site_before born_blocks "$f")" 0/0
expect_eq "site_churn born (all freed)" \
	"$(site_field site_churn born_bytes "$f")/$(site_field site_churn born_blocks "$f")" 0/0
expect_eq "site_churn total" "$(site_total site_churn "$f")" 64000/1000

# A new mark: everything alive now is older than it.
snap_live "$WL_PID" "$HT_TMP/remark.txt" --mark
expect_eq "site_after born after a second mark" \
	"$(site_field site_after born_bytes "$HT_TMP/remark.txt")" 0
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_mark exit status" "$rc" 0
check_failed && exit 1
exit 0
