#!/bin/bash
# HEAPTOP_UNWIND=fp, the frame-pointer walker.  On a program built with
# frame pointers it finds the same sites, with the same exact counts, as
# libunwind, except where a function without frame pointers sits between
# the allocator and the site: Debian's C library has none, and its strdup
# uses rbp for data, so the walk ends at strdup (the bounds checks stop it
# there) and its blocks stay with __strdup.  That is the mode's documented
# limit.  On programs built without them (Debian's sqlite3 and python3)
# stacks may be garbled, but the walk stays inside the thread's stack: the
# program must run to the same output as without the agent.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_basic
for mode in libunwind fp; do
	rc=0
	run_traced HEAPTOP_UNWIND=$mode "$wl" exit || rc=$?
	expect_eq "$mode: wl_basic exit status" "$rc" 0
	snap_final "$RUN_PID" "$HT_TMP/$mode.txt" >/dev/null
	snap "$HT_TMP/$mode.stacks" --file "$(final_of "$RUN_PID")" >/dev/null
done
for site in site_malloc site_calloc site_realloc site_posix_memalign \
	site_valloc site_memalign; do
	expect_eq "fp vs libunwind: $site live" "$(site_live $site "$HT_TMP/fp.txt")" \
		"$(site_live $site "$HT_TMP/libunwind.txt")"
	expect_eq "fp vs libunwind: $site total" "$(site_total $site "$HT_TMP/fp.txt")" \
		"$(site_total $site "$HT_TMP/libunwind.txt")"
done
expect_eq "libunwind: strdup's blocks through site_strdup" \
	"$(stack_live site_strdup "$HT_TMP/libunwind.stacks")" 500/5
expect_eq "fp: strdup's blocks end the walk at __strdup" \
	"$(stack_live __strdup "$HT_TMP/fp.stacks") $(stack_live site_strdup "$HT_TMP/fp.stacks")" \
	"500/5 0/0"
expect_eq "same live bytes at exit" "$(globals_field live_bytes "$HT_TMP/fp.txt")" \
	"$(globals_field live_bytes "$HT_TMP/libunwind.txt")"

# heaptop --unwind fp asks the agent for it, and the agent says it used it.
json=$("$HT_HEAPTOP" -b --unwind fp --format json -l 1 -- "$wl" exit 2>/dev/null | tail -n 1)
expect_eq "heaptop --unwind fp: the agent walked frame pointers" \
	"$(echo "$json" | grep -o '"unwind":"[a-z]*"')" '"unwind":"fp"'
expect_eq "heaptop --unwind fp: site_malloc first" \
	"$(echo "$json" | grep -o '"function":"[a-z_]*"' | head -n 1)" '"function":"site_malloc"'

# Programs without frame pointers: no crash, same output.
require_tool sqlite3
sql="CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
INSERT INTO t SELECT x, printf('row %d', x) FROM c;
CREATE INDEX ia ON t(b);
SELECT count(*), sum(a), max(b) FROM t WHERE b LIKE 'row 1%';"
bare=$(echo "$sql" | sqlite3 :memory:)
rc=0
traced=$(echo "$sql" | run_traced HEAPTOP_UNWIND=fp sqlite3 :memory:) || rc=$?
expect_eq "sqlite3 under fp: exit status" "$rc" 0
expect_eq "sqlite3 under fp: output" "$traced" "$bare"
if [ -x /usr/bin/python3 ]; then
	script='import json; d={str(i): [i, str(i)*3] for i in range(100000)}; print(len(json.dumps(d)))'
	bare=$(/usr/bin/python3 -c "$script")
	rc=0
	traced=$(run_traced HEAPTOP_UNWIND=fp PYTHONMALLOC=malloc /usr/bin/python3 -c "$script") || rc=$?
	expect_eq "python3 under fp: exit status" "$rc" 0
	expect_eq "python3 under fp: output" "$traced" "$bare"
fi
check_failed && exit 1
exit 0
