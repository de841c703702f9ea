#!/bin/bash
# heaptop's benchmark suite (doc/performance.md).  `make bench` builds what it
# needs and runs this; by hand, from a built tree:
#
#   make tests/bench/bench_alloc ... (or make bench once) && tests/bench/run.sh
#
# Every workload runs in every mode, once per round; the order of the modes
# turns by one place each round, so that a drift of the machine falls on all
# of them alike.  Figures are medians over the rounds; ratios are to the
# uninstrumented run of the same round set.  Prints a markdown report on
# stdout (also saved as report.md in the results directory) and progress on
# stderr; `run.sh --report DIR` prints the report of an earlier run again.
# Exits non-zero only when the suite cannot run (a missing binary); a missed
# target is a MISS in the report, not a failure.
#
# Settings (environment):
#   BENCH_ROUNDS=5          rounds
#   BENCH_WORKLOADS="alloc1 alloc2 alloc4 alloc8 sqlite python cppcheck"
#                           also cppcheck-jemalloc, cppcheck-tcmalloc: cppcheck
#                           with that allocator preloaded (not targets; no
#                           heaptrack run: it does not see their operator new)
#   BENCH_MODES="base heaptrack heaptop agent fp sample"
#   BENCH_OPS=1000000       malloc/free pairs per thread, synthetic benchmark
#   BENCH_SQLITE_ROWS=300000
#   BENCH_PY_ITEMS=60000
#   BENCH_EXTRAS=1          0: skip memory, snapshot, refresh, symbolizer figures
#   BENCH_OUT=DIR           where raw results and logs go (default: a new temp dir)
#   BENCH_COMMIT=NAME       what the report calls the build (default: git describe)
#   top_srcdir, top_builddir  (make passes them; default: from this script / $PWD)
set -u
export LC_ALL=C

ROUNDS=${BENCH_ROUNDS:-5}
WORKLOADS=${BENCH_WORKLOADS:-alloc1 alloc2 alloc4 alloc8 sqlite python cppcheck}
MODES=${BENCH_MODES:-base heaptrack heaptop agent fp sample}
OPS=${BENCH_OPS:-1000000}
SQLITE_ROWS=${BENCH_SQLITE_ROWS:-300000}
PY_ITEMS=${BENCH_PY_ITEMS:-60000}
EXTRAS=${BENCH_EXTRAS:-1}
SAMPLE_BYTES=524288

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
B=$top_builddir/tests/bench
AGENT=$top_builddir/.libs/libheaptop.so
CXXSHIM=$top_builddir/.libs/libheaptop-cxx.so
HEAPTOP=$top_builddir/heaptop

die() {
	echo "run.sh: $*" >&2
	exit 2
}
note() {
	echo "$*" >&2
}

