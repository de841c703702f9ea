#!/bin/bash
# C++: new/delete, new[]/delete[], aligned and nothrow new, containers, and
# exceptions thrown through a frame that allocated: exact numbers at the
# ready point, nothing left by the exceptions, zero after freeing, and the
# live-at-exit file (global objects are destroyed by exit before it).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_cxx

# Direct `new` sites, by attributed frame (operator new is in libstdc++).
direct='
site_new            240/5    480/10
site_new_array     2000/2   3000/3
site_new_aligned    256/2    256/2
site_new_nothrow    300/1    300/1
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

echo "== hold"
wl_start "$wl" hold
wl_ready
snap_live "$WL_PID" "$HT_TMP/sites.txt"
snap "$HT_TMP/stacks.txt" --socket "$(sock_of "$WL_PID")"
check "$HT_TMP/sites.txt" "$HT_TMP/stacks.txt" live
wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/sites2.txt"
snap "$HT_TMP/stacks2.txt" --socket "$(sock_of "$WL_PID")"
check "$HT_TMP/sites2.txt" "$HT_TMP/stacks2.txt" freed
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_cxx hold exit status" "$rc" 0

echo "== exit: live at exit (vector and string are globals, destroyed by exit)"
run_traced "$wl" exit
snap_final "$RUN_PID" "$HT_TMP/final-sites.txt"
snap "$HT_TMP/final-stacks.txt" --file "$(final_of "$RUN_PID")"
while read -r site live total; do
	[ -n "$site" ] || continue
	expect_eq "exit: $site live" "$(site_live "$site" "$HT_TMP/final-sites.txt")" "$live"
done <<<"$direct"
expect_eq "exit: site_vector live" "$(stack_live site_vector "$HT_TMP/final-stacks.txt")" 0/0
expect_eq "exit: site_string live" "$(stack_live site_string "$HT_TMP/final-stacks.txt")" 0/0
expect_eq "exit: site_map live" "$(stack_live site_map "$HT_TMP/final-stacks.txt")" 4848/101
expect_eq "exit: site_throw live" "$(stack_live site_throw "$HT_TMP/final-stacks.txt")" 0/0
