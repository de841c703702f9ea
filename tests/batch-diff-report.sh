#!/bin/bash
# --diff (every table against the first, sorted by the change), -o (save
# the last snapshot), heaptop report (of a saved file, of the agent's raw
# live-at-exit file, after the binary is gone) and report --base (the
# change from an older snapshot), on wl_batch's known sites (see
# wl_batch.c).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

G=$(line_of site_grow)

rows_stats="workloads/wl_batch.c:$A: size=16.0 KiB, count=4, average=4096 B
workloads/wl_batch.c:$C: size=8000 B, count=1, average=8000 B
workloads/wl_batch_util.c:$XM: size=5900 B, count=5, average=1180 B
workloads/wl_batch_util.c:$UA: size=3200 B, count=5, average=640 B
workloads/wl_batch_util.c:$UC: size=1800 B, count=2, average=900 B
workloads/wl_batch.c:$R: size=1024 B, count=4, average=256 B
workloads/wl_batch.c:$B: size=1000 B, count=10, average=100 B
workloads/wl_batch.c:$S: size=300 B, count=6, average=50 B"
date_re='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'

# body FILE: a pretty or stats output without its header lines and the
# empty line at its end.
body() {
	sed '/^# /d;$d' "$1"
}

# diff_pid FORMAT OUT: heaptop -b --diff -p on wl_batch wait-grow, whose
# first table (the base) is taken before the program grows: the sites
# complete, site_grow not yet there.  4 tables, 0.4 s apart, while
# site_grow gains 1 KiB every 100 ms.
diff_pid() {
	local fmt=$1 out=$2 i hjob
	wl_start HEAPTOP_SOCKET= "$WL_BATCH" wait-grow
	wl_ready
	HT_RC=0
	timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" -b --diff -d 0.4 -n 4 --format "$fmt" \
		-p "$WL_PID" >"$out" 2>"$out.err" &
	hjob=$!
	HT_JOBS+=("$hjob")
	for i in $(seq 200); do
		# the first table is out (a table ends with an empty line)
		grep -q '^$' "$out" && break
		sleep 0.05
	done
	wl_continue
	wait "$hjob" || HT_RC=$?
	echo "--- heaptop -b --diff -d 0.4 -n 4 --format $fmt -p $WL_PID (exit $HT_RC)"
	sed 's/^/  | /' "$out"
	sed 's/^/  ! /' "$out.err"
	wl_finish >/dev/null || true
}

# kib BYTES: tracemalloc's recipe's "%.1f KiB".
kib() {
	awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'
}

# table_n N FILE: the Nth table of a pretty or stats output, without its
# header line and its final empty line.
table_n() {
	awk -v t="$1" '/^# / { n++; next } n == t' "$2" | sed '$d'
}

echo "== --diff -p, pretty: each table against the first, sorted by the change"
out=$HT_TMP/pdiff.txt
diff_pid pretty "$out"
expect_eq "--diff -p pretty: exit status" "$HT_RC" 0
expect_eq "--diff -p pretty: tables" "$(table_count "$out")" 4
expect_text "--diff -p pretty: the first table has no changes" "$(table_n 1 "$out")" "Top 8 lines
$WL_BATCH_PRETTY_ROWS
Total allocated size: 36.7 KiB"
# The same rows unchanged, one place down (site_grow comes first).
rows_unchanged=$(sed -e 's/^\(#[0-9]*: .* KiB\)$/\1 (+0.0 KiB)/' <<<"$WL_BATCH_PRETTY_ROWS" |
	awk '/^#/ { sub(/^#[0-9]+/, "#" (++n + 1)) } { print }')
grown=0
for t in 2 3 4; do
	table=$(table_n "$t" "$out")
	# site_grow's blocks: it comes first once it has any
	k=$(sed -n "s|^#1: workloads/wl_batch.c:$G: \\([0-9]*\\)\\.0 KiB .*|\\1|p" <<<"$table")
	if [ -z "$k" ]; then
		expect_text "--diff -p pretty: table $t (no site_grow yet)" "$table" "Top 8 lines
$(sed -e 's/^\(#[0-9]*: .* KiB\)$/\1 (+0.0 KiB)/' <<<"$WL_BATCH_PRETTY_ROWS")
Total allocated size: 36.7 KiB (+0.0 KiB)"
		continue
	fi
	grown=$k
	expect_text "--diff -p pretty: table $t ($k blocks of site_grow)" "$table" "Top 9 lines
#1: workloads/wl_batch.c:$G: $k.0 KiB (+$k.0 KiB)
    wl_hold(malloc(1024)); /* @site_grow */
$rows_unchanged
Total allocated size: $(kib $((37608 + 1024 * k))) (+$k.0 KiB)"
done
expect_ge "--diff -p pretty: site_grow's blocks in the last table" "$grown" 2

