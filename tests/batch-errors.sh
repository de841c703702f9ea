#!/bin/bash
# Bad input, each a clear error: one line on stderr starting "heaptop: ",
# nothing on stdout, and the exit status heaptop(1) lists: 2 for a usage or
# configuration error (a bad configuration file named by file and line),
# 127 for a program that cannot be started, 1 for a process that cannot be
# reached or a file that cannot be read or written.  Truncated and
# corrupted snapshot files (saved ones and the agent's raw live-at-exit
# file) are refused that way at every length and never crash heaptop.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

# err NAME CODE REGEX ARGS...: heaptop ARGS fails with exit status CODE
# and one line on stderr matching "heaptop: REGEX".
n=0
err() {
	local name=$1 code=$2 re=$3
	shift 3
	n=$((n + 1))
	ht_run "$HT_TMP/err$n.txt" "$@"
	expect_error "$name" "$HT_TMP/err$n.txt" "$code" "$re"
}

echo "== usage errors: exit 2"
err "unknown long option" 2 "unknown option: '--bogus' \\(see heaptop --help\\)\$" --bogus
err "unknown short option" 2 "unknown option: '-z' \\(see heaptop --help\\)\$" -b -z -- "$WL_BATCH" run
err "short option without its value" 2 "option needs a value: '-n' " -b -n
err "long option without its value" 2 "option needs a value: '--limit' " -b --limit
err "abbreviated long option without its value" 2 "option needs a value: '--limit' " -b --lim
err "a value for an option that takes none" 2 "option '--batch' takes no value " --batch=3 -- "$WL_BATCH" run
err "-n 0" 2 "iterations: expected a whole number from 1, got '0' " -b -n 0 -- "$WL_BATCH" run
err "-n x" 2 "iterations: expected a whole number from 1, got 'x' " -b -n x -- "$WL_BATCH" run
err "-l -5" 2 "limit: expected a whole number from 1, got '-5' " -b -l -5 -- "$WL_BATCH" run
err "-d 0" 2 "delay: expected seconds from 0.01 to 86400, got '0' " -b -d 0 -- "$WL_BATCH" run
err "-d soon" 2 "delay: expected seconds from 0.01 to 86400, got 'soon' " -b -d soon -- "$WL_BATCH" run
err "-g bogus" 2 "group-by: expected line, function, file, module or traceback, got 'bogus' " \
	-b -g bogus -- "$WL_BATCH" run
err "-s bogus" 2 "sort: expected size, count, average, allocated or delta, got 'bogus' " \
	-b -s bogus -- "$WL_BATCH" run
err "--format xml" 2 "format: expected pretty, stats or json, got 'xml' " -b --format xml -- "$WL_BATCH" run
err "--depth 0" 2 "depth: expected a whole number from 1 to 256, got '0' " -b --depth 0 -- "$WL_BATCH" run
err "--depth 257" 2 "depth: expected a whole number from 1 to 256, got '257' " -b --depth 257 -- "$WL_BATCH" run
err "--sample 12Q" 2 "sample: expected a size in bytes such as 524288 or 512K, got '12Q' " \
	-b --sample 12Q -- "$WL_BATCH" run
err "--substitute-path without =" 2 "substitute-path: expected FROM=TO, got 'abc' " \
	-b --substitute-path abc -- "$WL_BATCH" run
err "--color sometimes" 2 "color: expected auto, always or never, got 'sometimes' " \
	-b --color sometimes -- "$WL_BATCH" run
err "-p abc" 2 "pid: expected a process id, got 'abc' " -b -p abc
err "-p 0" 2 "pid: expected a process id, got '0' " -b -p 0
err "no program" 2 "no program to run " -b
err "-p and a program" 2 "-p and a program to run exclude each other\$" -b -p 1 -- "$WL_BATCH" run
err "--demo and a program" 2 "--demo and a program to run exclude each other\$" -b --demo -- "$WL_BATCH" run
# The agent of a running process was set up when it started.
err "-p --sample" 2 "-p watches a process whose agent is already set up; --sample applies only to a program heaptop launches " \
	-b --sample 1M -p 1
