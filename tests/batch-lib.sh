# Helpers of the batch-*.sh tests, sourced after lib.sh:
#
#     . "$top_srcdir/tests/lib.sh"
#     . "$top_srcdir/tests/batch-lib.sh"
#
# The workloads' lines are found by their marker comments (line_of), never
# written down as numbers, so editing a workload does not break the tests.

WL_BATCH=$HT_WORKLOADS/wl_batch
WL_SRC=$top_srcdir/tests/workloads

# A Python for reading JSON: the system's if there is one.
if [ -x /usr/bin/python3 ]; then
	HT_PYTHON=/usr/bin/python3
else
	HT_PYTHON=$(command -v python3 || true)
fi

# No configuration file of the user's: each test writes its own.
export XDG_CONFIG_HOME=$HT_TMP/no-config

[ -x "$HT_HEAPTOP" ] || fail "heaptop is not built: $HT_HEAPTOP"
[ -x "$WL_BATCH" ] || fail "wl_batch is not built: $WL_BATCH"

# line_of MARKER [FILE]: the number of the line of FILE (default
# wl_batch.c, in tests/workloads) that ends with the comment "/* @MARKER */"
# or "// @MARKER".
line_of() {
	local file=$WL_SRC/${2:-wl_batch.c} n
	n=$(grep -n -E -- "(/\* @$1 \*/|// @$1)\$" "$file" | cut -d: -f1)
	[[ $n =~ ^[0-9]+$ ]] || fail "no single marker @$1 in $file"
	echo "$n"
}

# Lines of wl_batch's sites that every batch test refers to.
A=$(line_of site_a)
B=$(line_of site_b)
C=$(line_of site_c)
R=$(line_of recurse_alloc)
S=$(line_of site_strdup)
XM=$(line_of xmalloc wl_batch_util.c)
UA=$(line_of util_alloc wl_batch_util.c)
UC=$(line_of util_calloc wl_batch_util.c)

# The rows of wl_batch's live-at-exit table in the pretty format (the
# default -l 10 shows all eight).
WL_BATCH_PRETTY_ROWS="#1: workloads/wl_batch.c:$A: 16.0 KiB
    wl_hold(malloc(4096)); /* @site_a */
#2: workloads/wl_batch.c:$C: 7.8 KiB
    wl_hold(malloc(8000)); /* @site_c */
#3: workloads/wl_batch_util.c:$XM: 5.8 KiB
    void *p = malloc(n); /* @xmalloc */
#4: workloads/wl_batch_util.c:$UA: 3.1 KiB
    wl_hold(malloc(640)); /* @util_alloc */
#5: workloads/wl_batch_util.c:$UC: 1.8 KiB
    wl_hold(calloc(1, 900)); /* @util_calloc */
#6: workloads/wl_batch.c:$R: 1.0 KiB
    wl_hold(malloc(256)); /* @recurse_alloc */
#7: workloads/wl_batch.c:$B: 1.0 KiB
    wl_hold(malloc(100)); /* @site_b */
#8: workloads/wl_batch.c:$S: 0.3 KiB
    wl_hold(strdup(text)); /* @site_strdup */"

# ht_run OUT [ARGS...]: run heaptop ARGS (under timeout) with its stdout in
# OUT and its stderr in OUT.err, show both in the log, and set HT_RC to its
# exit status.  Never fails by itself: the caller checks HT_RC.
ht_run() {
	local out=$1
	shift
	HT_RC=0
	timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" "$@" >"$out" 2>"$out.err" || HT_RC=$?
	echo "--- heaptop $* (exit $HT_RC)"
	sed 's/^/  | /' "$out"
	sed 's/^/  ! /' "$out.err"
	[ "$HT_RC" -ne 124 ] || echo "timed out after $HT_TIMEOUT s: heaptop $*" >&2
}

# final_table FILE: the table of what was live at exit, in pretty or stats
# format: from its "# live at exit" header to the empty line that ends it.
final_table() {
	awk '/^# live at exit/ { on = 1 } on { print } on && $0 == "" { exit }' "$1"
}

