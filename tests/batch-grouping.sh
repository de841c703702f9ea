#!/bin/bash
# Grouping (line, function, file, module, traceback), cumulative, the sort
# keys with and without -r, and the limit with its "N other" line, on the
# table of what wl_batch left live at exit (see wl_batch.c for the sites).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

RC=$(line_of recurse_call)
CH=$(line_of site_churn)
X1=$(line_of xcall1)
X2=$(line_of xcall2)
MA=$(line_of main_site_a)
MR=$(line_of main_recurse)
MX1=$(line_of main_xcall1)

# The stats row of each line site, by a name for it.
declare -A row=(
	[A]="workloads/wl_batch.c:$A: size=16.0 KiB, count=4, average=4096 B"
	[C]="workloads/wl_batch.c:$C: size=8000 B, count=1, average=8000 B"
	[XM]="workloads/wl_batch_util.c:$XM: size=5900 B, count=5, average=1180 B"
	[UA]="workloads/wl_batch_util.c:$UA: size=3200 B, count=5, average=640 B"
	[UC]="workloads/wl_batch_util.c:$UC: size=1800 B, count=2, average=900 B"
	[R]="workloads/wl_batch.c:$R: size=1024 B, count=4, average=256 B"
	[B]="workloads/wl_batch.c:$B: size=1000 B, count=10, average=100 B"
	[S]="workloads/wl_batch.c:$S: size=300 B, count=6, average=50 B"
	[CH]="workloads/wl_batch.c:$CH: size=0 B, count=0"
)

# rows NAME...: the stats rows of those sites, in that order.
rows() {
	local n
	for n in "$@"; do
		echo "${row[$n]}"
	done
}

# by_key NAME NAME: the two sites (same file) in the order of their keys
# ("FILE:LINE", the line by value: the tie-breaker of the sort).
by_key() {
	local l1=${!1} l2=${!2}
	if ((l1 < l2)); then echo "$1 $2"; else echo "$2 $1"; fi
}

# alloc_rows NAME...: the stats rows of those sites when sorted by
# allocated bytes, which they then show: all as much as they hold, but the
# churn site's 100 x 2000 B.
alloc_rows() {
	local n r
	for n in "$@"; do
		r=${row[$n]}
		if [ "$n" = CH ]; then
			echo "$r, allocated=195 KiB"
		else
			echo "$r, allocated=$(sed 's/.*size=\([^,]*\),.*/\1/' <<<"$r")"
		fi
	done
}

# stats_final ARGS...: run heaptop -b --format stats ARGS on wl_batch run;
# the rows of its final table (header and empty line left out).
stats_final() {
	local out=$HT_TMP/stats-$RANDOM.txt
	ht_run "$out" -b --format stats "$@" -- "$WL_BATCH" run >&2
	[ "$HT_RC" -eq 0 ] || echo "heaptop exit status $HT_RC"
	final_table "$out" | sed '1d;$d'
}

# pretty_final ARGS...: the same in pretty format (the header left out).
pretty_final() {
	local out=$HT_TMP/pretty-$RANDOM.txt
	ht_run "$out" -b "$@" -- "$WL_BATCH" run >&2
	[ "$HT_RC" -eq 0 ] || echo "heaptop exit status $HT_RC"
	final_table "$out" | sed '1d;$d'
}

# json_final_of ARGS...: the final JSON object of heaptop -b --format json.
json_final_of() {
	local out=$HT_TMP/json-$RANDOM.txt
	ht_run "$out" -b --format json "$@" -- "$WL_BATCH" run >&2
	json_final "$out"
}

echo "== line (the default)"
expect_text "line" "$(stats_final -g line)" "$(rows A C XM UA UC R B S)"

echo "== function"
expect_text "function" "$(stats_final -g function)" \
	"site_a: size=16.0 KiB, count=4, average=4096 B
site_c: size=8000 B, count=1, average=8000 B
xmalloc: size=5900 B, count=5, average=1180 B
util_alloc: size=3200 B, count=5, average=640 B
util_calloc: size=1800 B, count=2, average=900 B
recurse: size=1024 B, count=4, average=256 B
site_b: size=1000 B, count=10, average=100 B
site_strdup: size=300 B, count=6, average=50 B"
expect_text "function, pretty (no source lines under function rows)" \
	"$(pretty_final -g function -l 3)" "Top 3 functions
