#!/bin/bash
# heaptop list: this user's traced processes, each with pid, start time and
# command; sockets left by processes that died are cleaned up; an empty
# directory (or none) gives only the header.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

# heaptop list and the agent agree on the directory through XDG_RUNTIME_DIR.
export XDG_RUNTIME_DIR=$HT_TMP/xdg
mkdir -m 700 "$XDG_RUNTIME_DIR"
out=$("$HT_HEAPTOP" list)
expect_eq "list with no agent" "$out" "$(printf '%7s  %-19s  %s' PID STARTED COMMAND)"

wl_start HEAPTOP_SOCKET= "$HT_WORKLOADS/wl_mark"
wl_ready
sock=$XDG_RUNTIME_DIR/heaptop/$WL_PID.sock
expect_true "the agent listens in XDG_RUNTIME_DIR" [ -S "$sock" ]
# A socket whose process is gone: 2^22 is above any pid this kernel gives.
touch "$XDG_RUNTIME_DIR/heaptop/4194304.sock"
out=$("$HT_HEAPTOP" list)
echo "$out"
line=$(echo "$out" | awk -v p="$WL_PID" '$1 == p')
expect_eq "the workload is listed with its command" "$(echo "$line" | awk '{print $4}')" \
	"$HT_WORKLOADS/wl_mark"
expect_true "its start time is today's" grep -q "$(date +%Y-%m-%d)" <<<"$line"
expect_eq "rows besides the header" "$(echo "$out" | wc -l)" 2
expect_true "a dead process's socket is removed" [ ! -e "$XDG_RUNTIME_DIR/heaptop/4194304.sock" ]
rc=0
err=$("$HT_HEAPTOP" list extra 2>&1 >/dev/null) || rc=$?
expect_eq "list with an argument" "$err / $rc" "heaptop: list takes no arguments / 2"
wl_continue
wl_ready
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_mark exit status" "$rc" 0
check_failed && exit 1
exit 0