err "-p then --unwind" 2 "-p watches a process whose agent is already set up; --unwind applies only to a program heaptop launches " \
	-b -p 1 --unwind fp
err "-p --depth" 2 "-p watches a process whose agent is already set up; --depth applies only to a program heaptop launches " -b --depth 8 -p 1
err "-p --output" 2 "-p watches a process whose agent is already set up; --output applies only to a program heaptop launches " -b -p 1 --output x
# ...but a configuration file may set them for the programs it launches.
printf '[agent]\nsample = 512K\ndepth = 32\nunwind = fp\n' >"$HT_TMP/agent.ini"
err "-p with [agent] settings in the configuration" 1 "no heaptop agent at .*is process 1 running with the agent\\?" \
	-b --config "$HT_TMP/agent.ini" -p 1
err "--base without report" 2 "--base belongs to 'heaptop report'\$" -b --base x -- "$WL_BATCH" run
err "report without a file" 2 "report needs a snapshot file\$" report
err "report with two files" 2 "report takes one snapshot file\$" report a b
err "report -p" 2 "report reads a snapshot file; -p and --demo do not apply\$" report -p 1 x
err "report -n" 2 "report prints one table from a file; -n does not apply " report -n 3 x
err "report --diff" 2 "report prints one table from a file; --diff does not apply " report x --diff
err "report --sample" 2 "report prints one table from a file; --sample does not apply " \
	report --sample=4K x
err "list with an argument" 2 "list takes no arguments\$" list x
# The program's own options are its own: heaptop stops at the program.
ht_run "$HT_TMP/progopts.txt" -b --format stats -- "$WL_BATCH" run --bogus
expect_eq "options after the program are the program's" "$HT_RC" 0

echo "== configuration errors: exit 2, FILE:LINE"
conf=$HT_TMP/bad.ini
bad_config() { # NAME LINE REGEX < CONTENTS
	cat >"$conf"
	err "config: $1" 2 "$(sed 's/[.[\*^$()+?{|]/\\&/g' <<<"$conf"):$2: $3" \
		-b --config "$conf" -- "$WL_BATCH" run
}
bad_config "unknown key" 3 "unknown key 'bogus' in \\[view\\]\$" <<'EOF'
[view]
limit = 3
bogus = 1
EOF
# inih reports a section at its first key.
bad_config "unknown section" 5 "unknown section \\[nosuch\\] \\(view, agent, source or \"filter NAME\"\\)\$" <<'EOF'
; comment
[view]
limit = 3
[nosuch]
x = 1
EOF
bad_config "bad value" 5 "limit: expected a whole number from 1, got 'zero'\$" <<'EOF'
[view]
group = line


