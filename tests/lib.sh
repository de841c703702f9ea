# Helpers shared by the integration tests (bash).  A test starts with
#
#     #!/bin/bash
#     set -euo pipefail
#     . "$top_srcdir/tests/lib.sh"
#
# `make check` exports top_srcdir, top_builddir and HEAPTOP_AGENT (see
# TESTS_ENVIRONMENT in Makefile.am); run by hand from the build directory,
# `top_srcdir=/path/to/src tests/agent-basic.sh` is enough.
#
# Conventions:
#   - every test gets its own temporary directory $HT_TMP, removed on exit
#     (set HEAPTOP_TEST_KEEP=1 to keep it for a post-mortem);
#   - traced programs put their socket at $HT_TMP/PID.sock and their
#     live-at-exit snapshot at $HT_TMP/final-PID.snap;
#   - expect_eq and friends print what they compare and record a failure
#     without stopping the test; the test then exits 1 at the end;
#   - fail stops at once; skip exits 77, only for a missing external tool.

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
HEAPTOP_AGENT=${HEAPTOP_AGENT:-$top_builddir/.libs/libheaptop.so}
HT_SNAPSHOT=$top_builddir/tests/tools/ht-snapshot
HT_WORKLOADS=$top_builddir/tests/workloads
HT_HEAPTOP=$top_builddir/heaptop
HT_TIMEOUT=${HT_TIMEOUT:-60}   # seconds any one traced program may run
HT_FAILURES=0
HT_JOBS=()                     # background jobs to end if the test dies
HT_FDS=()                      # fifo ends held by this shell

# Settings from the caller's environment must not leak into traced programs.
for ht_v in $(compgen -e); do
	case $ht_v in
	HEAPTOP_AGENT | HEAPTOP_TEST_KEEP) ;;
	HEAPTOP_*) unset "$ht_v" ;;
	esac
done

# Stop the test: it failed.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Stop the test: a tool it needs from outside this project is missing.
skip() {
	echo "SKIP: $*"
	exit 77
}

# Skip unless every named command exists.
require_tool() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