# report DIR: the markdown report of the results in DIR (meta.txt,
# extras.txt, results.txt).
report() {
	{
		cat "$1/meta.txt"
		sed 's/^/extra /' "$1/extras.txt"
		sed 's/^/run /' "$1/results.txt"
	} | awk '
function median(key,    n, i, j, t, v) {
	n = split(walls[key], v, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function medlist(list,    n, i, j, t, v) {
	n = split(list, v, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function cell(wl, m,    t, t0) {
	if (fails[wl SUBSEP m]) return "fail (" fails[wl SUBSEP m] " runs)"
	t = med[wl SUBSEP m]; t0 = med[wl SUBSEP "base"]
	if (t == "") return "n/a"
	if (m == "base" || t0 == "") return sprintf("%.3f s", t)
	return sprintf("%.3f s (%.2fx)", t, t / t0)
}
function ratio(wl, m) {
	if (med[wl SUBSEP m] == "" || med[wl SUBSEP "base"] == "" || fails[wl SUBSEP m]) return ""
	return med[wl SUBSEP m] / med[wl SUBSEP "base"]
}
function verdict(ok) { return ok ? "PASS" : "MISS" }
function mib(kb) { return kb == "" ? "n/a" : sprintf("%.0f", kb / 1024) }
$1 == "meta" { v = $0; sub(/^meta [^ ]* ?/, "", v); meta[$2] = v; next }
$1 == "desc" { d = $0; sub(/^desc [^ ]* /, "", d); desc[$2] = d; order[++nwl] = $2; next }
$1 == "extra" { split($2, kvp, "="); x[kvp[1]] = substr($2, length(kvp[1]) + 2); next }
$1 == "run" {
	key = $2 SUBSEP $3
	if ($9 != 0) { fails[key]++; next }
	walls[key] = walls[key] " " $5; cpus[key] = cpus[key] " " $6; rss[key] = rss[key] " " $8
	next
}
END {
	rounds = meta["rounds"]; fp_ok = meta["fp_ok"]; have_ht = meta["have_heaptrack"]
	# The viewer refresh cases (refresh-NAME.txt) and what they measure.
	split("line traceback traceback_diff lines lines_diff", rg, " ")
	rd["line"] = "bench_sites, 100 000 stacks, grouped by line"
	rd["traceback"] = "bench_sites, 100 000 stacks, grouped by traceback"
	rd["traceback_diff"] = "bench_sites, by traceback, diff against a mark"
	rd["lines"] = "bench_lines, 100 000 allocating lines, grouped by line"
	rd["lines_diff"] = "bench_lines, by line, diff against a mark"
	split("base heaptrack heaptop agent fp sample", modes, " ")
	for (i = 1; i <= nwl; i++)
		for (j = 1; j <= 6; j++) {
			k = order[i] SUBSEP modes[j]
			med[k] = median(k); mrss[k] = medlist(rss[k]); mcpu[k] = medlist(cpus[k])
		}
	print "## heaptop benchmark"
	print ""
	print "Machine: " meta["machine"] ". heaptrack: " meta["heaptrack"] ". heaptop: " meta["commit"] "."
	print "Median wall time of " rounds " rounds (ratio to uninstrumented); suite time " meta["elapsed"] " s; load average " meta["load"] "; raw data in " meta["out"] "."
	print ""
	print "| workload | uninstrumented | heaptrack | heaptop -b (end to end) | agent alone | agent, HEAPTOP_UNWIND=fp | agent, HEAPTOP_SAMPLE=512KiB | heaptop overhead / heaptrack overhead |"
	print "|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nwl; i++) {
		wl = order[i]
		rh = ratio(wl, "heaptrack"); re = ratio(wl, "heaptop")
		share = (rh != "" && re != "" && rh > 1) ? sprintf("%.2f", (re - 1) / (rh - 1)) : "n/a"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", wl, cell(wl, "base"), cell(wl, "heaptrack"),
			cell(wl, "heaptop"), cell(wl, "agent"), cell(wl, "fp"), cell(wl, "sample"), share
	}
	print ""
	print "CPU time of the whole process tree (user + sys, median; ratio to uninstrumented), which other load on the machine disturbs less than wall time:"
	print ""
	print "| workload | uninstrumented | heaptrack | heaptop -b | agent alone | fp | sampled |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= nwl; i++) {
		wl = order[i]
		printf "| %s | %s |", wl, mcpu[wl SUBSEP "base"] == "" ? "n/a" : sprintf("%.2f s", mcpu[wl SUBSEP "base"])
		for (j = 2; j <= 6; j++) {
			c = mcpu[wl SUBSEP modes[j]]; c0 = mcpu[wl SUBSEP "base"]
			printf " %s |", c == "" ? "n/a" : (c0 > 0 ? sprintf("%.2f s (%.2fx)", c, c / c0) : sprintf("%.2f s", c))
		}
		printf "\n"
	}
	print ""
	print "Peak RSS of the target process (MiB, median):"
	print ""
	print "| workload | uninstrumented | heaptrack | heaptop -b | agent alone | fp | sampled |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= nwl; i++) {
		wl = order[i]
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", wl, mib(mrss[wl SUBSEP "base"]),
			mib(mrss[wl SUBSEP "heaptrack"]), mib(mrss[wl SUBSEP "heaptop"]),
			mib(mrss[wl SUBSEP "agent"]), mib(mrss[wl SUBSEP "fp"]), mib(mrss[wl SUBSEP "sample"])
	}
	print ""
	print "Workloads:"
	print ""
	for (i = 1; i <= nwl; i++) print "- " order[i] ": " desc[order[i]]
	print ""
	print "## Targets"
	print ""
	print "| target | measured | verdict |"
	print "|---|---|---|"
	for (i = 1; i <= nwl; i++) {
		wl = order[i]
		if (wl ~ /^alloc/ || wl ~ /-/) continue
		rh = ratio(wl, "heaptrack"); re = ratio(wl, "heaptop")
		if (rh == "" || re == "") { printf "| %s: heaptop overhead <= 1/3 of heaptrack%s | n/a | n/a |\n", wl, ""; continue }
		s = (rh > 1) ? (re - 1) / (rh - 1) : 99
		printf "| %s: heaptop overhead <= 1/3 of heaptrack | %.0f%% vs %.0f%%: %.2f of it | %s |\n", wl,
			(re - 1) * 100, (rh - 1) * 100, s, verdict(s <= 1 / 3)
	}
	r2 = ratio("alloc2", "heaptop")
	if (r2 != "")
		printf "| alloc2: heaptop -b <= 2.5x (default unwinding) | %.2fx | %s |\n", r2, verdict(r2 <= 2.5)
	r1 = ratio("alloc1", "heaptop")
	split("alloc2 alloc4 alloc8", tl, " ")
	for (i = 1; i <= 3; i++) {
		r = ratio(tl[i], "heaptop")
		if (r == "" || r1 == "") continue
		printf "| %s: no worse than 1 thread (within 10%%) | %.2fx vs %.2fx | %s |\n", tl[i], r, r1,
			verdict(r <= r1 * 1.10)
	}
	if (!fp_ok) print "| fp: synthetic <= 1.6x | n/a: the agent does not support HEAPTOP_UNWIND=fp | n/a |"
	else {
		split("alloc1 alloc2 alloc4 alloc8", al, " ")
		for (i = 1; i <= 4; i++) {
			r = ratio(al[i], "fp")
			if (r != "") printf "| %s: HEAPTOP_UNWIND=fp <= 1.6x | %.2fx | %s |\n", al[i], r, verdict(r <= 1.6)
		}
	}
	for (i = 1; i <= nwl; i++) {
		r = ratio(order[i], "sample")
		if (r != "") printf "| %s: sampled <= 1.05x | %.3fx | %s |\n", order[i], r, verdict(r <= 1.05)
	}
	if ("mem_per_block" in x)
		printf "| agent memory <= 24 bytes per live block | %s B (marginal, %d blocks; %s B all told) | %s |\n",
			x["mem_per_block"], x["mem_blocks"], x["mem_per_block_total"], verdict(x["mem_per_block"] + 0 <= 24)
	if ("snap_inc_ms" in x)
		printf "| snapshot of 100 000 sites <= 10 ms | %s ms incremental (max %s), %s ms full | %s |\n",
			x["snap_inc_ms"], x["snap_inc_ms_max"], x["snap_full_ms"], verdict(x["snap_inc_ms"] + 0 <= 10)
	for (i = 1; i <= 5; i++) {
		g = rg[i]
		if (x["refresh_" g "_rows"] + 0 >= 100000)
			printf "| refresh with %s rows <= 50 ms viewer CPU (%s) | %s ms | %s |\n", x["refresh_" g "_rows"],
				rd[g], x["refresh_" g "_cpu_ms"], verdict(x["refresh_" g "_cpu_ms"] + 0 <= 50)
	}
	for (i = 1; ("sym" i "_first_s") in x; i++)
		printf "| first symbolization of %s addresses <= 2 s (%s) | %s s | %s |\n", x["sym" i "_addresses"],
			x["sym" i "_file"], x["sym" i "_first_s"], verdict(x["sym" i "_first_s"] + 0 <= 2)
	print ""
	print "## Other figures"
	print ""
	if ("mem_per_stack" in x) {
		printf "- Agent memory per unique stack: %s B (bench_sites: %d stacks of about 22 frames; %s B counting the snapshot buffer of the connection)\n",
			x["mem_per_stack"], x["mem_stacks"], x["mem_per_stack_with_buffer"]
		printf "- Agent memory with %d live blocks: %.1f MiB; baseline (16 stacks, 16 blocks): %.1f MiB\n",
			x["mem_blocks"], x["mem_agent_bytes_blocks"] / 1048576, x["mem_agent_bytes_base"] / 1048576
		printf "- Snapshot at 100 000 stacks: full %s ms, %.1f MiB; incremental %s ms median, %.1f MiB\n",
			x["snap_full_ms"], x["snap_full_bytes"] / 1048576, x["snap_inc_ms"], x["snap_inc_bytes"] / 1048576
	}
	for (i = 1; i <= 5; i++) {
		g = rg[i]
		if (x["refresh_" g "_cpu_ms"] == "") continue
		printf "- Viewer refresh, %s (%s rows): %s ms CPU median (max %s; the recompute %s ms; wall %s ms); first refresh %s ms CPU\n",
			rd[g], x["refresh_" g "_rows"], x["refresh_" g "_cpu_ms"], x["refresh_" g "_cpu_ms_max"],
			x["refresh_" g "_model_ms"], x["refresh_" g "_wall_ms"], x["refresh_" g "_first_cpu_ms"]
	}
	rows = ""
	for (i = 1; i <= nwl; i++) {
		wl = order[i]
		if (!(("final_" wl "_stacks") in x)) continue
		rows = rows sprintf("| %s | %d | %d | %.1f MiB | %.1f MiB | %.0f%% |\n", wl, x["final_" wl "_allocs"],
			x["final_" wl "_stacks"], x["final_" wl "_peak"] / 1048576, x["final_" wl "_tables"] / 1048576,
			(x["final_" wl "_peak"] > 0 ? 100 * x["final_" wl "_tables"] / x["final_" wl "_peak"] : 0))
	}
	if (rows != "") {
		print ""
		print "Stacks and agent memory per workload (agent alone, from its live-at-exit snapshot; the tables exclude the 1 MiB buffer that wrote that file):"
		print ""
		print "| workload | allocations | stacks | peak live heap | agent tables | tables / peak heap |"
		print "|---|---|---|---|---|---|"
		printf "%s", rows
		print ""
	}
	for (i = 1; ("sym" i "_first_s") in x; i++)
		printf "- Symbolizer, %s: %s addresses (%s with a source line) first looked up in %s s; cached %s ns each\n",
			x["sym" i "_file"], x["sym" i "_addresses"], x["sym" i "_lined"], x["sym" i "_first_s"], x["sym" i "_cached_ns"]
	if (!have_ht) print "- heaptrack is not installed: its columns are n/a (apt-get install heaptrack)"
}'
}

if [ "${1:-}" = --report ]; then
	[ -f "${2:-}/meta.txt" ] || die "usage: run.sh [--report DIR]"
	report "$2"
	exit 0
fi

for f in "$AGENT" "$HEAPTOP" "$B/bench_run" "$B/bench_alloc" "$B/bench_sites" \
	"$B/bench_lines" "$B/bench_snap" "$B/bench_refresh" "$B/bench_symbolizer"; do
	[ -x "$f" ] || [ -f "$f" ] || die "missing $f: build with 'make bench' (top_builddir=$top_builddir)"
done
case $ROUNDS in '' | *[!0-9]* | 0) die "BENCH_ROUNDS must be a positive number" ;; esac

OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/heaptop-bench.XXXXXX")} || die "cannot make a results directory"
mkdir -p "$OUT" || die "cannot make $OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"
LOG=$OUT/last-run.log
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
case $load_start in
0.[0-4]*) ;;
*) note "warning: load average $load_start before the suite: other work on this machine will blur the figures" ;;
esac

# --- workloads -------------------------------------------------------------
# Each defines: WL_CMD (array), WL_EXE (the target binary, for its RSS),
# WL_ENV (array of VAR=VALUE), WL_FP (1: built with frame pointers),
# WL_DESC (for the report).  wl_setup NAME returns 1 when NAME cannot run.

cat >"$OUT/sqlite.sql" <<EOF
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL, note TEXT);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, score);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SQLITE_ROWS)
INSERT INTO t(name, grp, score, note)
  SELECT printf('user%08d', (i * 2654435761) % 1000003), i % 1000, (i * 7919) % 10007 / 7.0,
         substr('lorem ipsum dolor sit amet consectetur adipiscing elit', 1 + i % 20, 10 + i % 30)
  FROM n;
COMMIT;
SELECT grp, count(*), avg(score) FROM t GROUP BY grp ORDER BY 3 DESC LIMIT 3;
SELECT count(*) FROM t WHERE name BETWEEN 'user00100000' AND 'user00200000';
SELECT a.grp, count(*) FROM t a JOIN t b ON a.name = b.name
  WHERE a.id < 50000 GROUP BY a.grp ORDER BY 2 DESC LIMIT 3;