echo "== --diff -p, stats: StatisticDiff"
out=$HT_TMP/pdiff-stats.txt
diff_pid stats "$out"
expect_eq "--diff -p stats: exit status" "$HT_RC" 0
table=$(table_n 4 "$out")
k=$(sed -n "s|^workloads/wl_batch.c:$G: size=[^,]*, count=\\([0-9]*\\) .*|\\1|p" <<<"$table")
expect_ge "--diff -p stats: site_grow's blocks in the last table" "${k:-0}" 2
k=${k:-0}
expect_text "--diff -p stats: the last table" "$table" \
	"workloads/wl_batch.c:$G: size=$(tm_size $((1024 * k))) ($(tm_size $((1024 * k)) sign)), count=$k (+$k), average=1024 B
$(sed -e 's/: size=\([^,]*\), count=\([0-9]*\),/: size=\1 (+0 B), count=\2 (+0),/' <<<"$rows_stats")"

echo "== --diff, json, a launched program: every table against the first"
out=$HT_TMP/diff.json
ht_run "$out" -b --diff -d 0.3 --format json -- "$WL_BATCH" grow 9
expect_eq "--diff: exit status" "$HT_RC" 9
expect_ge "--diff: tables" "$(wc -l <"$out")" 4
# Checks on the whole run that hold whenever the first table was taken,
# each printed as "name: value".
"$HT_PYTHON" - "$out" "$G" >"$HT_TMP/diff-checks.txt" <<'PY'
import json, sys
tables = [json.loads(l) for l in open(sys.argv[1])]
grow_line = int(sys.argv[2])
def key(r):
    return (r["file"], r["line"])
def grow(t):
    return next(((r["size"], r["count"]) for r in t["rows"]
                 if r["line"] == grow_line and r["file"].endswith("/wl_batch.c")), (0, 0))
first, rest = tables[0], tables[1:]
base = {key(r): (r["size"], r["count"]) for r in first["rows"]}
print("first table has no base fields:",
      "base_total" not in first and all("size_diff" not in r for r in first["rows"]))
print("later tables' base_total is the first's total:",
      all(t["base_total"] == first["total"] for t in rest))
print("size_diff and count_diff are against the first table:",
      all(r["size_diff"] == r["size"] - base.get(key(r), (0, 0))[0] and
          r["count_diff"] == r["count"] - base.get(key(r), (0, 0))[1]
          for t in rest for r in t["rows"]))
print("other has its diffs:",
      all("size_diff" in t["other"] and "count_diff" in t["other"] for t in rest))
print("later tables are sorted by |size_diff|, then size:",
      all([(abs(r["size_diff"]), r["size"]) for r in t["rows"]] ==
          sorted([(abs(r["size_diff"]), r["size"]) for r in t["rows"]], reverse=True)
          for t in rest))
sizes = [grow(t)[0] for t in tables]
print("site_grow never shrinks:", sizes == sorted(sizes))
print("site_grow grows during the run:", len(sizes) > 2 and sizes[-1] > sizes[1])
final = tables[-1]
print("final:", final["final"], final["exit_status"], grow(final),
      next(r["size_diff"] for r in final["rows"] if r["line"] == grow_line)
      == 15360 - grow(first)[0])
print("final total:", final["total"], final["total"]["size"] - final["base_total"]["size"]
      == 52968 - first["total"]["size"])
PY
sed 's/^/  : /' "$HT_TMP/diff-checks.txt"
while IFS= read -r line; do
	case $line in
	final:*) expect_eq "--diff: final table: final, exit status, site_grow, its diff right" \
		"${line#final: }" "True 9 (15360, 15) True" ;;
	"final total:"*) expect_eq "--diff: final table's total and its diff" \
		"${line#final total: }" "{'size': 52968, 'count': 52} True" ;;
	*) expect_eq "--diff: ${line%:*}" "${line##*: }" True ;;
	esac
done <"$HT_TMP/diff-checks.txt"

echo "== -o: the last snapshot (what was live at exit), mode 0600; report prints it again"
out=$HT_TMP/save.txt
ht_run "$out" -b -o "$HT_TMP/run4.htsnap" -- "$WL_BATCH" run 4
expect_eq "-o: exit status" "$HT_RC" 4
expect_eq "-o: file mode" "$(stat -c %a "$HT_TMP/run4.htsnap")" 600
ht_run "$HT_TMP/report.txt" report "$HT_TMP/run4.htsnap"
expect_eq "report: exit status" "$HT_RC" 0
expect_text "report: the same as the final table of the run" "$(cat "$HT_TMP/report.txt")" "$(final_table "$out")"
expect_eq "report: nothing on stderr" "$(wc -c <"$HT_TMP/report.txt.err")" 0
ht_run "$HT_TMP/save.json" -b --format json -g function -o "$HT_TMP/run4f.htsnap" -- "$WL_BATCH" run 4
ht_run "$HT_TMP/report.json" report --format json -g function "$HT_TMP/run4f.htsnap"
expect_eq "report json -g function: the same object as the run's final one" \
	"$(cat "$HT_TMP/report.json")" "$(json_final "$HT_TMP/save.json")"
