#!/bin/bash
# The DWARF walker (HEAPTOP_UNWIND=dwarf, the default).  With
# HEAPTOP_UNWIND_CHECK=1 the agent captures every stack the walker handles
# with libunwind too, compares them, and each process prints at exit
#
#     heaptop: unwind check: pid PID compared N fallbacks F mismatches M
#
# For the test workloads and for real programs built without frame pointers
# (Debian's sqlite3, python3 and cppcheck: C, C through CPython's eval loop,
# C++), every comparison must agree, and the walker must have handled the
# stacks itself (fallbacks to libunwind under 5 %): a walker that gave up on
# everything would agree trivially.  The programs' output must be the same
# as without the agent.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

case $(uname -m) in
x86_64) ;;
*) skip "the DWARF walker is x86-64 only" ;;
esac

HT_TIMEOUT=150
total_compared=0

# check_run NAME ERRFILE: the check lines of one run (every process in it)
# agree with libunwind, and the walker did the work.
check_run() {
	local name=$1 err=$2 lines compared fallbacks mismatches
	lines=$(grep -a '^heaptop: unwind check: pid ' "$err" || true)
	if [ -z "$lines" ]; then
		echo "FAIL $name: no unwind check line on stderr"
		HT_FAILURES=$((HT_FAILURES + 1))
		return
	fi
	compared=$(echo "$lines" | awk '{ s += $7 } END { printf "%d\n", s }')
	fallbacks=$(echo "$lines" | awk '{ s += $9 } END { printf "%d\n", s }')
	mismatches=$(echo "$lines" | awk '{ s += $11 } END { printf "%d\n", s }')
	grep -a '^heaptop: unwind check: [dl]' "$err" | head -4 || true
	expect_eq "$name: stacks on which the walker and libunwind differ" "$mismatches" 0
	expect_ge "$name: stacks the walker captured" "$compared" 1
	# fallbacks < 5 % of all captures
	expect_le "$name: fallbacks to libunwind x 20" $((fallbacks * 20)) $((compared + fallbacks - 1))
	total_compared=$((total_compared + compared))
}

# traced_check NAME CMD...: run CMD under the agent in check mode.
traced_check() {
	local name=$1 rc=0
	shift
	run_traced HEAPTOP_UNWIND_CHECK=1 "$@" >"$HT_TMP/$name.out" 2>"$HT_TMP/$name.err" || rc=$?
	expect_eq "$name: exit status" "$rc" 0
	check_run "$name" "$HT_TMP/$name.err"
}

# --- the test workloads (frame pointers, C and C++, threads, fork, dlopen)
W=$HT_WORKLOADS
traced_check wl_basic "$W/wl_basic" exit
traced_check wl_cxx "$W/wl_cxx" exit
traced_check wl_threads "$W/wl_threads" exit
traced_check wl_fork "$W/wl_fork" fork
traced_check wl_dlopen "$W/wl_dlopen" "$W/.libs/libwl_plugin.so"
traced_check wl_batch "$W/wl_batch" run
traced_check wl_inline "$W/wl_inline"
# Stacks past the 64 frames a walk keeps for the next one, cut at 64 and
# whole; the same depths through two callers.
traced_check wl_deep "$W/wl_basic" deep
traced_check wl_deep_whole HEAPTOP_DEPTH=256 "$W/wl_basic" deep

# The walker is the default; libunwind and fp leave it out.
rc=0
run_traced HEAPTOP_UNWIND=libunwind HEAPTOP_UNWIND_CHECK=1 "$W/wl_basic" exit \
	>/dev/null 2>"$HT_TMP/lu.err" || rc=$?
expect_eq "HEAPTOP_UNWIND=libunwind: exit status" "$rc" 0
expect_eq "HEAPTOP_UNWIND=libunwind: the walker was not used" \
	"$(grep -c '^heaptop: unwind check: pid ' "$HT_TMP/lu.err" || true)" 0
traced_check explicit-dwarf HEAPTOP_UNWIND=dwarf "$W/wl_basic" exit

# Same sites and counts as libunwind, the viewer's --unwind passing it on.
for mode in dwarf libunwind; do
	rc=0
	run_traced HEAPTOP_UNWIND=$mode "$W/wl_basic" exit || rc=$?
	snap_final "$RUN_PID" "$HT_TMP/$mode.txt" >/dev/null
done
for site in site_malloc site_calloc site_realloc site_posix_memalign site_valloc \
	site_memalign site_strdup; do
	expect_eq "dwarf vs libunwind: $site live" "$(site_live $site "$HT_TMP/dwarf.txt")" \
		"$(site_live $site "$HT_TMP/libunwind.txt")"