SELECT note, count(*) FROM t GROUP BY note ORDER BY 2 DESC LIMIT 3;
UPDATE t SET score = score + 1 WHERE grp < 100;
DELETE FROM t WHERE grp % 7 = 0;
SELECT count(*), sum(length(note)) FROM t;
EOF

cat >"$OUT/dict.py" <<EOF
import json, pickle
d = {}
for i in range($PY_ITEMS):
    d["key%07d" % i] = {"id": i, "name": "item-%d" % i,
                        "tags": ["t%d" % (i % 17), "u%d" % (i % 5)], "score": i * 0.5}
s = json.dumps(d)
back = json.loads(s)
p = pickle.dumps(back)
assert len(pickle.loads(p)) == len(d)
print(len(s), len(p))
EOF

GTEST=/usr/src/googletest/googletest
# find_lib NAME: the path of shared library NAME, from the loader's cache.
find_lib() {
	/sbin/ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n && /x86-64|x86_64/ { print $NF; f = 1; exit } END { exit !f }'
}
wl_setup() {
	WL_ENV=()
	WL_PRELOAD=
	WL_FP=0
	case $1 in
	alloc[0-9]*)
		local t=${1#alloc}
		WL_CMD=("$B/bench_alloc" -t "$t" -n "$OPS")
		WL_EXE=$B/bench_alloc
		WL_FP=1
		WL_DESC="bench_alloc, $t thread(s) x $OPS malloc/free pairs, 4096 stacks"
		;;
	sqlite)
		WL_EXE=$(command -v sqlite3) || return 1
		WL_CMD=("$WL_EXE" :memory: ".read $OUT/sqlite.sql")
		WL_DESC="sqlite3 :memory:, $SQLITE_ROWS rows, 2 indexes, queries"
		;;
	python)
		WL_EXE=/usr/bin/python3
		[ -x "$WL_EXE" ] || return 1
		WL_CMD=("$WL_EXE" "$OUT/dict.py")
		WL_ENV=(PYTHONMALLOC=malloc)
		WL_DESC="python3 (PYTHONMALLOC=malloc), dict of $PY_ITEMS records, json + pickle"
		;;
	cppcheck | cppcheck-jemalloc | cppcheck-tcmalloc)
		WL_EXE=$(command -v cppcheck) || return 1
		if [ -f "$GTEST/src/gtest.cc" ]; then
			WL_CMD=("$WL_EXE" -q --max-configs=1 -I "$GTEST/include" -I "$GTEST" "$GTEST/src/gtest.cc")
			WL_DESC="cppcheck --max-configs=1 on googletest's gtest.cc"
		else
			WL_CMD=("$WL_EXE" -q --max-configs=1 -I "$top_srcdir/src" "$top_srcdir/src/viewer")
			WL_DESC="cppcheck --max-configs=1 on heaptop's src/viewer"
		fi
		case $1 in
		*-jemalloc) WL_PRELOAD=$(find_lib libjemalloc.so.2) || return 1 ;;
		*-tcmalloc) WL_PRELOAD=$(find_lib libtcmalloc_minimal.so.4) || return 1 ;;
		esac
		[ -z "$WL_PRELOAD" ] || WL_DESC="$WL_DESC, ${WL_PRELOAD##*/} preloaded"
		;;
	*)
		return 1
		;;
	esac
	return 0
}