ht_run "$HT_TMP/report-opts.txt" report --format stats -g file -l 1 "$HT_TMP/run4.htsnap"
expect_text "report takes the table options" "$(body "$HT_TMP/report-opts.txt")" \
	"workloads/wl_batch.c: size=26.1 KiB, count=25, average=1068 B"
ht_run "$HT_TMP/report-after.txt" report --format stats "$HT_TMP/run4.htsnap" -i 'site_*'
expect_text "report: options after the file too" "$(body "$HT_TMP/report-after.txt")" \
	"$(grep -E "^workloads/wl_batch\.c:($A|$C|$B|$S): " <<<"$rows_stats")"

echo "== -o after -n: the last live table; the saved file outlives the binary"
mkdir "$HT_TMP/gone"
cp "$WL_BATCH" "$HT_TMP/gone/wl_batch"
# The first table may come before main has run; the second, 0.3 s later,
# has every site.
ht_run "$HT_TMP/live-save.txt" -b -n 2 -d 0.3 --format stats -o "$HT_TMP/live.htsnap" \
	-- "$HT_TMP/gone/wl_batch" sleep 60
expect_eq "-n 2 -o: exit status" "$HT_RC" 0
expect_text "-n 2 -o: the second table" "$(awk '/^# / { n++; next } n == 2' "$HT_TMP/live-save.txt" | sed '$d')" \
	"$rows_stats"
rm -r "$HT_TMP/gone"
ht_run "$HT_TMP/live-report.txt" report --format stats "$HT_TMP/live.htsnap"
expect_match "report of a live snapshot: header" "$(head -n 1 "$HT_TMP/live-report.txt")" \
	"^# pid [0-9]+ $HT_TMP/gone/wl_batch sleep 60, $date_re, live 36\\.7 KiB in 37 blocks, peak 38\\.7 KiB\$"
expect_text "report after the binary is gone" "$(body "$HT_TMP/live-report.txt")" "$rows_stats"

echo "== report --base: from an older snapshot"
ht_run "$HT_TMP/s3.txt" -b -o "$HT_TMP/steps3.htsnap" -- "$WL_BATCH" steps 3
ht_run "$HT_TMP/s10.txt" -b -o "$HT_TMP/steps10.htsnap" -- "$WL_BATCH" steps 10
ht_run "$HT_TMP/base.txt" report --format stats --base "$HT_TMP/steps3.htsnap" "$HT_TMP/steps10.htsnap"
expect_eq "report --base: exit status" "$HT_RC" 0
expect_match "report --base: header (the newer snapshot's)" "$(head -n 1 "$HT_TMP/base.txt")" \
	"^# live at exit \\(status 0\\): pid [0-9]+ $WL_BATCH steps 10, $date_re, live 46\\.7 KiB in 47 blocks, peak 46\\.7 KiB\$"
# Sorted by the change, as --diff is.
expect_text "report --base, stats" "$(body "$HT_TMP/base.txt")" \
	"workloads/wl_batch.c:$G: size=10.0 KiB (+7168 B), count=10 (+7), average=1024 B
workloads/wl_batch.c:$A: size=16.0 KiB (+0 B), count=4 (+0), average=4096 B
workloads/wl_batch.c:$C: size=8000 B (+0 B), count=1 (+0), average=8000 B
workloads/wl_batch_util.c:$XM: size=5900 B (+0 B), count=5 (+0), average=1180 B
workloads/wl_batch_util.c:$UA: size=3200 B (+0 B), count=5 (+0), average=640 B
workloads/wl_batch_util.c:$UC: size=1800 B (+0 B), count=2 (+0), average=900 B
workloads/wl_batch.c:$R: size=1024 B (+0 B), count=4 (+0), average=256 B
workloads/wl_batch.c:$B: size=1000 B (+0 B), count=10 (+0), average=100 B
workloads/wl_batch.c:$S: size=300 B (+0 B), count=6 (+0), average=50 B"
ht_run "$HT_TMP/base-size.txt" report --format stats -s size -l 2 --base "$HT_TMP/steps3.htsnap" \
	"$HT_TMP/steps10.htsnap"
expect_text "report --base -s size: sorted by size" "$(body "$HT_TMP/base-size.txt")" \
	"workloads/wl_batch.c:$A: size=16.0 KiB (+0 B), count=4 (+0), average=4096 B
