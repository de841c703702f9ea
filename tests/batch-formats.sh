#!/bin/bash
# Batch mode's three formats, byte for byte, on wl_batch's known sites (see
# wl_batch.c): the table of what was live at exit in pretty, stats and
# json; every table of a run well formed; heaptop's exit status is the
# program's; the program's output goes to stderr (or --output FILE), never
# into the tables; -n ends the program; -p watches a running one.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

CH=$(line_of site_churn)

rows_stats="workloads/wl_batch.c:$A: size=16.0 KiB, count=4, average=4096 B
workloads/wl_batch.c:$C: size=8000 B, count=1, average=8000 B
workloads/wl_batch_util.c:$XM: size=5900 B, count=5, average=1180 B
workloads/wl_batch_util.c:$UA: size=3200 B, count=5, average=640 B
workloads/wl_batch_util.c:$UC: size=1800 B, count=2, average=900 B
workloads/wl_batch.c:$R: size=1024 B, count=4, average=256 B
workloads/wl_batch.c:$B: size=1000 B, count=10, average=100 B
workloads/wl_batch.c:$S: size=300 B, count=6, average=50 B"

# The header of a table: "# [live at exit (status N): ]pid PID CMDLINE,
# DATE TIME, live ... in ... blocks, peak ...".
date_re='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'
final_header_re() { # STATUS CMDLINE-ARGS
	echo "^# live at exit \\(status $1\\): pid [0-9]+ $WL_BATCH $2, $date_re, live 36\\.7 KiB in 37 blocks, peak 38\\.7 KiB\$"
}

# check_outputs OUT: the program's output went to heaptop's stderr, not
# into the tables.
check_outputs() {
	expect_absent "tables: no program output" "$1" "hello on"
	expect_present "stderr: the program's stdout" "$1.err" "wl_batch: hello on stdout"
	expect_present "stderr: the program's stderr" "$1.err" "wl_batch: hello on stderr"
}