# --- modes ------------------------------------------------------------------
# mode_cmd MODE fills MODE_CMD (array) for the current workload; returns 1
# when the mode does not apply.
FP_OK=0
HAVE_HEAPTRACK=0
command -v heaptrack >/dev/null 2>&1 && HAVE_HEAPTRACK=1

# The workload's environment with what a mode preloads (WL_PRELOAD's
# allocator after the agent and its C++ shim, as heaptop puts them).
mode_env() {
	MODE_ENV=(env "${WL_ENV[@]}")
	if [ -n "$1" ] && [ -n "$WL_PRELOAD" ]; then
		MODE_ENV+=(LD_PRELOAD="$1 $CXXSHIM $WL_PRELOAD")
	elif [ -n "$1$WL_PRELOAD" ]; then
		MODE_ENV+=(LD_PRELOAD="$1$WL_PRELOAD")
	fi
}
mode_cmd() {
	case $1 in
	base | heaptrack | heaptop) mode_env "" ;;
	*) mode_env "$AGENT" ;;
	esac
	case $1 in
	base) MODE_CMD=("${MODE_ENV[@]}" "${WL_CMD[@]}") ;;
	heaptrack)
		[ "$HAVE_HEAPTRACK" = 1 ] && [ -z "$WL_PRELOAD" ] || return 1
		MODE_CMD=("${MODE_ENV[@]}" heaptrack -o "$OUT/heaptrack.data" "${WL_CMD[@]}")
		;;
	heaptop)
		MODE_CMD=("${MODE_ENV[@]}" HEAPTOP_AGENT="$AGENT" "$HEAPTOP" -b -d 1 -- "${WL_CMD[@]}")
		;;
	agent) MODE_CMD=("${MODE_ENV[@]}" "${WL_CMD[@]}") ;;
	fp)
		[ "$FP_OK" = 1 ] && [ "$WL_FP" = 1 ] || return 1
		MODE_CMD=("${MODE_ENV[@]}" HEAPTOP_UNWIND=fp "${WL_CMD[@]}")
		;;
	sample)
		MODE_CMD=("${MODE_ENV[@]}" HEAPTOP_SAMPLE="$SAMPLE_BYTES" "${WL_CMD[@]}")
		;;
	*) return 1 ;;
	esac
	return 0
}