#1: site_a: 16.0 KiB
#2: site_c: 7.8 KiB
#3: xmalloc: 5.8 KiB
5 other: 7.2 KiB
Total allocated size: 36.7 KiB"
j=$(json_final_of -g function -l 1)
expect_eq "function, json: group_by, line, function, source" \
	"$(pyjson '[d["group_by"]] + [d["rows"][0][k] for k in ("line", "function", "source")]' <<<"$j")" \
	'["function", null, "site_a", null]'

echo "== file"
expect_text "file" "$(stats_final -g file)" \
	"workloads/wl_batch.c: size=26.1 KiB, count=25, average=1068 B
workloads/wl_batch_util.c: size=10.6 KiB, count=12, average=908 B"
expect_text "file, pretty" "$(pretty_final -g file)" "Top 2 files
#1: workloads/wl_batch.c: 26.1 KiB
#2: workloads/wl_batch_util.c: 10.6 KiB
Total allocated size: 36.7 KiB"
j=$(json_final_of -g file)
expect_eq "file, json: rows (basename, line, function, size, count)" \
	"$(pyjson '[[os.path.basename(r["file"]), r["line"], r["function"], r["size"], r["count"]] for r in d["rows"]]' <<<"$j")" \
	'[["wl_batch.c", null, null, 26708, 25], ["wl_batch_util.c", null, null, 10900, 12]]'

echo "== module"
expect_text "module" "$(stats_final -g module)" "wl_batch: size=36.7 KiB, count=37, average=1016 B"
j=$(json_final_of -g module)
expect_eq "module, json: file, line, function, size, count, allocated, allocations" \
	"$(pyjson '[d["rows"][0][k] for k in ("file", "line", "function", "size", "count", "allocated", "allocations")]' <<<"$j")" \
	'[null, null, null, 37608, 37, 237608, 137]'
expect_eq "module, json: the module is wl_batch" \
	"$(pyjson 'os.path.samefile(d["rows"][0]["module"], sys.argv[2])' "$WL_BATCH" <<<"$j")" True

echo "== traceback"
t=$(pretty_final -g traceback -l 1)
expect_text "traceback: the first row down to main" "$(head -n 6 <<<"$t")" "Top 1 tracebacks
#1: 4 memory blocks: 16.0 KiB
  File \"workloads/wl_batch.c\", line $A, in site_a
    wl_hold(malloc(4096)); /* @site_a */
  File \"workloads/wl_batch.c\", line $MA, in main
    site_a(); /* @main_site_a */"
expect_text "traceback: other and total" "$(tail -n 2 <<<"$t")" "11 other: 20.7 KiB
Total allocated size: 36.7 KiB"
expect_eq "traceback: the first row's frames after main are outside wl_batch.c" \
	"$(sed -n '7,$p' <<<"$t" | grep -c 'wl_batch.c' || true)" 0
t=$(pretty_final -g traceback)
expect_eq "traceback: default limit 10" "$(head -n 1 <<<"$t")" "Top 10 tracebacks"
expect_eq "traceback: 2 other (two of recurse's four)" "$(tail -n 2 <<<"$t" | head -n 1)" "2 other: 0.5 KiB"
j=$(json_final_of -g traceback -l 100)
# Each row's frames up to main, as "function:line".
frames=$(pyjson '[" ".join("%s:%s" % (f["function"], f["line"]) for f in
	r["frames"][:[f["function"] for f in r["frames"]].index("main") + 1]) + " = %d/%d" % (r["size"], r["count"])
	for r in d["rows"]]' <<<"$j" | "$HT_PYTHON" -c 'import json, sys; [print(r) for r in json.load(sys.stdin)]')
expect_text "traceback: rows' frames up to main, in order" "$frames" \
	"site_a:$A main:$MA = 16384/4
