#!/bin/bash
# dlopen: allocations made by a module loaded at run time are counted and
# symbolized (the agent reports the new module), through dlclose and a
# second dlopen, while another thread allocates all the time.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_dlopen
plugin=$HT_WORKLOADS/.libs/libwl_plugin.so
[ -f "$plugin" ] || fail "plugin not built: $plugin"

wl_start "$wl" "$plugin"
wl_ready
expect_eq "round" "$(echo "$READY_LINE" | kv_field round)" 1
snap_live "$WL_PID" "$HT_TMP/round1.txt" --frames
expect_eq "round 1: plugin_alloc live" "$(site_live plugin_alloc "$HT_TMP/round1.txt")" 3500/5
expect_true "round 1: plugin_alloc's frame is in libwl_plugin.so" \
	grep -q '^  frame plugin_alloc .* libwl_plugin\.so$' "$HT_TMP/round1.txt"
wl_continue
wl_ready
expect_eq "round" "$(echo "$READY_LINE" | kv_field round)" 2
snap_live "$WL_PID" "$HT_TMP/round2.txt" --frames
expect_eq "round 2: plugin_alloc live" "$(site_live plugin_alloc "$HT_TMP/round2.txt")" 2700/3
expect_true "round 2: plugin_alloc's frame is in libwl_plugin.so" \
	grep -q '^  frame plugin_alloc .* libwl_plugin\.so$' "$HT_TMP/round2.txt"
expect_ge "churn thread allocations seen" \
	"$(site_field site_dl_churn total_blocks "$HT_TMP/round2.txt")" 1
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_dlopen exit status" "$rc" 0
snap_final "$WL_PID" "$HT_TMP/final.txt"
# Blocks of the unloaded module: freed before dlclose, so nothing live
# whatever name their stacks get now.
expect_eq "at exit: plugin blocks live" "$(site_live plugin_alloc "$HT_TMP/final.txt")" 0/0
