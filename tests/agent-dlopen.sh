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

# A plugin's leak: blocks it allocated, still held after dlclose.  Their
# stacks name an object that is gone; the live-at-exit file (read by a
# viewer that never saw the object loaded) must still describe it.
for p in "$plugin" "$HT_WORKLOADS/.libs/libwl_plugin_cxx.so"; do
	name=$(basename "$p")
	echo "== leak through $name, then dlclose"
	rc=0
	run_traced "$wl" "$p" leak || rc=$?
	expect_eq "$name leak: exit status" "$rc" 0
	snap_final "$RUN_PID" "$HT_TMP/leak-$name.txt" --frames
	expect_eq "$name leak: plugin_alloc live" "$(site_live plugin_alloc "$HT_TMP/leak-$name.txt")" 2400/4
	expect_true "$name leak: plugin_alloc's frame is in $name, unloaded" \
		grep -q "^  frame plugin_alloc .* ${name//./\\.}\$" "$HT_TMP/leak-$name.txt"
done

# The C++ plugin again, with libheaptop-cxx.so preloaded too, as a C
# program inherits it from a parent heaptop gave it to: the global scope
# has no operator new after ours, the plugin's libstdc++ does (new_handler
# and std::bad_alloc as without us: wl_dlopen checks them).
echo "== leak through libwl_plugin_cxx.so under libheaptop-cxx.so"
rc=0
run_traced "LD_PRELOAD=$HEAPTOP_AGENT:$(dirname "$HEAPTOP_AGENT")/libheaptop-cxx.so" \
	"$wl" "$HT_WORKLOADS/.libs/libwl_plugin_cxx.so" leak || rc=$?
expect_eq "under the shim: exit status" "$rc" 0
snap_final "$RUN_PID" "$HT_TMP/leak-shim.txt"
expect_eq "under the shim: plugin_alloc live" "$(site_live plugin_alloc "$HT_TMP/leak-shim.txt")" 2400/4