# check_tables OUT FORMAT: every table of a pretty or stats output is well
# formed, and the last one is the final table.
check_tables() {
	local out=$1 fmt=$2 bad
	if [ "$fmt" = pretty ]; then
		# header, "Top N lines", rows with their sources, maybe "other",
		# the total, an empty line; again and again.
		bad=$(awk '
			state == 0 { if (!/^# /) { print NR": "$0; exit } state = 1; next }
			state == 1 { if (!/^Top [0-9]+ lines$/) { print NR": "$0; exit } state = 2; next }
			state == 2 && /^Total allocated size: [0-9]+\.[0-9] KiB$/ { state = 3; next }
			state == 2 { if (!/^(#[0-9]+: .*: [0-9]+\.[0-9] KiB|    .*|[0-9]+ other: .*)$/) { print NR": "$0; exit } next }
			state == 3 { if ($0 != "") { print NR": "$0; exit } state = 0; next }
			END { if (state != 0) print "unfinished table at the end" }' "$out")
	else
		bad=$(awk '
			state == 0 { if (!/^# /) { print NR": "$0; exit } state = 1; next }
			state == 1 && $0 == "" { state = 0; next }
			state == 1 { if (!/: size=[0-9.]+ (B|KiB|MiB), count=[0-9]+, average=[0-9.]+ (B|KiB)$/) { print NR": "$0; exit } }
			END { if (state != 0) print "unfinished table at the end" }' "$out")
	fi
	expect_eq "$fmt: every table well formed (first bad line)" "${bad:-none}" none
	expect_match "$fmt: the last table is the final one" \
		"$(grep '^# ' "$out" | tail -n 1)" "^# live at exit"
	expect_eq "$fmt: final tables" "$(grep -c '^# live at exit' "$out")" 1
	expect_true "$fmt: the output ends with the final table" \
		test "$(tail -n "$(final_table "$out" | wc -l)" "$out")" = "$(final_table "$out")"
}

echo "== pretty (the default): exit status 7 and the final table exactly"
out=$HT_TMP/pretty.txt
ht_run "$out" -b -- "$WL_BATCH" run 7
expect_eq "pretty: exit status is the program's" "$HT_RC" 7
check_outputs "$out"
check_tables "$out" pretty
final=$(final_table "$out")
expect_match "pretty: header" "$(head -n 1 <<<"$final")" "$(final_header_re 7 'run 7')"
expect_text "pretty: final table" "$(tail -n +2 <<<"$final")" "Top 8 lines
$WL_BATCH_PRETTY_ROWS
Total allocated size: 36.7 KiB"

echo "== stats"
out=$HT_TMP/stats.txt
ht_run "$out" -b --format stats -- "$WL_BATCH" run 3
expect_eq "stats: exit status" "$HT_RC" 3
check_outputs "$out"
check_tables "$out" stats
final=$(final_table "$out")
expect_match "stats: header" "$(head -n 1 <<<"$final")" "$(final_header_re 3 'run 3')"
expect_text "stats: final table" "$(tail -n +2 <<<"$final")" "$rows_stats"

echo "== json"
out=$HT_TMP/json.txt
ht_run "$out" -b --format json -- "$WL_BATCH" run
expect_eq "json: exit status" "$HT_RC" 0
check_outputs "$out"
bad=0
while IFS= read -r line; do
	pyjson 'd["group_by"]' <<<"$line" >/dev/null 2>&1 || bad=$((bad + 1))
done <"$out"
expect_eq "json: lines that are not one JSON object" "$bad" 0
expect_eq "json: final objects" "$(grep -c '"final":true' "$out")" 1
expect_eq "json: the final object is the last line" "$(tail -n 1 "$out")" "$(json_final "$out")"
seqs=$("$HT_PYTHON" -c '
import json, sys
print(" ".join(str(json.loads(l)["seq"]) for l in sys.stdin))' <"$out")
expect_eq "json: seq increases from table to table ($seqs)" \
	"$(tr ' ' '\n' <<<"$seqs" | sort -n -u | tr '\n' ' ' | sed 's/ $//')" "$seqs"
j=$(json_final "$out")
expect_true "json: exe is wl_batch" test "$(pyjson 'd["exe"]' <<<"$j")" -ef "$WL_BATCH"
expect_eq "json: cmdline" "$(pyjson 'd["cmdline"]' <<<"$j")" "$WL_BATCH run"
expect_match "json: pid" "$(pyjson 'd["pid"]' <<<"$j")" '^[1-9][0-9]*$'
expect_eq "json: time is time_ns in UTC" "$(pyjson '
__import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(d["time_ns"] // 10**9)) == d["time"]' <<<"$j")" True
expect_eq "json: process fields" "$(pyjson '[d[k] for k in
	("final", "exit_status", "group_by", "sampled", "sample_bytes", "unwind", "total", "live", "peak", "other")]' <<<"$j")" \
	'[true, 0, "line", false, null, "dwarf", {"count": 37, "size": 37608}, {"count": 37, "size": 37608}, 39608, {"count": 0, "rows": 0, "size": 0}]'
expect_eq "json: keys of the object, in order" "$(pyjson 'list(d)' <<<"$j")" \
	'["pid", "exe", "cmdline", "time", "time_ns", "seq", "final", "exit_status", "group_by", "sampled", "sample_bytes", "new_untraced", "unwind", "total", "peak", "live", "rows", "other"]'
expect_eq "json: keys of a row, in order" "$(pyjson 'list(d["rows"][0])' <<<"$j")" \
	'["file", "line", "function", "module", "size", "count", "allocated", "allocations", "source"]'
files_ok=$("$HT_PYTHON" -c '
import json, os, sys
d = json.loads(sys.stdin.read())
print(all(os.path.samefile(r["file"], os.path.join(sys.argv[1], os.path.basename(r["file"])))
          and os.path.samefile(r["module"], sys.argv[2]) for r in d["rows"]))' "$WL_SRC" "$WL_BATCH" <<<"$j")
expect_eq "json: every row's file is the workload's source, module wl_batch" "$files_ok" True
expect_text "json: rows (file basename, line, function, size, count, allocated, allocations, source)" \
	"$(pyjson '[[os.path.basename(r["file"]), r["line"], r["function"], r["size"], r["count"],
		r["allocated"], r["allocations"], r["source"]] for r in d["rows"]]' <<<"$j" |
		"$HT_PYTHON" -c 'import json, sys; [print(json.dumps(r)) for r in json.load(sys.stdin)]')" \
	"[\"wl_batch.c\", $A, \"site_a\", 16384, 4, 16384, 4, \"wl_hold(malloc(4096)); /* @site_a */\"]
[\"wl_batch.c\", $C, \"site_c\", 8000, 1, 8000, 1, \"wl_hold(malloc(8000)); /* @site_c */\"]
[\"wl_batch_util.c\", $XM, \"xmalloc\", 5900, 5, 5900, 5, \"void *p = malloc(n); /* @xmalloc */\"]
[\"wl_batch_util.c\", $UA, \"util_alloc\", 3200, 5, 3200, 5, \"wl_hold(malloc(640)); /* @util_alloc */\"]
[\"wl_batch_util.c\", $UC, \"util_calloc\", 1800, 2, 1800, 2, \"wl_hold(calloc(1, 900)); /* @util_calloc */\"]
[\"wl_batch.c\", $R, \"recurse\", 1024, 4, 1024, 4, \"wl_hold(malloc(256)); /* @recurse_alloc */\"]
[\"wl_batch.c\", $B, \"site_b\", 1000, 10, 1000, 10, \"wl_hold(malloc(100)); /* @site_b */\"]
[\"wl_batch.c\", $S, \"site_strdup\", 300, 6, 300, 6, \"wl_hold(strdup(text)); /* @site_strdup */\"]"

echo "== json: a row with nothing live is listed when sorting by allocated"
ht_run "$HT_TMP/json-alloc.txt" -b --format json -s allocated -l 1 -- "$WL_BATCH" run
j=$(json_final "$HT_TMP/json-alloc.txt")
expect_eq "json -s allocated: first row (line, function, size, count, allocated, allocations)" \
	"$(pyjson '[d["rows"][0][k] for k in ("line", "function", "size", "count", "allocated", "allocations")]' <<<"$j")" \
	"[$CH, \"site_churn\", 0, 0, 200000, 100]"
expect_eq "json -s allocated: other" "$(pyjson 'd["other"]' <<<"$j")" \
	'{"count": 37, "rows": 8, "size": 37608}'

echo "== --output FILE: the program's stdout and stderr go there"
out=$HT_TMP/output.txt
ht_run "$out" -b --format stats --output "$HT_TMP/prog.log" -- "$WL_BATCH" run 5
expect_eq "--output: exit status" "$HT_RC" 5
expect_absent "--output: nothing of the program in the tables" "$out" "hello on"
expect_eq "--output: heaptop's stderr is empty" "$(wc -c <"$out.err")" 0
expect_eq "--output: the program's output in FILE" "$(sort "$HT_TMP/prog.log")" \
	"wl_batch: hello on stderr
wl_batch: hello on stdout"
expect_text "--output: final table" "$(final_table "$out" | tail -n +2)" "$rows_stats"

echo "== -n 2: two tables, then heaptop ends the program (exit 0, no final table)"
out=$HT_TMP/n2.txt
start=$(date +%s)
ht_run "$out" -b -n 2 -d 0.3 --format stats -- "$WL_BATCH" sleep 60
expect_eq "-n 2: exit status" "$HT_RC" 0
expect_le "-n 2: seconds taken" "$(($(date +%s) - start))" 20
expect_eq "-n 2: tables" "$(table_count "$out")" 2
expect_eq "-n 2: final tables" "$(grep -c '^# live at exit' "$out" || true)" 0
expect_match "-n 2: header of the second table" "$(grep '^# ' "$out" | tail -n 1)" \
	"^# pid [0-9]+ $WL_BATCH sleep 60, $date_re, live 36\\.7 KiB in 37 blocks, peak 38\\.7 KiB\$"
expect_text "-n 2: second table" "$(awk '/^# / { n++ } n == 2 && !/^# /' "$out")" "$rows_stats"
expect_absent "-n 2: no complaint about a missing final snapshot" "$out.err" "heaptop:"

echo "== -p PID: watch a process started with the agent; it keeps running"
wl_start HEAPTOP_SOCKET= "$WL_BATCH" sleep 60
wl_ready
out=$HT_TMP/pid.txt
ht_run "$out" -b -n 1 --format stats -p "$WL_PID"
expect_eq "-p: exit status" "$HT_RC" 0
expect_match "-p: header" "$(head -n 1 "$out")" \
	"^# pid $WL_PID $WL_BATCH sleep 60, $date_re, live 36\\.7 KiB in 37 blocks, peak 38\\.7 KiB\$"
expect_text "-p: table" "$(tail -n +2 "$out")" "$rows_stats"
expect_true "-p: the process still runs" kill -0 "$WL_PID"
out=$HT_TMP/pid-json.txt
ht_run "$out" -b -n 1 --format json -p "$WL_PID"
expect_eq "-p json: pid, final, exit_status" \
	"$(pyjson '[d["pid"], d["final"], d["exit_status"], d["total"]]' <"$out")" \
	"[$WL_PID, false, null, {\"count\": 37, \"size\": 37608}]"
kill "$WL_PID"
rc=0
wl_finish || rc=$?
expect_eq "-p: the workload ended by our SIGTERM" "$rc" 143