# final_of_run OUT ARGS...: heaptop -b ARGS; the rows of its final table
# (pretty or stats), header and empty line left out.
final_of_run() {
	local out=$1
	shift
	ht_run "$out" -b "$@" >&2
	[ "$HT_RC" -eq 0 ] || echo "heaptop exit status $HT_RC"
	final_table "$out" | sed '1d;$d'
}

# json_final FILE: the JSON line of the table of what was live at exit.
json_final() {
	grep '"final":true' "$1" | tail -n 1
}

# table_count FILE: the tables of a pretty or stats output (header lines).
table_count() {
	grep -c '^# ' "$1" || true
}

# pyjson EXPR [ARG...] < JSON-LINE: evaluate the Python expression EXPR
# with d bound to the parsed object, os, json and sys imported and the ARGs
# in sys.argv[2:]; prints its value (JSON for lists and dicts).
pyjson() {
	[ -n "$HT_PYTHON" ] || skip "python3 is not installed"
	"$HT_PYTHON" -c '
import json, os, sys
d = json.loads(sys.stdin.read())
v = eval(sys.argv[1])
print(json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v)
' "$@"
}

# tm_size BYTES [sign]: Python tracemalloc's _format_size(BYTES, sign), as
# the stats format prints sizes ("8000 B", "16.0 KiB", "+7168 B").
tm_size() {
	awk -v size="$1" -v sign="${2:-}" 'BEGIN {
		split("B KiB MiB GiB TiB", units, " ")
		for (u = 1; u <= 5; u++) {
			a = size < 0 ? -size : size
			if (a < 100 && u != 1) {
				printf(sign ? "%+.1f %s" : "%.1f %s", size, units[u]); exit
			}
			if (a < 10 * 1024 || u == 5) {
				printf(sign ? "%+.0f %s" : "%.0f %s", size, units[u]); exit
			}
			size /= 1024
		}
	}'
}

# expect_text NAME ACTUAL EXPECTED: like expect_eq for multi-line text; on
# a mismatch shows a diff.
expect_text() {
	if [ "$2" = "$3" ]; then
		echo "ok   $1"
		sed 's/^/       /' <<<"$2"
	else
		echo "FAIL $1: differs from what was expected (- expected, + actual):"
		diff -u <(printf '%s\n' "$3") <(printf '%s\n' "$2") | tail -n +3 | sed 's/^/       /' || true
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# expect_match NAME TEXT REGEX: TEXT must match the extended REGEX (bash).
expect_match() {
	if [[ $2 =~ $3 ]]; then
		echo "ok   $1: $2"
	else
		echo "FAIL $1: '$2' does not match /$3/"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# expect_no_match NAME FILE PATTERN: no line of FILE has the fixed PATTERN.
expect_absent() {
	if grep -qF -- "$3" "$2"; then
		echo "FAIL $1: '$3' found in $2"
		HT_FAILURES=$((HT_FAILURES + 1))
	else
		echo "ok   $1: no '$3'"
	fi
}

# expect_present NAME FILE PATTERN: some line of FILE has the fixed PATTERN.
expect_present() {
	if grep -qF -- "$3" "$2"; then
		echo "ok   $1: '$3' found"
	else
		echo "FAIL $1: no '$3' in $2"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# expect_error NAME FILE.err RC-EXPECTED MESSAGE-REGEX: heaptop failed as
# it should: exit status, exactly one line on stderr starting "heaptop: "
# and matching the extended REGEX, nothing on stdout (FILE).
expect_error() {
	local name=$1 out=$2 code=$3 re=$4 lines msg
	expect_eq "$name: exit status" "$HT_RC" "$code"
	lines=$(wc -l <"$out.err")
	msg=$(head -n 1 "$out.err")
	expect_eq "$name: lines on stderr" "$lines" 1
	expect_match "$name: message" "$msg" "^heaptop: $re"
	expect_eq "$name: bytes on stdout" "$(wc -c <"$out")" 0
}