site_c:$C main:$(line_of main_site_c) = 8000/1
xmalloc:$XM use_xmalloc_1:$X1 main:$MX1 = 4500/3
util_alloc:$UA main:$(line_of main_util_alloc) = 3200/5
util_calloc:$UC main:$(line_of main_util_calloc) = 1800/2
xmalloc:$XM use_xmalloc_2:$X2 main:$(line_of main_xcall2) = 1400/2
site_b:$B main:$(line_of main_site_b) = 1000/10
site_strdup:$S main:$(line_of main_site_strdup) = 300/6
$("$HT_PYTHON" -c '
import sys
# Rows of equal size come in the order of their keys: the frame
# "FILE:LINE" joined by newlines, numbers compared by value; here all in
# one file, so by the line numbers, frame after frame.
rows = ["recurse:%s " % sys.argv[1] + "recurse:%s " % sys.argv[2] * k + "main:%s = 256/1" % sys.argv[3]
        for k in range(4)]
print("\n".join(sorted(rows, key=lambda r: [int(f.split(":")[1]) for f in r.split(" = ")[0].split()])))
' "$R" "$RC" "$MR")"
expect_eq "traceback, json: group_by" "$(pyjson 'd["group_by"]' <<<"$j")" traceback
expect_eq "traceback, json: a row's own fields are its first frame's" \
	"$(pyjson 'all(all(r[k] == r["frames"][0][k] for k in ("file", "line", "function", "module", "source")) for r in d["rows"])' <<<"$j")" True

echo "== cumulative: every distinct site of a stack, each stack once"
j=$(json_final_of -c -g function -l 100)
expect_eq "cumulative function: size/count of main recurse xmalloc use_xmalloc_1 use_xmalloc_2 site_a" \
	"$(pyjson '" ".join("%d/%d" % next((r["size"], r["count"]) for r in d["rows"] if r["function"] == f)
		for f in ("main", "recurse", "xmalloc", "use_xmalloc_1", "use_xmalloc_2", "site_a"))' <<<"$j")" \
	"37608/37 1024/4 5900/5 4500/3 1400/2 16384/4"
expect_eq "cumulative function: total counts each stack once" "$(pyjson 'd["total"]' <<<"$j")" \
	'{"count": 37, "size": 37608}'
j=$(json_final_of -c -g line -l 100)
expect_eq "cumulative line: @recurse_alloc @recurse_call @main_recurse @xmalloc @xcall1 @main_xcall1 @xcall2" \
	"$(pyjson '" ".join("%d/%d" % next((r["size"], r["count"]) for r in d["rows"]
		if r["line"] == int(l) and r["file"].endswith(f)) for f, l in
		(("/wl_batch.c", sys.argv[2]), ("/wl_batch.c", sys.argv[3]), ("/wl_batch.c", sys.argv[4]),
		 ("/wl_batch_util.c", sys.argv[5]), ("/wl_batch.c", sys.argv[6]), ("/wl_batch.c", sys.argv[7]),
		 ("/wl_batch.c", sys.argv[8])))' "$R" "$RC" "$MR" "$XM" "$X1" "$MX1" "$X2" <<<"$j")" \
	"1024/4 768/3 1024/4 5900/5 4500/3 4500/3 1400/2"
j=$(json_final_of -c -g file -l 100)
expect_eq "cumulative file: wl_batch.c holds everything (main is there), wl_batch_util.c its own" \
	"$(pyjson '" ".join("%d/%d" % next((r["size"], r["count"]) for r in d["rows"]
		if r["file"] and r["file"].endswith(f)) for f in ("/wl_batch.c", "/wl_batch_util.c"))' <<<"$j")" \
	"37608/37 10900/12"
t=$(pretty_final -c -g file)
expect_eq "cumulative file, pretty: the total counts each stack once" "$(tail -n 1 <<<"$t")" \
	"Total allocated size: 36.7 KiB"

echo "== sort keys"
read -r c1 c2 < <(by_key XM UA)
read -r c3 c4 < <(by_key A R)
expect_text "-s size" "$(stats_final -s size)" "$(rows A C XM UA UC R B S)"
expect_text "-s count (ties by key)" "$(stats_final -s count)" "$(rows B S "$c1" "$c2" "$c3" "$c4" UC C)"
expect_text "-s average" "$(stats_final -s average)" "$(rows C A XM UC UA R B S)"
expect_text "-s allocated (a row with nothing live is listed, allocated shown)" \
	"$(stats_final -s allocated)" "$(alloc_rows CH A C XM UA UC R B S)"