done
for mode in dwarf libunwind; do
	json=$("$HT_HEAPTOP" -b --unwind $mode --format json -l 1 -- "$W/wl_basic" exit 2>/dev/null |
		tail -n 1)
	expect_eq "heaptop --unwind $mode: site_malloc first" \
		"$(echo "$json" | grep -o '"function":"[a-z_]*"' | head -n 1)" '"function":"site_malloc"'
	expect_eq "heaptop --unwind $mode: the JSON says so" \
		"$(echo "$json" | grep -o '"unwind":"[a-z]*"')" "\"unwind\":\"$mode\""
done
json=$("$HT_HEAPTOP" -b --format json -l 1 -- "$W/wl_basic" exit 2>/dev/null | tail -n 1)
expect_eq "heaptop without --unwind: dwarf" "$(echo "$json" | grep -o '"unwind":"[a-z]*"')" \
	'"unwind":"dwarf"'
rc=0
err=$("$HT_HEAPTOP" -b --unwind sideways -- "$W/wl_basic" exit 2>&1 >/dev/null) || rc=$?
expect_eq "heaptop --unwind sideways: refused" "$rc" 2
expect_true "heaptop --unwind sideways: says what it takes" \
	grep -q 'dwarf, libunwind or fp' <<<"$err"

# --- real programs, without frame pointers -----------------------------------
require_tool sqlite3
sql="CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO t(a, b) SELECT printf('row-%08d', i), (i * 7919) % 100003 FROM n;
CREATE INDEX t_a ON t(a);
SELECT count(*), sum(b), max(a) FROM t WHERE a LIKE 'row-0001%';
SELECT count(*) FROM t AS x JOIN t AS y ON x.b = y.id WHERE y.b % 7 = 0;
DELETE FROM t WHERE b % 3 = 0;
SELECT count(*) FROM t;"
bare=$(echo "$sql" | sqlite3 :memory:)
rc=0
echo "$sql" | run_traced HEAPTOP_UNWIND_CHECK=1 sqlite3 :memory: \
	>"$HT_TMP/sqlite.out" 2>"$HT_TMP/sqlite.err" || rc=$?
expect_eq "sqlite3: exit status" "$rc" 0
expect_eq "sqlite3: output" "$(cat "$HT_TMP/sqlite.out")" "$bare"
check_run sqlite3 "$HT_TMP/sqlite.err"

if [ -x /usr/bin/python3 ]; then
	script='import json, pickle
d = {"key%05d" % i: {"n": i, "s": "v" * (i % 17), "l": [i, i + 1]} for i in range(20000)}
s = json.dumps(d, sort_keys=True)
print(len(s), len(json.loads(s)), len(pickle.loads(pickle.dumps(d))))'
	bare=$(PYTHONHASHSEED=0 /usr/bin/python3 -c "$script")
	rc=0
	run_traced HEAPTOP_UNWIND_CHECK=1 PYTHONMALLOC=malloc PYTHONHASHSEED=0 \
		/usr/bin/python3 -c "$script" >"$HT_TMP/python.out" 2>"$HT_TMP/python.err" || rc=$?
	expect_eq "python3: exit status" "$rc" 0
	expect_eq "python3: output" "$(cat "$HT_TMP/python.out")" "$bare"
	check_run python3 "$HT_TMP/python.err"
fi

if command -v cppcheck >/dev/null 2>&1; then
	cpp=(cppcheck -q --max-configs=1 -I "$top_srcdir/src" "$top_srcdir/src/agent")
	bare=$("${cpp[@]}" 2>"$HT_TMP/cppcheck.bare.err")
	rc=0
	run_traced HEAPTOP_UNWIND_CHECK=1 "${cpp[@]}" \
		>"$HT_TMP/cppcheck.out" 2>"$HT_TMP/cppcheck.err" || rc=$?
	expect_eq "cppcheck: exit status" "$rc" 0
	expect_eq "cppcheck: output" "$(cat "$HT_TMP/cppcheck.out")" "$bare"
	expect_true "cppcheck: the same findings" cmp -s "$HT_TMP/cppcheck.bare.err" \
		<(grep -av '^heaptop: unwind check: ' "$HT_TMP/cppcheck.err")
	check_run cppcheck "$HT_TMP/cppcheck.err"
fi

expect_ge "stacks compared in all" "$total_compared" 100000
check_failed && exit 1
exit 0
