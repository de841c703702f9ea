#!/bin/bash
# The agent's socket: where it goes (HEAPTOP_SOCKET, $XDG_RUNTIME_DIR/heaptop,
# /tmp/heaptop-UID) in a directory of mode 0700 owned by the user; clients
# that send garbage or an oversized frame lose their connection but the
# agent serves the next one; a client that never reads does not slow the
# target down; two clients at once; the socket file is gone after exit.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_basic
client=$HT_WORKLOADS/wl_sockclient
uid=$(id -u)

# served SOCKET WHAT: a snapshot can be taken through SOCKET right now.
served() {
	local out=$HT_TMP/served.txt
	if snap "$out" --socket "$1" --wait 5 --by-site >/dev/null; then
		expect_eq "$2: site_malloc through the socket" "$(site_live site_malloc "$out")" 10000/10
	else
		expect_eq "$2: ht-snapshot exit status" 1 0
	fi
}

# dir_ok DIR WHAT: DIR is mode 700 and owned by us.
dir_ok() {
	expect_eq "$2: mode and owner of $1" "$(stat -c '%a %u' "$1")" "700 $uid"
}

# hold_run [ENV...]: start wl_basic hold with ENV, wait for its ready line.
hold_run() {
	wl_start "$@" "$wl" hold
	wl_ready
}

# hold_end: let wl_basic finish, check its exit status.
hold_end() {
	local rc=0
	wl_continue
	wl_ready
	wl_continue
	wl_finish || rc=$?
	expect_eq "wl_basic exit status" "$rc" 0
}

echo "== default place: \$XDG_RUNTIME_DIR/heaptop/PID.sock"
mkdir -m 700 "$HT_TMP/xdg"
hold_run HEAPTOP_SOCKET= XDG_RUNTIME_DIR="$HT_TMP/xdg"
sock=$HT_TMP/xdg/heaptop/$WL_PID.sock
expect_true "socket at $sock" test -S "$sock"
dir_ok "$HT_TMP/xdg/heaptop" xdg
served "$sock" xdg
out=$HT_TMP/by-pid.txt
if XDG_RUNTIME_DIR=$HT_TMP/xdg snap "$out" --pid "$WL_PID" --wait 5 --by-site >/dev/null; then
	expect_eq "xdg: ht-snapshot --pid finds it" "$(header_field pid "$out")" "$WL_PID"
else
	expect_eq "xdg: ht-snapshot --pid exit status" 1 0
fi
hold_end
expect_true "xdg: socket removed at exit" test ! -e "$sock"

echo "== fallback: /tmp/heaptop-UID/PID.sock"
hold_run HEAPTOP_SOCKET= XDG_RUNTIME_DIR=
sock=/tmp/heaptop-$uid/$WL_PID.sock
expect_true "socket at $sock" test -S "$sock"
dir_ok "/tmp/heaptop-$uid" tmp
served "$sock" tmp
hold_end
expect_true "tmp: socket removed at exit" test ! -e "$sock"

echo "== HEAPTOP_SOCKET without %p"
hold_run HEAPTOP_SOCKET="$HT_TMP/fixed.sock"
expect_true "socket at fixed.sock" test -S "$HT_TMP/fixed.sock"
served "$HT_TMP/fixed.sock" fixed
hold_end
expect_true "fixed: socket removed at exit" test ! -e "$HT_TMP/fixed.sock"

echo "== the agent's descriptors stay out of the program's way"
# Its socket sits high (992 with the usual limit of 1024): the program's
# own descriptors get the numbers they get without the agent.
plain=$("$wl" fds)
rc=0
run_traced "$wl" fds >"$HT_TMP/fds.txt" || rc=$?
expect_eq "fds: exit status" "$rc" 0
expect_eq "open descriptors below 900, with the agent as without" "$(cat "$HT_TMP/fds.txt")" "$plain"

echo "== a relative HEAPTOP_SOCKET and HEAPTOP_FINAL, and files that are not the agent's"
# The program changes directory before it exits: the agent removes its own
# socket, not a file of the same name in the new directory, and writes the
# live-at-exit file where the program started; and it never removes a file
# in the socket's place that is not a socket.
mkdir -p "$HT_TMP/rel" "$HT_TMP/rel/jail"
echo precious >"$HT_TMP/rel/jail/agent.sock"
rc=0
(cd "$HT_TMP/rel" && run_traced HEAPTOP_SOCKET=agent.sock HEAPTOP_FINAL=final.snap "$wl" chdir jail) ||
	rc=$?