# run_one WORKLOAD MODE ROUND: one measured run, appended to $RESULTS as
# "workload mode round wall_s cpu_s tree_rss_kb target_rss_kb status".
run_one() {
	local line
	rm -f "$OUT/run.txt"
	"$B/bench_run" -x "$WL_EXE" -o "$OUT/run.txt" -- "${MODE_CMD[@]}" </dev/null >"$LOG" 2>&1
	line=$(cat "$OUT/run.txt" 2>/dev/null) || die "bench_run failed for $1 $2 (see $LOG)"
	rm -f "$OUT"/heaptrack.data*
	# shellcheck disable=SC2086 # the fields of the line, on purpose
	set -- "$1" "$2" "$3" $line
	local st=${8#status=}
	[ "$st" = 0 ] || cp "$LOG" "$OUT/failed-$1-$2.log"
	echo "$1 $2 $3 ${4#wall_s=} ${5#cpu_s=} ${6#tree_rss_kb=} ${7#target_rss_kb=} $st" >>"$RESULTS"
	printf ' %s=%.2fs' "$2" "${4#wall_s=}" >&2
	[ "$st" = 0 ] || printf '(status %s)' "$st" >&2
}

# --- frame-pointer support: does the agent say it walks frame pointers? ----
# start_sites ARGS...: bench_sites (or SITES_PROG, which speaks the same
# "ready pid=" protocol) under the agent (extra env in SITES_ENV), its pid
# in SITES_PID once it is ready; stop_sites ends it.
SITES_ENV=()
start_sites() {
	rm -f "$OUT/sites.fifo" "$OUT/sites.out"
	mkfifo "$OUT/sites.fifo" || die "mkfifo failed"
	env LD_PRELOAD="$AGENT" "${SITES_ENV[@]}" "${SITES_PROG:-$B/bench_sites}" "$@" \
		<"$OUT/sites.fifo" >"$OUT/sites.out" 2>&1 &
	SITES_BG=$!
	exec 9>"$OUT/sites.fifo"
	SITES_PID=
	local i
	for i in $(seq 1 600); do
		if grep -q '^ready' "$OUT/sites.out" 2>/dev/null; then
			SITES_PID=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$OUT/sites.out")
			return 0
		fi
		kill -0 "$SITES_BG" 2>/dev/null || break
		sleep 0.1
	done
	stop_sites
	return 1
}
stop_sites() {
	exec 9>&-
	wait "$SITES_BG" 2>/dev/null
	rm -f "$OUT/sites.fifo"
}
# kv KEY FILE [PREFIX]: the value of KEY= on the first line starting with PREFIX.
kv() {
	sed -n "/^${3:-}/{s/.*[ ]$1=\\([^ ]*\\).*/\\1/p;q}" "$2"
}

SITES_ENV=(HEAPTOP_UNWIND=fp)
if start_sites 10 1; then
	"$B/bench_snap" --pid "$SITES_PID" --repeat 1 >"$OUT/fp-probe.txt" 2>&1 &&
		[ "$(kv frame_pointers "$OUT/fp-probe.txt" agent)" = 1 ] && FP_OK=1
	stop_sites
fi
SITES_ENV=()
if [ "$FP_OK" = 1 ]; then
	note "frame-pointer walker: supported (HEAPTOP_UNWIND=fp)"
else
	note "frame-pointer walker: not supported by this agent (HEAPTOP_UNWIND=fp ignored): n/a"
fi

# --- the rounds ---------------------------------------------------------------
read -r -a mode_list <<<"$MODES"
read -r -a wl_list <<<"$WORKLOADS"
nmodes=${#mode_list[@]}
ran_wl=()
for wl in "${wl_list[@]}"; do
	if wl_setup "$wl"; then
		ran_wl+=("$wl")
	else
		note "workload $wl: not available here, skipped"
	fi
done

note "warm-up (uninstrumented, not counted)"
for wl in "${ran_wl[@]}"; do
	wl_setup "$wl"
	mode_env ""
	"${MODE_ENV[@]}" "${WL_CMD[@]}" </dev/null >/dev/null 2>&1 ||
		die "workload $wl fails uninstrumented: ${WL_CMD[*]}"
done

for round in $(seq 1 "$ROUNDS"); do
	for wl in "${ran_wl[@]}"; do
		wl_setup "$wl"
		printf 'round %s/%s %-8s' "$round" "$ROUNDS" "$wl" >&2
		for k in $(seq 0 $((nmodes - 1))); do
			mode=${mode_list[$(((k + round - 1) % nmodes))]}
			mode_cmd "$mode" || continue
			run_one "$wl" "$mode" "$round"
		done
		echo >&2
	done
done

# --- extra figures ---------------------------------------------------------------
EXTRA=$OUT/extras.txt
: >"$EXTRA"
extra() {
	[ -z "$2" ] || echo "$1=$2" >>"$EXTRA"
}
# The agent's snapshot buffer while it encodes an answer of BYTES sent in
# one piece (a refresh, or a full answer of few stacks): 64 KiB of room for
# HELLO and MODULES, in multiples of 64 KiB (src/agent/snapshot.c; within
# 64 KiB); the connection's, not the tables'.
snapbuf() {
	echo $(( ($1 + 65536 + 65535) / 65536 * 65536 ))
}

if [ "$EXTRAS" = 1 ]; then
	note "extras: agent memory, snapshot, refresh, symbolizer"
	# Baseline: few stacks, few blocks.
	if start_sites 16 1 16; then
		"$B/bench_snap" --pid "$SITES_PID" --repeat 1 >"$OUT/mem-base.txt" 2>&1
		stop_sites
	fi
	# 1M live blocks on 16 stacks.
	if start_sites 16 65536 16; then
		"$B/bench_snap" --pid "$SITES_PID" --repeat 1 >"$OUT/mem-blocks.txt" 2>&1
		stop_sites
	fi
	# 100 000 stacks: memory, snapshot latency and size, viewer refresh
	# (by line 11 rows, by traceback 100 001; plain and against a mark).
	if start_sites 100000 1 32; then
		"$B/bench_snap" --pid "$SITES_PID" --repeat 20 >"$OUT/snap-100k.txt" 2>&1
		"$B/bench_refresh" --pid "$SITES_PID" --runs 10 --group line >"$OUT/refresh-line.txt" 2>&1
		"$B/bench_refresh" --pid "$SITES_PID" --runs 10 --group traceback >"$OUT/refresh-traceback.txt" 2>&1
		"$B/bench_refresh" --pid "$SITES_PID" --runs 10 --group traceback --diff \
			>"$OUT/refresh-traceback_diff.txt" 2>&1
		stop_sites
	fi
	# 100 000 allocating lines: the viewer refresh with 100 000 line rows.
	if SITES_PROG=$B/bench_lines start_sites 100000 32; then
		"$B/bench_refresh" --pid "$SITES_PID" --runs 10 --group line >"$OUT/refresh-lines.txt" 2>&1
		"$B/bench_refresh" --pid "$SITES_PID" --runs 10 --group line --diff \
			>"$OUT/refresh-lines_diff.txt" 2>&1
		stop_sites
	fi
	a0=$(kv agent_bytes "$OUT/mem-base.txt" full)
	b0=$(kv live_blocks "$OUT/mem-base.txt" full)
	s0=$(kv stacks "$OUT/mem-base.txt" full)
	y0=$(kv bytes "$OUT/mem-base.txt" full)
	a1=$(kv agent_bytes "$OUT/mem-blocks.txt" full)
	b1=$(kv live_blocks "$OUT/mem-blocks.txt" full)
	y1=$(kv bytes "$OUT/mem-blocks.txt" full)
	a2=$(kv agent_bytes "$OUT/snap-100k.txt" full)
	s2=$(kv stacks "$OUT/snap-100k.txt" full)
	y2=$(kv bytes "$OUT/snap-100k.txt" full)
	if [ -n "$a0" ] && [ -n "$a1" ] && [ -n "$b1" ]; then
		extra mem_blocks "$b1"
		extra mem_agent_bytes_blocks "$a1"
		extra mem_agent_bytes_base "$a0"
		extra mem_per_block_total "$(awk -v a="$a1" -v b="$b1" 'BEGIN{printf "%.1f", a / b}')"
		extra mem_per_block "$(awk -v a="$a1" -v a0="$a0" -v b="$b1" -v b0="$b0" \
			-v c="$(snapbuf "$y1")" -v c0="$(snapbuf "$y0")" \
			'BEGIN{printf "%.1f", ((a - c) - (a0 - c0)) / (b - b0)}')"
	fi
	if [ -n "$a0" ] && [ -n "$a2" ] && [ -n "$s2" ]; then
		extra mem_stacks "$s2"
		extra mem_agent_bytes_stacks "$a2"
		extra mem_per_stack_with_buffer "$(awk -v a="$a2" -v a0="$a0" -v s="$s2" -v s0="$s0" \
			'BEGIN{printf "%.0f", (a - a0) / (s - s0)}')"
		# Without the buffer: from a refresh, whose buffer is cut back to
		# its answer (a full answer is sent in pieces through less).
		a2i=$(kv agent_bytes "$OUT/snap-100k.txt" incremental)
		y2i=$(kv bytes "$OUT/snap-100k.txt" incremental)
		extra mem_per_stack "$(awk -v a="$a2i" -v a0="$a0" -v s="$s2" -v s0="$s0" \
			-v c="$(snapbuf "$y2i")" -v c0="$(snapbuf "$y0")" \
			'BEGIN{printf "%.0f", ((a - c) - (a0 - c0)) / (s - s0)}')"
		extra snap_full_ms "$(kv ms "$OUT/snap-100k.txt" full)"
		extra snap_full_bytes "$y2"
		extra snap_inc_ms "$(kv ms_median "$OUT/snap-100k.txt" incremental)"
		extra snap_inc_ms_max "$(kv ms_max "$OUT/snap-100k.txt" incremental)"
		extra snap_inc_bytes "$(kv bytes "$OUT/snap-100k.txt" incremental)"
	fi
	for g in line traceback traceback_diff lines lines_diff; do
		f=$OUT/refresh-$g.txt
		extra "refresh_${g}_first_cpu_ms" "$(kv cpu_ms "$f" first)"
		extra "refresh_${g}_cpu_ms" "$(kv cpu_ms_median "$f" refresh)"
		extra "refresh_${g}_wall_ms" "$(kv wall_ms_median "$f" refresh)"
		extra "refresh_${g}_rows" "$(kv rows "$f" refresh)"
		extra "refresh_${g}_cpu_ms_max" "$(kv cpu_ms_max "$f" refresh)"
		extra "refresh_${g}_model_ms" "$(kv model_ms_median "$f" refresh)"
	done
	# Stacks and agent memory of each workload, from its live-at-exit file.
	for wl in "${ran_wl[@]}"; do
		wl_setup "$wl"
		rm -f "$OUT/final.snap"
		mode_env "$AGENT"
		"${MODE_ENV[@]}" HEAPTOP_FINAL="$OUT/final.snap" "${WL_CMD[@]}" </dev/null >"$LOG" 2>&1
		"$B/bench_snap" --file "$OUT/final.snap" >"$OUT/final-$wl.txt" 2>&1 || continue
		y=$(kv bytes "$OUT/final-$wl.txt" final)
		a=$(kv agent_bytes "$OUT/final-$wl.txt" final)
		extra "final_${wl}_stacks" "$(kv stacks "$OUT/final-$wl.txt" final)"
		extra "final_${wl}_peak" "$(kv peak_bytes "$OUT/final-$wl.txt" final)"
		extra "final_${wl}_allocs" "$(kv allocs "$OUT/final-$wl.txt" final)"
		extra "final_${wl}_agent" "$a"
		# The file goes out through a 1 MiB buffer (FILE_BUF in
		# src/agent/snapshot.c), mapped while GLOBALS is encoded.
		extra "final_${wl}_tables" "$((a - 1048576))"
	done
	rm -f "$OUT/final.snap"
	# First symbolization of 100 000 addresses: the C library (with its
	# separate debug file when libc6-dbg is installed) and a C++ binary.
	libc=$(ldd "$B/bench_sites" 2>/dev/null | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')
	i=0
	for f in $libc "$(command -v cppcheck)"; do
		[ -f "$f" ] || continue
		i=$((i + 1))
		"$B/bench_symbolizer" "$f" 100000 >"$OUT/sym-$i.txt" 2>&1 || continue
		extra "sym${i}_file" "$f"
		extra "sym${i}_addresses" "$(sed -n 's/.*: \([0-9]*\) distinct addresses.*/\1/p' "$OUT/sym-$i.txt")"
		extra "sym${i}_lined" "$(sed -n 's/.*, \([0-9]*\) with a line.*/\1/p' "$OUT/sym-$i.txt")"
		extra "sym${i}_first_s" "$(sed -n 's/^first lookups: \([0-9.]*\) s.*/\1/p' "$OUT/sym-$i.txt")"
		extra "sym${i}_cached_ns" "$(sed -n 's/^cached lookups: .* = \([0-9.]*\) ns.*/\1/p' "$OUT/sym-$i.txt")"
	done
fi

# --- the report ---------------------------------------------------------------
elapsed=$(($(date +%s) - started))
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
debian=$(cat /etc/debian_version 2>/dev/null || echo unknown)
ht_version=$( [ "$HAVE_HEAPTRACK" = 1 ] && heaptrack --version 2>/dev/null | head -n 1 || echo "not installed")
commit=${BENCH_COMMIT:-$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)}
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "meta rounds $ROUNDS"
	echo "meta machine $(nproc) cores, $cpu_model, Linux $(uname -r), Debian $debian"
	echo "meta heaptrack $ht_version"
	echo "meta commit $commit"
	echo "meta elapsed $elapsed"
	echo "meta load $load_start at the start, $load_end at the end"
	echo "meta out $OUT"
	echo "meta fp_ok $FP_OK"
	echo "meta have_heaptrack $HAVE_HEAPTRACK"
	for wl in "${ran_wl[@]}"; do
		wl_setup "$wl"
		echo "desc $wl $WL_DESC"
	done
} >"$OUT/meta.txt"
report "$OUT" | tee "$OUT/report.md"
note "results in $OUT (report.md, results.txt, extras.txt, logs); suite time ${elapsed}s"
exit 0