limit = zero
EOF
bad_config "bad value in [agent]" 2 "depth: expected a whole number from 1 to 256, got '0'\$" <<'EOF'
[agent]
depth = 0
EOF
bad_config "unknown key in a filter" 3 "unknown key 'foo' in \\[filter a\\] \\(include, exclude, skip or enabled\\)\$" <<'EOF'
[filter a]
include = x
foo = y
EOF
bad_config "enabled = maybe" 2 "enabled: expected yes or no, got 'maybe'\$" <<'EOF'
[filter a]
enabled = maybe
EOF
bad_config "a filter without a name" 2 "unknown section \\[filter \\]" <<'EOF'
[filter ]
include = x
EOF
bad_config "syntax error" 2 "syntax error \\(a \\[section\\] or a key = value\\)\$" <<'EOF'
[view]
just words
EOF
bad_config "a section without its ]" 1 "syntax error " <<'EOF'
[view
limit = 3
EOF
bad_config "a syntax error before an unknown key" 3 "syntax error " <<'EOF'
[view]
limit = 3
just words
bogus = 1
EOF
bad_config "an unknown key before a good one" 2 "unknown key 'colour' in \\[view\\]\$" <<'EOF'
[view]
colour = always
delay = 2
EOF
bad_config "two bad values: the first" 2 "limit: expected a whole number from 1, got 'x'\$" <<'EOF'
[view]
limit = x
delay = y
EOF
bad_config "a long comment, then an unknown key" 3 "unknown key 'bogus' in \\[view\\]\$" <<EOF
; $(printf 'x%.0s' $(seq 450))
[view]
bogus = 1
EOF
bad_config "a line too long" 2 "line longer than 198 characters\$" <<EOF
[source]
dir = /$(printf 'a%.0s' $(seq 300))
EOF
bad_config "key before any section" 1 "'limit' before any section \\(\\[view\\], \\[agent\\], \\[source\\] or \\[filter NAME\\]\\)\$" <<'EOF'
limit = 3
EOF
err "config: missing file" 2 "$HT_TMP/missing.ini: No such file or directory\$" \
	-b --config "$HT_TMP/missing.ini" -- "$WL_BATCH" run
mkdir -p "$HT_TMP/xdg/heaptop"
printf '[view]\nsort = sideways\n' >"$HT_TMP/xdg/heaptop/heaptoprc"
n=$((n + 1))
XDG_CONFIG_HOME=$HT_TMP/xdg ht_run "$HT_TMP/err$n.txt" -b -- "$WL_BATCH" run
expect_error "config: the default file, named" "$HT_TMP/err$n.txt" 2 \
	"$HT_TMP/xdg/heaptop/heaptoprc:2: sort: expected size, count, average, allocated or delta, got 'sideways'\$"

err "config: a directory" 2 "$HT_TMP: Is a directory\$" -b --config "$HT_TMP" -- "$WL_BATCH" run
# --help and --version answer whatever the configuration says.
printf '[view]\nlimt = 3\n' >"$HT_TMP/xdg/heaptop/heaptoprc"
for opt in --help -V; do
	n=$((n + 1))
	XDG_CONFIG_HOME=$HT_TMP/xdg ht_run "$HT_TMP/err$n.txt" "$opt"
	expect_eq "$opt despite a bad configuration: exit status" "$HT_RC" 0
	expect_eq "$opt despite a bad configuration: stderr" "$(wc -c <"$HT_TMP/err$n.txt.err")" 0
	expect_match "$opt despite a bad configuration: stdout" "$(head -n 1 "$HT_TMP/err$n.txt")" \
		"^(usage: heaptop |heaptop [0-9])"
done
n=$((n + 1))
XDG_CONFIG_HOME=$HT_TMP/xdg ht_run "$HT_TMP/err$n.txt" -b -- "$WL_BATCH" run
expect_error "config: a typo in the default file" "$HT_TMP/err$n.txt" 2 \
	"$HT_TMP/xdg/heaptop/heaptoprc:2: unknown key 'limt' in \\[view\\]\$"
err "an unknown option before --help" 2 "unknown option: '-z' " -b -z --help

echo "== programs that cannot be started: exit 127"
err "missing program" 127 "cannot run /nonexistent/prog: No such file or directory\$" -b -- /nonexistent/prog
err "program not in PATH" 127 "cannot run no-such-program-heaptop: No such file or directory\$" \
	-b -- no-such-program-heaptop
printf '#!/bin/sh\nexit 0\n' >"$HT_TMP/not-executable"
chmod 644 "$HT_TMP/not-executable"
err "not executable" 127 "cannot run $HT_TMP/not-executable: Permission denied\$" -b -- "$HT_TMP/not-executable"
err "a directory" 127 "cannot run $HT_TMP: Permission denied\$" -b -- "$HT_TMP"
err "--output in a missing directory" 127 "cannot open $HT_TMP/no/such/dir/out.log: No such file or directory\$" \
	-b --output "$HT_TMP/no/such/dir/out.log" -- "$WL_BATCH" run
n=$((n + 1))
HEAPTOP_AGENT=$HT_TMP/no-agent.so ht_run "$HT_TMP/err$n.txt" -b -- "$WL_BATCH" run
expect_error "no agent" "$HT_TMP/err$n.txt" 127 "cannot read the agent $HT_TMP/no-agent.so: No such file or directory\$"

echo "== processes that cannot be reached: exit 1"
sleep 60 &
sleeper=$!
HT_JOBS+=("$sleeper")
# A target killed with SIGKILL leaves its socket behind, and this pid may
# be one such target's, reused: then connecting is refused instead.
err "-p of a process without the agent" 1 \
	"no heaptop agent at [^ ]*/$sleeper\\.sock: (No such file or directory|Connection refused); is process $sleeper running with the agent\\? Start one with: heaptop -- PROGRAM\$" \
	-b -p "$sleeper"
kill "$sleeper"
wait "$sleeper" 2>/dev/null || true
# A pid that is not in use: above the kernel's pid_max.
nopid=$(($(cat /proc/sys/kernel/pid_max) + 1))
err "-p of no process" 1 "no heaptop agent at [^ ]*/$nopid\\.sock: .*is process $nopid running with the agent\\?" \
	-b -p "$nopid"

echo "== a stopped process whose agent takes no more connections: said at once, exit 1"
if [ -n "$HT_PYTHON" ]; then
	wl_start "$WL_BATCH" sleep 60
	wl_ready
	kill -STOP "$WL_PID"
	# Waiting for a snapshot it cannot send: SIGINT ends the wait at once
	# (not after the fetch's 10 s), as it ends heaptop -b anywhere else.
	start=$(date +%s)
	HEAPTOP_SOCKET=$HT_TMP/%p.sock "$HT_HEAPTOP" -b -n 1 -p "$WL_PID" >"$HT_TMP/int.txt" \
		2>"$HT_TMP/int.txt.err" &
	hb=$!
	HT_JOBS+=("$hb")
	sleep 1
	kill -INT "$hb"
	rc=0
	wait "$hb" || rc=$?
	expect_le "SIGINT while a fetch waits: seconds (the fetch waits 10)" "$(($(date +%s) - start))" 4
	expect_eq "SIGINT while a fetch waits: exit status (a watched process)" "$rc" 0
	expect_eq "SIGINT while a fetch waits: nothing said" "$(cat "$HT_TMP/int.txt.err")" ""
	# Connections it never accepts fill its listen queue (16).
	"$HT_PYTHON" -c '
import socket, sys, time
held = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(30)
' "$(sock_of "$WL_PID")" >"$HT_TMP/held.txt" &
	holder=$!
	HT_JOBS+=("$holder")
	for _ in $(seq 100); do
		grep -q holding "$HT_TMP/held.txt" && break
		sleep 0.1
	done
	start=$(date +%s)
	HEAPTOP_SOCKET=$HT_TMP/%p.sock ht_run "$HT_TMP/stopped.txt" -b -n 1 -p "$WL_PID"
	expect_error "a stopped process" "$HT_TMP/stopped.txt" 1 \
		"the agent at $HT_TMP/$WL_PID\\.sock takes no connections \\(is the process stopped\\?\\)"
	expect_le "a stopped process: seconds" "$(($(date +%s) - start))" 5
	kill "$holder" 2>/dev/null || true
	kill -KILL "$WL_PID" 2>/dev/null || true
fi

echo "== a program killed by a signal: 128 + the signal, and why there is no final table"
usr1=$(kill -l USR1)
ht_run "$HT_TMP/signal.txt" -b -- "$WL_BATCH" signal
expect_eq "signal: exit status" "$HT_RC" $((128 + usr1))
expect_match "signal: heaptop's line on stderr" "$(grep '^heaptop: ' "$HT_TMP/signal.txt.err")" \
	"^heaptop: no live-at-exit snapshot: the program was killed by signal $usr1 \\([^)]+\\)(; the last table above is the latest)?\$"
expect_eq "signal: no final table" "$(grep -c '^# live at exit' "$HT_TMP/signal.txt" || true)" 0

echo "== a program that ends without exit(3) or _exit(2): why there is no final table"
ht_run "$HT_TMP/exit_group.txt" -b -- "$HT_WORKLOADS/wl_basic" exit_group
expect_eq "exit_group: exit status" "$HT_RC" 0
expect_match "exit_group: heaptop's line on stderr" "$(grep '^heaptop: ' "$HT_TMP/exit_group.txt.err")" \
	"^heaptop: no live-at-exit snapshot \\(the program wrote none: it ended without exit, quick_exit or _exit \\(as daemon\\(3\\) does\\), or could not create the file\\)\$"

echo "== a program that execs without the agent (env drops LD_PRELOAD): said at the end"
ht_run "$HT_TMP/agentless.txt" -b -d 0.5 -- env -u LD_PRELOAD sleep 2
expect_eq "agentless: exit status" "$HT_RC" 0
expect_match "agentless: heaptop's line on stderr" "$(grep '^heaptop: no live' "$HT_TMP/agentless.txt.err")" \
	"^heaptop: no live-at-exit snapshot \\(the program wrote none: it ran on without the agent, as after an exec that drops LD_PRELOAD; env LD_PRELOAD=\\.\\.\\. replaces heaptop's, set it before heaptop instead\\)\$"

# The same through a shell and env, ending long before the first table
# is due: heaptop reaches the new image when its agent's connection hangs
# up, not at the next table.
ht_run "$HT_TMP/agentless2.txt" -b -d 5 -- sh -c 'sleep 0.3; exec env -u LD_PRELOAD sleep 0.5'
expect_eq "agentless, short: exit status" "$HT_RC" 0
expect_match "agentless, short: heaptop's line on stderr" \
	"$(grep '^heaptop: no live' "$HT_TMP/agentless2.txt.err")" 'it ran on without the agent'

echo "== heaptop -b stopped by SIGINT or SIGTERM: it ends its program and says why there is no final table"
for sig in INT TERM; do
	out=$HT_TMP/stopped-$sig.txt
	"$HT_HEAPTOP" -b -d 1 -- "$HT_WORKLOADS/wl_basic" churn 60 >"$out" 2>"$out.err" &
	hb=$!
	HT_JOBS+=("$hb")
	for _ in $(seq 200); do # up to 20 s for the first table
		grep -q '^# ' "$out" 2>/dev/null && break
		sleep 0.1
	done
	expect_true "SIG$sig: a table before the signal" grep -q '^# ' "$out"
	churner=$(pgrep -P "$hb" || true)
	kill -"$sig" "$hb"
	for _ in $(seq 200); do # up to 20 s to end
		kill -0 "$hb" 2>/dev/null || break
		sleep 0.1
	done
	expect_true "SIG$sig: heaptop ended" sh -c "! kill -0 $hb 2>/dev/null"
	[ -z "$churner" ] || expect_true "SIG$sig: its program ended too" sh -c "! kill -0 $churner 2>/dev/null"
	kill -KILL "$hb" $churner 2>/dev/null || true # when either did not
	rc=0
	wait "$hb" 2>/dev/null || rc=$?
	expect_eq "SIG$sig: heaptop's exit status (it ended the program itself)" "$rc" 0
	term=$(kill -l TERM)
	expect_match "SIG$sig: heaptop's line on stderr" "$(grep '^heaptop: ' "$out.err")" \
		"^heaptop: no live-at-exit snapshot: the program was killed by signal $term \\([^)]+\\); the last table above is the latest\$"
done

echo "== standard output that goes away: heaptop stops and ends its program"
# wl_batch sleep 60 would hold heaptop for a minute if it went on.
start=$(date +%s)
rc=0
timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" -b -d 0.2 -- "$WL_BATCH" sleep 60 2>"$HT_TMP/pipe.err" |
	head -n 1 >"$HT_TMP/pipe.txt" || true
rc=${PIPESTATUS[0]}
expect_eq "a reader that went away (| head -1): exit status" "$rc" 0
expect_le "a reader that went away: seconds (the program sleeps 60)" "$(($(date +%s) - start))" 20
expect_match "a reader that went away: it got the first line" "$(cat "$HT_TMP/pipe.txt")" "^# pid [0-9]+ "
expect_eq "a reader that went away: nothing said" "$(grep -c '^heaptop: ' "$HT_TMP/pipe.err" || true)" 0
if [ -w /dev/full ]; then
	start=$(date +%s)
	rc=0
	timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" -b -d 0.2 -- "$WL_BATCH" sleep 60 >/dev/full \
		2>"$HT_TMP/full.err" || rc=$?
	expect_eq "a full disk (/dev/full): exit status" "$rc" 1
	expect_le "a full disk: seconds (the program sleeps 60)" "$(($(date +%s) - start))" 20
	expect_match "a full disk: message" "$(grep '^heaptop: ' "$HT_TMP/full.err")" \
		"^heaptop: cannot write the tables: No space left on device\$"
	ht_run "$HT_TMP/for-report.txt" -b -o "$HT_TMP/for-report.htsnap" -- "$WL_BATCH" run
	rc=0
	"$HT_HEAPTOP" report "$HT_TMP/for-report.htsnap" >/dev/full 2>"$HT_TMP/report-full.err" || rc=$?
	expect_eq "report to a full disk: exit status" "$rc" 1
	expect_eq "report to a full disk: message" "$(cat "$HT_TMP/report-full.err")" \
		"heaptop: cannot write the tables: No space left on device"
fi
rc=0
timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" -b -- "$WL_BATCH" run >&- 2>"$HT_TMP/closed.err" || rc=$?
expect_eq "standard output closed: exit status" "$rc" 1
expect_eq "standard output closed: message" "$(cat "$HT_TMP/closed.err")" \
	"heaptop: standard output is closed: nowhere to write the tables"

echo "== -o that cannot be written: refused before the program runs, exit 1"
marker=$HT_TMP/saved-ran
err "-o in a missing directory" 1 \
	"cannot save the snapshot: $HT_TMP/no/such/dir/x\\.htsnap: No such file or directory\$" \
	-b -o "$HT_TMP/no/such/dir/x.htsnap" -- sh -c "touch '$marker'"
expect_true "-o in a missing directory: the program never ran" test ! -e "$marker"
err "-o naming a directory" 1 "cannot save the snapshot: $HT_TMP: Is a directory\$" \
	-b -o "$HT_TMP" -- sh -c "touch '$marker'"
expect_true "-o naming a directory: the program never ran" test ! -e "$marker"

echo "== -o whose directory goes during the run: the tables, then exit 1 (the program's own status wins)"
for status in 0 3; do
	out=$HT_TMP/gone-$status.txt
	mkdir -p "$HT_TMP/gone"
	"$HT_HEAPTOP" -b -o "$HT_TMP/gone/x.htsnap" -- sh -c "sleep 1; exit $status" >"$out" 2>"$out.err" &
	hb=$!
	HT_JOBS+=("$hb")
	sleep 0.3 # past heaptop's check, well before the program's end
	rmdir "$HT_TMP/gone"
	rc=0
	wait "$hb" || rc=$?
	sed 's/^/  ! /' "$out.err"
	expect_eq "directory gone, program exits $status: exit status" "$rc" $((status ? status : 1))
	expect_match "directory gone, program exits $status: message" "$(grep '^heaptop: ' "$out.err")" \
		"^heaptop: cannot save the snapshot: $HT_TMP/gone/x\\.htsnap: No such file or directory\$"
	expect_eq "directory gone, program exits $status: the final table is printed" \
		"$(grep -c '^# live at exit' "$out")" 1
done
ht_run "$HT_TMP/good.txt" -b -o "$HT_TMP/good.htsnap" -- "$WL_BATCH" run
expect_eq "a good snapshot saved" "$HT_RC" 0
ht_run "$HT_TMP/report-nosave.txt" report -o "$HT_TMP/no/such/dir/y.htsnap" "$HT_TMP/good.htsnap"
expect_eq "report -o in a missing directory: exit status" "$HT_RC" 1
expect_match "report -o in a missing directory: message" "$(cat "$HT_TMP/report-nosave.txt.err")" \
	"^heaptop: cannot save the snapshot: $HT_TMP/no/such/dir/y\\.htsnap[^ ]*: No such file or directory\$"
expect_eq "report -o in a missing directory: the table is still printed" \
	"$(grep -c '^# live at exit' "$HT_TMP/report-nosave.txt")" 1

echo "== snapshot files that cannot be read: exit 1, FILE: why"
good=$HT_TMP/good.htsnap
size=$(stat -c %s "$good")
err "missing file" 1 "$HT_TMP/missing\\.htsnap: No such file or directory\$" report "$HT_TMP/missing.htsnap"
err "a directory" 1 "$HT_TMP: Is a directory\$" report "$HT_TMP"
: >"$HT_TMP/empty.htsnap"
err "empty file" 1 "$HT_TMP/empty\\.htsnap: empty, not a heaptop snapshot file\$" report "$HT_TMP/empty.htsnap"
printf 'just some text\n' >"$HT_TMP/text.htsnap"
err "a text file" 1 "$HT_TMP/text\\.htsnap: not a heaptop snapshot file\$" report "$HT_TMP/text.htsnap"
head -c 100 "$good" >"$HT_TMP/trunc100.htsnap"
err "truncated (100 bytes)" 1 "$HT_TMP/trunc100\\.htsnap: truncated at byte 100\$" report "$HT_TMP/trunc100.htsnap"
head -c $((size - 1)) "$good" >"$HT_TMP/trunc-1.htsnap"
err "truncated (last byte)" 1 "$HT_TMP/trunc-1\\.htsnap: truncated at byte $((size - 1))\$" \
	report "$HT_TMP/trunc-1.htsnap"
err "--base truncated" 1 "$HT_TMP/trunc100\\.htsnap: truncated at byte 100\$" \
	report --base "$HT_TMP/trunc100.htsnap" "$good"
err "--base missing" 1 "$HT_TMP/missing\\.htsnap: No such file or directory\$" \
	report --base "$HT_TMP/missing.htsnap" "$good"

# corrupt WHAT OUT: a copy of the good snapshot with one field overwritten
# (the layout is documented at the top of src/viewer/snapfile.c).
corrupt() {
	"$HT_PYTHON" - "$good" "$2" "$1" <<'EOF'
import struct, sys
src, dst, what = sys.argv[1:4]
b = bytearray(open(src, "rb").read())
sections, off = {}, 12                      # after magic and version
while off + 12 <= len(b):
    sid, length = struct.unpack_from("<IQ", b, off)
    sections[sid] = (off, length)
    off += 12 + length
    if sid == 4:
        break
info, strings, stacks = (sections[i][0] + 12 for i in (1, 2, 3))
put32 = lambda o, v: struct.pack_into("<I", b, o, v)
if what == "magic": b[0:4] = b"XXXX"
elif what == "version": put32(8, 2)
elif what == "info-length": struct.pack_into("<Q", b, sections[1][0] + 4, 8)
elif what == "section-length": struct.pack_into("<Q", b, sections[2][0] + 4, 1 << 40)
elif what == "exe-length": put32(info + 120, 0xfffffff0)
elif what == "strings-count": put32(strings, 0xffffffff)
elif what == "string-length": put32(strings + 4, 0x7fffffff)
elif what == "stacks-count": put32(stacks, 0xffffffff)
elif what == "nframes": put32(stacks + 4 + 32, 0xffffffff)
elif what == "string-ref": put32(stacks + 4 + 36, 0x00ffffff)
elif what == "no-end": put32(sections[4][0], 77)
else: sys.exit("corrupt: unknown field " + what)
open(dst, "wb").write(b)
EOF
}
while read -r what re; do
	corrupt "$what" "$HT_TMP/bad-$what.htsnap"
	err "corrupted $what" 1 "$HT_TMP/bad-$what\\.htsnap: $re" report "$HT_TMP/bad-$what.htsnap"
done <<'EOF'
magic not a heaptop snapshot file$
version unsupported snapshot version 2 \(this heaptop reads version 1\)$
info-length info section too short at byte [0-9]+$
section-length truncated at byte [0-9]+$
exe-length string too long at byte [0-9]+$
strings-count string count exceeds its section at byte [0-9]+$
string-length string too long at byte [0-9]+$
stacks-count stack count exceeds its section at byte [0-9]+$
nframes frame count out of range at byte [0-9]+$
string-ref string index out of range at byte [0-9]+$
no-end truncated at byte [0-9]+$
EOF

# every_cut FILE NAME STEP: FILE cut at every STEPth length is refused each
# time the same way: exit 1, one line "heaptop: CUT-FILE: ...", nothing on
# stdout.
every_cut() {
	local file=$1 name=$2 step=$3 len total bad=0 cut=$HT_TMP/cut.bin
	total=$(stat -c %s "$file")
	for ((len = 0; len < total; len += step)); do
		head -c "$len" "$file" >"$cut"
		HT_RC=0
		"$HT_HEAPTOP" report "$cut" >"$cut.out" 2>"$cut.err" || HT_RC=$?
		if [ "$HT_RC" -ne 1 ] || [ -s "$cut.out" ] || [ "$(wc -l <"$cut.err")" -ne 1 ] ||
			! grep -q "^heaptop: $cut: " "$cut.err"; then
			bad=$((bad + 1))
			echo "  cut at $len: exit $HT_RC: $(head -c 300 "$cut.err")"
		fi
	done
	expect_eq "$name cut every $step bytes (of $total): not refused cleanly" "$bad" 0
}

# every_flip FILE NAME STEP: FILE with one byte inverted, at every STEPth
# offset, is either read (exit 0, a table) or refused cleanly (exit 1, one
# line "heaptop: FLIPPED-FILE: ..."); never a crash.
every_flip() {
	local file=$1 name=$2 step=$3 total bad=0 refused=0 flip
	total=$(stat -c %s "$file")
	mkdir -p "$HT_TMP/flips"
	"$HT_PYTHON" -c '
import sys
src, step, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = open(src, "rb").read()
for off in range(0, len(b), step):
    c = bytearray(b)
    c[off] ^= 0xff
    open("%s/%06d" % (out, off), "wb").write(c)
' "$file" "$step" "$HT_TMP/flips"
	for flip in "$HT_TMP"/flips/*; do
		HT_RC=0
		timeout -k 5 "$HT_TIMEOUT" "$HT_HEAPTOP" report --format stats "$flip" >"$flip.out" 2>"$flip.err" ||
			HT_RC=$?
		if [ "$HT_RC" -eq 1 ] && [ ! -s "$flip.out" ] && [ "$(wc -l <"$flip.err")" -eq 1 ] &&
			grep -q "^heaptop: $flip: " "$flip.err"; then
			refused=$((refused + 1))
		elif [ "$HT_RC" -eq 0 ] && [ -s "$flip.out" ] && [ ! -s "$flip.err" ]; then
			:
		else
			bad=$((bad + 1))
			echo "  byte ${flip##*/} inverted: exit $HT_RC: $(head -c 300 "$flip.err")"
		fi
	done
	rm -r "$HT_TMP/flips"
	echo "  $name: $refused of $(((total + step - 1) / step)) flips refused, the rest read"
	expect_eq "$name with one byte inverted, every $step bytes (of $total): crashes or unclear errors" "$bad" 0
	expect_ge "$name: flips refused" "$refused" 1
}