workloads/wl_batch.c:$G: size=10.0 KiB (+7168 B), count=10 (+7), average=1024 B"
ht_run "$HT_TMP/base.pretty" report -s delta -l 2 --base "$HT_TMP/steps3.htsnap" "$HT_TMP/steps10.htsnap"
expect_text "report --base -s delta, pretty" "$(body "$HT_TMP/base.pretty")" \
	"Top 2 lines
#1: workloads/wl_batch.c:$G: 10.0 KiB (+7.0 KiB)
    wl_hold(malloc(1024)); /* @site_grow */
#2: workloads/wl_batch.c:$A: 16.0 KiB (+0.0 KiB)
    wl_hold(malloc(4096)); /* @site_a */
7 other: 20.7 KiB (+0.0 KiB)
Total allocated size: 46.7 KiB (+7.0 KiB)"
ht_run "$HT_TMP/shrink.txt" report --format stats -i site_grow --base "$HT_TMP/steps10.htsnap" "$HT_TMP/steps3.htsnap"
expect_text "report --base, the other way round" "$(body "$HT_TMP/shrink.txt")" \
	"workloads/wl_batch.c:$G: size=3072 B (-7168 B), count=3 (-7), average=1024 B"
ht_run "$HT_TMP/gone.json" report --format json -s delta -l 1 --base "$HT_TMP/steps10.htsnap" "$HT_TMP/run4.htsnap"
expect_eq "report --base: a site only in the base (size, count, diffs, base_total, total)" \
	"$(pyjson '[d["rows"][0][k] for k in ("line", "size", "count", "size_diff", "count_diff")] + [d["base_total"], d["total"]]' \
		<"$HT_TMP/gone.json")" \
	"[$G, 0, 0, -10240, -10, {\"count\": 47, \"size\": 47848}, {\"count\": 37, \"size\": 37608}]"
expect_eq "report --base of the same program: nothing on stderr" \
	"$(grep -c '^heaptop: ' "$HT_TMP/gone.json.err" || true)" 0
# Snapshots of two different programs compare, with a note.
ht_run "$HT_TMP/other.txt" -b -o "$HT_TMP/other.htsnap" -- "$HT_WORKLOADS/wl_basic" exit
ht_run "$HT_TMP/cross.txt" report --base "$HT_TMP/other.htsnap" "$HT_TMP/run4.htsnap"
expect_eq "report --base of another program: exit status" "$HT_RC" 0
expect_match "report --base of another program: the note" "$(cat "$HT_TMP/cross.txt.err")" \
	"^heaptop: note: the snapshots are of different programs \\([^,]*/wl_basic, then [^)]*/wl_batch\\)\$"
ht_run "$HT_TMP/gone.txt" report -i site_grow --base "$HT_TMP/steps10.htsnap" "$HT_TMP/run4.htsnap"
expect_text "report --base: a site only in the base, pretty" "$(body "$HT_TMP/gone.txt")" \
	"Top 1 lines
#1: workloads/wl_batch.c:$G: 0.0 KiB (-10.0 KiB)
    wl_hold(malloc(1024)); /* @site_grow */
Total allocated size: 0.0 KiB (-10.0 KiB)"

echo "== report of the agent's raw live-at-exit file"
rc=0
run_traced "$WL_BATCH" run 6 >/dev/null 2>&1 || rc=$?
expect_eq "traced run: exit status" "$rc" 6
raw=$(final_of "$RUN_PID")
ht_run "$HT_TMP/raw.txt" report --format stats "$raw"
expect_eq "report raw: exit status" "$HT_RC" 0
expect_match "report raw: header" "$(head -n 1 "$HT_TMP/raw.txt")" \
	"^# live at exit \\(status 6\\): pid $RUN_PID $WL_BATCH run 6, $date_re, live 36\\.7 KiB in 37 blocks, peak 38\\.7 KiB\$"
expect_text "report raw: rows" "$(body "$HT_TMP/raw.txt")" "$rows_stats"
ht_run "$HT_TMP/raw-base.txt" report --format stats -i site_grow --base "$raw" "$HT_TMP/steps3.htsnap"
expect_text "report --base RAW-FILE SNAPSHOT" "$(body "$HT_TMP/raw-base.txt")" \
	"workloads/wl_batch.c:$G: size=3072 B (+3072 B), count=3 (+3), average=1024 B"
ht_run "$HT_TMP/raw-save.txt" report -o "$HT_TMP/converted.htsnap" "$raw"
expect_eq "report -o: exit status" "$HT_RC" 0
ht_run "$HT_TMP/converted.txt" report --format stats "$HT_TMP/converted.htsnap"
expect_text "report -o turns the raw file into a snapshot file" "$(cat "$HT_TMP/converted.txt")" \
	"$(cat "$HT_TMP/raw.txt")"