ht_cleanup() {
	local rc=$? pid
	for pid in "${HT_JOBS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [ "${HEAPTOP_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $HT_TMP"
	else
		rm -rf "$HT_TMP"
	fi
	if [ "$rc" -eq 0 ] && [ "$HT_FAILURES" -gt 0 ]; then
		echo "$HT_FAILURES check(s) failed"
		rc=1
	fi
	exit "$rc"
}

# Socket paths must fit in sun_path (108 bytes): fall back to /tmp when
# $TMPDIR is long.
ht_tmp_base=${TMPDIR:-/tmp}
[ ${#ht_tmp_base} -le 48 ] || ht_tmp_base=/tmp
HT_TMP=$(mktemp -d "$ht_tmp_base/heaptop-test.XXXXXX")
trap ht_cleanup EXIT
trap 'exit 130' INT TERM HUP

[ -f "$HEAPTOP_AGENT" ] || fail "the agent is not built: $HEAPTOP_AGENT"
[ -x "$HT_SNAPSHOT" ] || fail "ht-snapshot is not built: $HT_SNAPSHOT"

# --- comparing -------------------------------------------------------------

# expect_eq NAME ACTUAL EXPECTED: print the comparison, count a mismatch.
expect_eq() {
	if [ "$2" = "$3" ]; then
		echo "ok   $1 = $2"
	else
		echo "FAIL $1 = $2, expected $3"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# expect_le NAME ACTUAL MAX / expect_ge NAME ACTUAL MIN: integer bounds.
expect_le() {
	if [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -le "$3" ]; then
		echo "ok   $1 = $2 (at most $3)"
	else
		echo "FAIL $1 = $2, expected at most $3"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}
expect_ge() {
	if [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -ge "$3" ]; then
		echo "ok   $1 = $2 (at least $3)"
	else
		echo "FAIL $1 = $2, expected at least $3"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# expect_true NAME COMMAND...: the command must succeed.
expect_true() {
	local name=$1
	shift
	if "$@"; then
		echo "ok   $name"
	else
		echo "FAIL $name (command failed: $*)"
		HT_FAILURES=$((HT_FAILURES + 1))
	fi
}

# shared_lib NAME: the path of shared library NAME (libjemalloc.so.2) from
# the loader's cache, or nothing.  Reads all of ldconfig's output, so that
# it cannot die of SIGPIPE under pipefail.
shared_lib() {
	ldconfig -p | awk -v n="$1" '$1 == n && !f { print $NF; f = 1 }'
}

# within NAME ESTIMATE TRUE PERCENT: a sampled estimate, |ESTIMATE - TRUE|
# at most PERCENT% of TRUE.
within() {
	if ! [[ $2 =~ ^[0-9]+$ ]]; then
		echo "FAIL $1: no estimate ('$2'), expected $3 within $4%"
		HT_FAILURES=$((HT_FAILURES + 1))
		return
	fi
	local err=$(($2 > $3 ? $2 - $3 : $3 - $2))
	expect_true "$1: estimate $2 within $4% of $3 (off by $((err * 1000 / $3 / 10)).$((err * 1000 / $3 % 10))%)" \
		[ $((err * 100)) -le $(($3 * $4)) ]
}

# check_failed: whether any expectation failed so far.
check_failed() {
	[ "$HT_FAILURES" -gt 0 ]
}

# --- reading ht-snapshot output ------------------------------------------

# kv_field FIELD: from one line on stdin, print the value of FIELD=VALUE.
kv_field() {
	awk -v f="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "=");
		if (n > 0 && substr($i, 1, n - 1) == f) { print substr($i, n + 1); exit } } }'
}

# site_field SITE FIELD FILE: FIELD of the "site SITE ..." line of FILE
# (output of ht-snapshot --by-site), or "missing" when there is no such site.
site_field() {
	local v
	v=$(awk -v s="$1" '$1 == "site" && $2 == s' "$3" | head -n 1 | kv_field "$2")
	echo "${v:-missing}"
}

# site_live SITE FILE: "BYTES/BLOCKS" live at SITE, "0/0" when it is absent.
site_live() {
	local b n
	b=$(site_field "$1" live_bytes "$2")
	n=$(site_field "$1" live_blocks "$2")
	[ "$b" = missing ] && b=0
	[ "$n" = missing ] && n=0
	echo "$b/$n"
}

# site_total SITE FILE: "BYTES/BLOCKS" ever allocated at SITE.
site_total() {
	echo "$(site_field "$1" total_bytes "$2")/$(site_field "$1" total_blocks "$2")"
}

# globals_field FIELD FILE / header_field FIELD FILE: from the "globals" /
# "snapshot" line.
globals_field() {
	awk '$1 == "globals"' "$2" | head -n 1 | kv_field "$1"
}
header_field() {
	awk '$1 == "snapshot"' "$2" | head -n 1 | kv_field "$1"
}

# stack_sum FUNC FIELD FILE: sum of FIELD over the "stack" lines of FILE
# (ht-snapshot without --by-site) that have FUNC among their frames.
stack_sum() {
	awk -v fn="$1" -v f="$2" '
		$1 != "stack" { next }
		{
			i = index($0, " frames=")
			if (i == 0) next
			n = split(substr($0, i + 8), fr, ";")
			hit = 0
			for (k = 1; k <= n; k++) {
				name = fr[k]
				sub(/[ +(].*$/, "", name)
				if (name == fn) hit = 1
			}
			if (!hit) next
			# counters come before " site=", whose value may hold spaces
			n = split(substr($0, 1, index($0, " site=")), kv, " ")
			for (k = 2; k <= n; k++) {
				m = index(kv[k], "=")
				if (m > 0 && substr(kv[k], 1, m - 1) == f) sum += substr(kv[k], m + 1)
			}
		}
		END { print sum + 0 }' "$3"
}

# stack_live FUNC FILE: "BYTES/BLOCKS" live in stacks through FUNC.
stack_live() {
	echo "$(stack_sum "$1" live_bytes "$2")/$(stack_sum "$1" live_blocks "$2")"
}
stack_total() {
	echo "$(stack_sum "$1" total_bytes "$2")/$(stack_sum "$1" total_blocks "$2")"
}

# --- running programs under the agent ---------------------------------------

# The environment a traced program gets, one NAME=VALUE a line.
ht_agent_env() {
	echo "LD_PRELOAD=$HEAPTOP_AGENT"
	echo "HEAPTOP_SOCKET=$HT_TMP/%p.sock"
	echo "HEAPTOP_FINAL=$HT_TMP/final-%p.snap"
}

# sock_of PID / final_of PID: where a traced program puts its files.
sock_of() { echo "$HT_TMP/$1.sock"; }
final_of() { echo "$HT_TMP/final-$1.snap"; }

# ht_exec_cmd PIDFILE [NAME=VALUE...] CMD...: the argv that runs CMD traced,
# under `timeout`, writing the pid CMD will have to PIDFILE.  NAME=VALUE
# words set or override the environment (NAME= alone removes NAME).
ht_exec_cmd() {
	local pidfile=$1 envs=() keep=() unset=() name kv
	shift
	mapfile -t envs < <(ht_agent_env)
	while [ $# -gt 0 ] && [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
		name=${1%%=*}
		keep=()
		for kv in "${envs[@]}"; do
			[ "${kv%%=*}" = "$name" ] || keep+=("$kv")
		done
		envs=("${keep[@]}")
		if [ "$1" = "$name=" ]; then
			unset+=(-u "$name")
		else
			envs+=("$1")
		fi
		shift
	done
	# sh records its own pid, then execs env, which execs CMD: same pid.
	HT_CMD=(timeout -k 5 "$HT_TIMEOUT" sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile"
		env "${unset[@]}" "${envs[@]}" "$@")
}

# run_traced [NAME=VALUE...] CMD...: run CMD in the foreground under the
# agent and return its exit status; RUN_PID is its pid afterwards.
run_traced() {
	local pidfile=$HT_TMP/run.pid rc=0
	rm -f "$pidfile"
	ht_exec_cmd "$pidfile" "$@"
	"${HT_CMD[@]}" || rc=$?
	RUN_PID=$(cat "$pidfile" 2>/dev/null || echo 0)
	[ "$rc" -ne 124 ] || echo "timed out after $HT_TIMEOUT s: $*" >&2
	return "$rc"
}

# wl_start [NAME=VALUE...] CMD...: start an interactive workload under the
# agent in the background, its stdin and stdout on fifos.  Sets WL_IN (fd
# to write lines to it), WL_OUT (fd to read its lines), WL_JOB (the job to
# wait for) and WL_PID (its pid).  One at a time per test unless the
# variables are saved by the caller.
HT_WL_COUNT=0
wl_start() {
	HT_WL_COUNT=$((HT_WL_COUNT + 1))
	local in=$HT_TMP/wl$HT_WL_COUNT.in out=$HT_TMP/wl$HT_WL_COUNT.out
	local pidfile=$HT_TMP/wl$HT_WL_COUNT.pid i
	mkfifo "$in" "$out"
	ht_exec_cmd "$pidfile" "$@"
	# The new job must not hold the fifo ends of earlier workloads open.
	(
		for fd in "${HT_FDS[@]}"; do
			exec {fd}>&-
		done
		exec "${HT_CMD[@]}"
	) <"$in" >"$out" &
	WL_JOB=$!
	HT_JOBS+=("$WL_JOB")
	exec {WL_IN}>"$in"
	exec {WL_OUT}<"$out"
	HT_FDS+=("$WL_IN" "$WL_OUT")
	for i in $(seq 100); do
		[ -s "$pidfile" ] && break
		sleep 0.05
	done
	[ -s "$pidfile" ] || fail "the workload did not start: $*"
	WL_PID=$(cat "$pidfile")
}

# wl_ready [SECONDS]: read the workload's next line, which must start with
# "ready"; READY_LINE is that line.  Fails the test otherwise.
wl_ready() {
	READY_LINE=
	if ! IFS= read -r -t "${1:-$HT_TIMEOUT}" -u "$WL_OUT" READY_LINE; then
		fail "no ready line from the workload (pid $WL_PID)"
	fi
	echo "workload: $READY_LINE"
	case $READY_LINE in
	ready*) ;;
	*) fail "expected a ready line, got: $READY_LINE" ;;
	esac
}

# wl_continue: let the workload go on past its ready point.
wl_continue() {
	echo >&"$WL_IN"
}

# wl_finish: close the workload's stdin and wait for it; returns its exit
# status (124: killed by the timeout).
wl_finish() {
	local rc=0 line
	exec {WL_IN}>&-
	while IFS= read -r -t "$HT_TIMEOUT" -u "$WL_OUT" line; do
		echo "workload: $line"
	done
	wait "$WL_JOB" || rc=$?
	exec {WL_OUT}<&-
	return "$rc"
}

# --- snapshots ---------------------------------------------------------------

# snap OUT ARGS...: run ht-snapshot with ARGS into OUT and show it in the log.
snap() {
	local out=$1 rc=0
	shift
	timeout -k 5 "$HT_TIMEOUT" "$HT_SNAPSHOT" "$@" >"$out" || rc=$?
	echo "--- ht-snapshot $* (exit $rc)"
	sed 's/^/  | /' "$out"
	return "$rc"
}

# snap_live PID OUT [ARGS...]: per-site snapshot through PID's socket.
snap_live() {
	local pid=$1 out=$2
	shift 2
	snap "$out" --socket "$(sock_of "$pid")" --wait 10 --by-site "$@"
}

# snap_final PID OUT [ARGS...]: per-site view of PID's live-at-exit file.
snap_final() {
	local pid=$1 out=$2
	shift 2
	[ -f "$(final_of "$pid")" ] || fail "no live-at-exit file for pid $pid: $(final_of "$pid")"
	snap "$out" --file "$(final_of "$pid")" --by-site "$@"
}