expect_eq "relative socket: exit status" "$rc" 0
expect_true "relative HEAPTOP_FINAL: written where the program started" test -s "$HT_TMP/rel/final.snap"
expect_true "relative HEAPTOP_FINAL: not where it ended" test ! -e "$HT_TMP/rel/jail/final.snap"
expect_eq "relative socket: the other directory's file kept" \
	"$(cat "$HT_TMP/rel/jail/agent.sock" 2>/dev/null || echo gone)" precious
expect_true "relative socket: its own file removed" test ! -e "$HT_TMP/rel/agent.sock"
echo precious >"$HT_TMP/rel/taken.sock"
rc=0
run_traced HEAPTOP_SOCKET="$HT_TMP/rel/taken.sock" "$wl" exit || rc=$?
expect_eq "a regular file in the socket's place: exit status" "$rc" 0
expect_eq "a regular file in the socket's place: kept" \
	"$(cat "$HT_TMP/rel/taken.sock" 2>/dev/null || echo gone)" precious

echo "== HEAPTOP_SOCKET with %p; bad clients; two clients at once"
hold_run HEAPTOP_SOCKET="$HT_TMP/custom-%p.sock"
sock=$HT_TMP/custom-$WL_PID.sock
expect_true "socket at custom-PID.sock" test -S "$sock"
served "$sock" custom
expect_true "garbage: connection closed" timeout 20 "$client" garbage "$sock"
served "$sock" "after garbage"
expect_true "oversized frame: connection closed" timeout 20 "$client" oversized "$sock"
served "$sock" "after oversized"
timeout 60 "$HT_SNAPSHOT" --socket "$sock" --count 20 --interval-ms 20 >"$HT_TMP/c1.txt" &
c1=$!
timeout 60 "$HT_SNAPSHOT" --socket "$sock" --count 20 --interval-ms 20 >"$HT_TMP/c2.txt" &
c2=$!
rc1=0; wait "$c1" || rc1=$?
rc2=0; wait "$c2" || rc2=$?
expect_eq "two clients: first exit status" "$rc1" 0
expect_eq "two clients: second exit status" "$rc2" 0
expect_eq "two clients: first got 20 snapshots" "$(grep -c '^snapshot ' "$HT_TMP/c1.txt")" 20
expect_eq "two clients: second got 20 snapshots" "$(grep -c '^snapshot ' "$HT_TMP/c2.txt")" 20
hold_end
expect_true "custom: socket removed at exit" test ! -e "$sock"

echo "== a client that never reads while the target allocates for 16 s"
# The agent drops a client that takes no bytes for a while (10 s, see
# STALL_MS in src/agent/server.c); meanwhile it serves others and never
# makes the target wait.
start=$SECONDS
wl_start "$wl" churn 16
wl_ready
sock=$(sock_of "$WL_PID")
timeout 60 "$client" stall "$sock" 14 >"$HT_TMP/stall.txt" &
staller=$!
sleep 1
rc=0
snap "$HT_TMP/during-stall.txt" --socket "$sock" --by-site --timeout-ms 5000 >/dev/null || rc=$?
expect_eq "another client is served while one stalls" "$rc" 0
rc=0
wait "$staller" || rc=$?
cat "$HT_TMP/stall.txt"
expect_eq "stalled client exit status" "$rc" 0
expect_true "the stalled client was dropped within 14 s" grep -q '^dropped by the agent' "$HT_TMP/stall.txt"
rc=0
snap "$HT_TMP/after-stall.txt" --socket "$sock" --by-site --timeout-ms 5000 >/dev/null || rc=$?
expect_eq "a client is served after the drop" "$rc" 0
rc=0
wl_finish || rc=$?
elapsed=$((SECONDS - start))
expect_eq "churn exit status" "$rc" 0
expect_le "seconds for a 16 s run with a stalled client" "$elapsed" 20
expect_true "socket removed at exit" test ! -e "$sock"