every_cut "$good" "snapshot file" 5
every_flip "$good" "snapshot file" 4

echo "== the agent's raw live-at-exit file, truncated and corrupted"
rc=0
run_traced "$WL_BATCH" run >/dev/null 2>&1 || rc=$?
expect_eq "traced run: exit status" "$rc" 0
raw=$(final_of "$RUN_PID")
ht_run "$HT_TMP/raw-ok.txt" report --format stats "$raw"
expect_eq "raw file: read" "$HT_RC" 0
head -c 100 "$raw" >"$HT_TMP/raw100.snap"
err "raw file truncated (100 bytes)" 1 "$HT_TMP/raw100\\.snap: truncated at byte 100\$" report "$HT_TMP/raw100.snap"
cp "$raw" "$HT_TMP/raw-magic.snap"
printf 'XXXX' | dd of="$HT_TMP/raw-magic.snap" bs=1 seek=0 conv=notrunc status=none
err "raw file, bad magic" 1 "$HT_TMP/raw-magic\\.snap: not a heaptop snapshot file\$" report "$HT_TMP/raw-magic.snap"
cp "$raw" "$HT_TMP/raw-length.snap"
printf '\377\377\377\177' | dd of="$HT_TMP/raw-length.snap" bs=1 seek=8 conv=notrunc status=none
err "raw file, a frame's length too large" 1 "$HT_TMP/raw-length\\.snap: .*frame too large" \
	report "$HT_TMP/raw-length.snap"
# (a raw file that reads is symbolized: slower, so fewer flips)
every_cut "$raw" "raw file" 7
every_flip "$raw" "raw file" 29