expect_text "-s allocated, pretty: the sort key shown" "$(pretty_final -s allocated -l 2 | sed -n '2p;4p')" \
	"#1: workloads/wl_batch.c:$CH: 0.0 KiB, allocated 195.3 KiB
#2: workloads/wl_batch.c:$A: 16.0 KiB, allocated 16.0 KiB"
expect_text "-s count, pretty: the sort key shown" "$(pretty_final -s count -l 1 | sed -n '2p')" \
	"#1: workloads/wl_batch.c:$B: 1.0 KiB, 10 blocks"
expect_text "-s average, pretty: the sort key shown" "$(pretty_final -s average -l 1 | sed -n '2p')" \
	"#1: workloads/wl_batch.c:$C: 7.8 KiB, average 8000 B"
expect_text "-s delta without a base: by size" "$(stats_final -s delta)" "$(rows A C XM UA UC R B S)"
expect_text "-r: smallest first" "$(stats_final -r)" "$(rows S B R UC UA XM C A)"
expect_text "-s count -r (ties still by key)" "$(stats_final -s count -r)" \
	"$(rows C UC "$c3" "$c4" "$c1" "$c2" S B)"

echo "== limit and other"
expect_text "-l 3, pretty" "$(pretty_final -l 3)" "Top 3 lines
#1: workloads/wl_batch.c:$A: 16.0 KiB
    wl_hold(malloc(4096)); /* @site_a */
#2: workloads/wl_batch.c:$C: 7.8 KiB
    wl_hold(malloc(8000)); /* @site_c */
#3: workloads/wl_batch_util.c:$XM: 5.8 KiB
    void *p = malloc(n); /* @xmalloc */
5 other: 7.2 KiB
Total allocated size: 36.7 KiB"
expect_text "-l 3, stats (no other line)" "$(stats_final -l 3)" "$(rows A C XM)"
j=$(json_final_of -l 3)
expect_eq "-l 3, json: rows, other" "$(pyjson '[len(d["rows"]), d["other"], d["total"]]' <<<"$j")" \
	'[3, {"count": 27, "rows": 5, "size": 7324}, {"count": 37, "size": 37608}]'
t=$(pretty_final -l 8)
expect_eq "-l 8 (all rows): no other line" "$(grep -c ' other: ' <<<"$t" || true)" 0
expect_eq "-l 8: Top 8" "$(head -n 1 <<<"$t")" "Top 8 lines"
t=$(pretty_final -l 7)
expect_eq "-l 7: 1 other" "$(tail -n 2 <<<"$t" | head -n 1)" "1 other: 0.3 KiB"

echo "== [view] keys of the configuration file, and options over them"
cat >"$HT_TMP/view.ini" <<'EOF'
; the grouping, sort, limit and format of the tables
[view]
group = function
sort = count
limit = 2
format = stats
EOF
expect_text "config [view]" "$(stats_final --config "$HT_TMP/view.ini")" \
	"site_b: size=1000 B, count=10, average=100 B
site_strdup: size=300 B, count=6, average=50 B"
expect_text "config [view], then -g line -s size -l 1 on the command line" \
	"$(stats_final --config "$HT_TMP/view.ini" -g line -s size -l 1)" "$(rows A)"
expect_text "config [view] format = stats" "$(pretty_final --config "$HT_TMP/view.ini")" \
	"site_b: size=1000 B, count=10, average=100 B
site_strdup: size=300 B, count=6, average=50 B"
mkdir -p "$HT_TMP/xdg/heaptop"
cp "$HT_TMP/view.ini" "$HT_TMP/xdg/heaptop/heaptoprc"
expect_text "config from \$XDG_CONFIG_HOME/heaptop/heaptoprc" \
	"$(XDG_CONFIG_HOME=$HT_TMP/xdg pretty_final)" \
	"site_b: size=1000 B, count=10, average=100 B
site_strdup: size=300 B, count=6, average=50 B"
