#!/bin/bash
# The live view, driven in tmux on wl_live (a growing site, a stable one and
# output on stdout and stderr): the table with source lines, sorting, the
# search and its filter, x, the filter list, grouping, mark and diff (the
# growing site grows), the stack view, pause, the help, writing a snapshot,
# 80x24, the program ending while watched (its status shown, the table
# still browsable), its crash, quitting (the terminal restored, a launched
# program ended, a watched one left running), SIGTERM, a watched process
# that goes away, and the errors that come before the screen (a bad
# configuration, no terminal).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

require_tool tmux

WL=$HT_WORKLOADS/wl_live
[ -x "$HT_HEAPTOP" ] || fail "heaptop is not built: $HT_HEAPTOP"
[ -x "$WL" ] || fail "wl_live is not built: $WL"

TMUX_SOCKET=heaptop-test-$$
PROMPT='ht-prompt$ '
SCREEN=$HT_TMP/screen
STATE=$HT_TMP/state

tm() {
	tmux -L "$TMUX_SOCKET" -f /dev/null "$@"
}

live_cleanup() {
	local rc=$?
	set +e
	tm kill-server >/dev/null 2>&1
	(exit "$rc")
	ht_cleanup
}
trap live_cleanup EXIT

# capture: the pane's text into $SCREEN.
capture() {
	tm capture-pane -p >"$SCREEN" 2>/dev/null || : >"$SCREEN"
}

# wait_screen REGEX [SECONDS]: until the pane shows a line matching REGEX
# (grep -E); shows the pane and returns 1 on timeout.
wait_screen() {
	local re=$1 tenths=$((${2:-15} * 10)) i
	for ((i = 0; i < tenths; i++)); do
		capture
		grep -Eq -- "$re" "$SCREEN" && return 0
		sleep 0.1
	done
	echo "--- the screen, waiting for /$re/:"
	sed 's/^/  | /' "$SCREEN"
	return 1
}

# wait_gone REGEX [SECONDS]: until no line of the pane matches REGEX.
wait_gone() {
	local re=$1 tenths=$((${2:-15} * 10)) i
	for ((i = 0; i < tenths; i++)); do
		capture
		grep -Eq -- "$re" "$SCREEN" || return 0
		sleep 0.1
	done
	echo "--- the screen, waiting for /$re/ to go:"
	sed 's/^/  | /' "$SCREEN"
	return 1
}

# expect_screen NAME REGEX [SECONDS] / expect_gone NAME REGEX [SECONDS]
expect_screen() {
	expect_true "$1" wait_screen "$2" "${3:-15}"
}
expect_gone() {
	expect_true "$1" wait_gone "$2" "${3:-15}"
}

# keys KEY...: type into the pane.
keys() {
	tm send-keys "$@"
}

# run_in_pane ARGS...: type "heaptop ARGS; echo rc=$?" at the shell prompt,
# with the agent, the log directory and a private socket directory set.
run_in_pane() {
	local line
	printf -v line '%q ' env HEAPTOP_AGENT="$HEAPTOP_AGENT" XDG_STATE_HOME="$STATE" \
		HEAPTOP_SOCKET="$HT_TMP/%p.sock" "$HT_HEAPTOP" "$@"
	keys -l "clear; ${line}; echo \"rc=\$?\""
	keys Enter
}

# row NAME: the table line that names NAME, from the last capture.
row() {
	grep -m 1 -- "$1" "$SCREEN" || true
}

# pane_program_pid: the traced program's pid, from the header.
header_pid() {
	sed -n 's/.* pid \([0-9][0-9]*\) .*/\1/p' "$SCREEN" | head -n 1
}

# back_at_prompt NAME: heaptop has gone and the shell's prompt is back on
# the normal screen, with nothing of the table left.
back_at_prompt() {
	expect_screen "$1: rc printed" '^rc=[0-9]+'
	expect_screen "$1: prompt back" '^ht-prompt\$$'
	expect_eq "$1: alternate screen off" "$(tm display-message -p '#{alternate_on}')" 0
	expect_true "$1: no table left" bash -c "! grep -q LOCATION '$SCREEN'"
	expect_true "$1: no sanitizer report" bash -c "! grep -Eq 'Sanitizer|runtime error' '$SCREEN'"
}

# --- errors before the screen ----------------------------------------------

printf '[view]\ndelay = 1\nbogus = 1\n' >"$HT_TMP/bad.rc"
rc=0
"$HT_HEAPTOP" --config "$HT_TMP/bad.rc" -- true 2>"$HT_TMP/err" || rc=$?
cat "$HT_TMP/err"
expect_eq "bad config: exit status" "$rc" 2
expect_true "bad config: file:line: cause" grep -q "^heaptop: $HT_TMP/bad.rc:3: unknown key 'bogus'" "$HT_TMP/err"

printf '[view]\ncolumns = size, nope\n' >"$HT_TMP/bad2.rc"
rc=0
"$HT_HEAPTOP" --config "$HT_TMP/bad2.rc" -- true 2>"$HT_TMP/err" || rc=$?
cat "$HT_TMP/err"
expect_eq "bad columns: exit status" "$rc" 2
expect_true "bad columns: file:line: cause" grep -q "bad2.rc:2: columns: expected" "$HT_TMP/err"

rc=0
"$HT_HEAPTOP" -- true </dev/null >"$HT_TMP/out" 2>"$HT_TMP/err" || rc=$?
cat "$HT_TMP/err"
expect_eq "no terminal: exit status" "$rc" 2
expect_true "no terminal: says so" grep -q "needs a terminal" "$HT_TMP/err"

# --- a shell in tmux ------------------------------------------------------------

tm new-session -d -x 120 -y 40 -c "$HT_TMP" \
	"env -u TMUX PS1='$PROMPT' bash --norc --noprofile -i"
wait_screen "ht-prompt" || fail "no shell prompt in tmux"

# --- the table ------------------------------------------------------------------

run_in_pane -d 0.5 -- "$WL" 100
expect_screen "table: titles" 'SIZE.*COUNT.*LOCATION.*FUNCTION'
expect_screen "table: growing site" 'wl_live\.c:[0-9]+ +grow_site'
expect_screen "table: stable site" 'wl_live\.c:[0-9]+ +stable_site'
expect_screen "table: header" 'Live .* in [0-9]+ blocks.*Peak'
expect_screen "table: source line of the selection" 'malloc\('
PID=$(header_pid)
echo "program pid: $PID"
[[ $PID =~ ^[0-9]+$ ]] || fail "no pid in the header"
expect_true "program output kept off the screen" bash -c "! grep -q 'wl_live noise' '$SCREEN'"

keys p
expect_screen "preview: under the stable site" '^ +char \*p = malloc\(STABLE_BYTES\);'
expect_screen "preview: under the growing site" '^ +struct block \*b = malloc'
keys p

keys s
expect_screen "sort: by count" 'sort count'
keys '>'
expect_screen "sort: >" 'sort average'
keys '<' '<'
expect_screen "sort: <" 'sort size'
keys r
expect_screen "sort: reversed" 'sort size.?\^|sort size▲'
keys r

# --- search, filters, exclude ---------------------------------------------------------

keys /
expect_screen "search: prompt" '^Search:'
keys -l grow
expect_screen "search: typed" '^Search: grow'
expect_gone "search: other rows go" 'stable_site'
expect_screen "search: matching row stays" 'grow_site'
keys Enter
expect_screen "search kept as a filter: badge" 'FILTERS 1'
capture
expect_true "search filter: stable site still hidden" bash -c "! grep -q stable_site '$SCREEN'"

keys f
expect_screen "filter list: the search" '\[x\] search grow'
keys Space
expect_screen "filter list: switched off" '\[ \] search grow'
keys Escape
expect_screen "filter off: stable site back" 'stable_site'
expect_gone "filter off: no badge" 'FILTERS'

keys /
keys -l STABLE
expect_screen "search: any case" 'stable_site'
expect_gone "search: any case, others go" 'grow_site'
keys Escape
expect_screen "search: Esc clears" 'grow_site'

keys / && keys -l grow && keys Escape x
expect_screen "x: filter added" 'exclude function grow_site'
expect_gone "x: the row goes" 'grow_site'
keys f
expect_screen "filter list: the exclusion" 'exclude function grow_site \(added\)'
keys Down Delete
expect_gone "filter list: removed" 'exclude function grow_site'
keys Escape
expect_screen "removed: the row is back" 'grow_site'

# --- grouping ---------------------------------------------------------------------------

keys g
expect_screen "g: function" 'group function'
expect_screen "g: function rows" 'wl_live\.c +grow_site'
keys g
expect_screen "g: file" 'group file'
keys g
expect_screen "g: module" 'group module'
keys g
expect_screen "g: traceback" 'group traceback'
expect_screen "g: traceback rows" 'grow_site \(\+[0-9]+ frames\)'
keys g
expect_screen "g: line again" 'group line'

# --- mark and diff -------------------------------------------------------------------------

keys m
expect_screen "m: mark badge" 'MARK [0-9]{2}:[0-9]{2}:[0-9]{2}'
sleep 2
keys d
expect_screen "d: diff badge" ' DIFF( |$)'
expect_screen "d: delta columns" '.SIZE.*.COUNT.*BORN'
expect_screen "d: sorted by the size change" 'sort .?size'
expect_screen "d: growing site grows" '^ +[0-9.]+ [KM]?i?B +\+[0-9.]+ [KM]?i?B .*grow_site'
capture
first=$(awk 'NR > 4 && /wl_live/ { print; exit }' "$SCREEN")
expect_true "d: growing site first" bash -c "grep -q grow_site <<<'$first'"
keys g
expect_screen "diff survives grouping" 'group function'
expect_screen "diff survives grouping: delta" '\+[0-9.]+ [KM]?i?B .*grow_site'
keys g g g g

# --- stack view -----------------------------------------------------------------------------

keys Home Enter
expect_screen "stack view: title" 'Stack 1 of [0-9]+'
expect_screen "stack view: the time of its figures" 'Stack 1 of .* as of [0-9]{2}:[0-9]{2}:[0-9]{2}'
expect_screen "stack view: allocating frame" '#0 +grow_site +workloads/wl_live\.c:[0-9]+'
expect_screen "stack view: caller" 'main +workloads/wl_live\.c:[0-9]+'
expect_screen "stack view: source" 'grow_site\(\);'
keys Escape
expect_screen "stack view: Esc goes back" 'LOCATION'

# --- pause ------------------------------------------------------------------------------------

keys d
expect_gone "diff off" ' DIFF( |$)'
keys Space
expect_screen "pause: badge" 'PAUSED'
capture
before=$(row grow_site)
live_before=$(grep -m 1 ' Live ' "$SCREEN")
sleep 2
capture
expect_eq "pause: the row holds still" "$(row grow_site)" "$before"
expect_true "pause: the header goes on" test "$(grep -m 1 ' Live ' "$SCREEN")" != "$live_before"
keys Space
expect_gone "pause: off" 'PAUSED'

# --- help, write, resize ---------------------------------------------------------------------------

keys '?'
expect_screen "help: keys" 'Enter +the stacks of the selected site'
keys NPage
expect_screen "help: program output" "go to $STATE/heaptop/[0-9]+\.log"
keys q
expect_screen "help: any key closes" 'LOCATION'

keys w
expect_screen "w: says where" 'wrote \./heaptop-[0-9]+-[0-9]{8}-[0-9]{6}\.htsnap'
snapfile=$(ls "$HT_TMP"/heaptop-*.htsnap 2>/dev/null | head -n 1)
expect_true "w: the file exists" test -s "$snapfile"
rc=0
"$HT_HEAPTOP" report "$snapfile" >"$HT_TMP/report" 2>&1 || rc=$?
expect_eq "w: heaptop report reads it" "$rc" 0
expect_true "w: report shows the growing site" grep -q 'wl_live.c' "$HT_TMP/report"

tm resize-window -x 80 -y 24
expect_screen "80x24: table" 'LOCATION'
expect_screen "80x24: location kept" 'wl_live\.c:[0-9]+ '
capture
expect_le "80x24: lines" "$(wc -l <"$SCREEN")" 24
# Characters, not bytes: UTF-8 continuation bytes do not count.
expect_le "80x24: columns" "$(LC_ALL=C sed 's/[\x80-\xbf]//g' "$SCREEN" |
	awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')" 80
keys d
expect_screen "80x24 diff: location kept" 'wl_live\.c:[0-9]+ '
# Narrower still: the column the rows are sorted by (the change) stays.
tm resize-window -x 40 -y 24
expect_screen "40x24 diff: the sorted column kept" "$(printf '\xce\x94')SIZE.*LOCATION"
expect_screen "40x24 diff: location kept" 'wl_live\.c:[0-9]+'
keys d
# At 30 columns the location is narrower than it wants, and SIZE stays.
tm resize-window -x 30 -y 24
expect_screen "30x24: the sorted column kept" ' SIZE.* LOCATION'
tm resize-window -x 120 -y 40
expect_screen "120x40 again" 'ALLOCATED'

# --- quit -------------------------------------------------------------------------------------------

keys q
back_at_prompt "quit"
expect_screen "quit: a launched program's status (SIGTERM, handled)" '^rc=0$'
expect_true "quit: the program was ended" bash -c "! kill -0 $PID 2>/dev/null"
log=$(ls "$STATE"/heaptop/*.log 2>/dev/null | head -n 1)
expect_true "program output went to the log" grep -q 'wl_live noise' "${log:-/nonexistent}"
expect_screen "quit: says where the output went" "output is in $STATE/heaptop/"
rm -f "$STATE"/heaptop/*.log

# --- the program ends while watched ----------------------------------------------------------

run_in_pane -d 0.5 -- "$WL" 2 3
expect_screen "exit: status shown" 'EXITED status 3' 20
expect_screen "exit: live-at-exit rows" 'grow_site'
expect_screen "exit: stable site live at exit" 'stable_site'
keys Down Up Enter
expect_screen "exit: stack view still works" 'Stack 1 of'
keys Escape
expect_screen "exit: back to the table" 'LOCATION'
keys q
back_at_prompt "exit"
expect_screen "exit: heaptop exits with the program's status" '^rc=3$'

# --- the program crashes ---------------------------------------------------------------------

run_in_pane -d 0.5 -- "$WL" 100
expect_screen "crash: running" 'grow_site'
PID=$(header_pid)
kill -SEGV "$PID"
expect_screen "crash: shown" 'KILLED by SIGSEGV' 20
expect_screen "crash: why there is no live-at-exit table" \
	'killed by signal 11 \(Segmentation fault\), the program left no live-at-exit snapshot'
expect_screen "crash: table stays" 'grow_site'
keys q
back_at_prompt "crash"
expect_screen "crash: status 128+11" '^rc=139$'

# --- SIGTERM to heaptop ----------------------------------------------------------------------

run_in_pane -d 0.5 -- "$WL" 100
expect_screen "sigterm: running" 'grow_site'
PID=$(header_pid)
shell=$(tm display-message -p '#{pane_pid}')
viewer=$(pgrep -P "$shell" -x heaptop || pgrep -P "$(pgrep -P "$shell" | head -n 1)" -x heaptop || true)
echo "heaptop pid: $viewer"
[ -n "$viewer" ] && kill -TERM "$viewer"
back_at_prompt "sigterm"
expect_true "sigterm: the program was ended" bash -c "! kill -0 $PID 2>/dev/null"

# --- -p: a watched program keeps running ------------------------------------------------------

ht_exec_cmd "$HT_TMP/p.pid" "$WL" 100
"${HT_CMD[@]}" >/dev/null 2>&1 &
HT_JOBS+=("$!")
for _ in $(seq 100); do
	[ -s "$HT_TMP/p.pid" ] && [ -S "$HT_TMP/$(cat "$HT_TMP/p.pid").sock" ] && break
	sleep 0.1
done
WPID=$(cat "$HT_TMP/p.pid")
run_in_pane -d 0.5 -p "$WPID"
expect_screen "-p: table" 'grow_site'
keys q
back_at_prompt "-p"
expect_screen "-p: exit status 0" '^rc=0$'
expect_true "-p: the program goes on" kill -0 "$WPID"

# Ctrl-Z stops the job, heaptop and its program, and gives the shell the
# terminal; fg brings the live view back.
run_in_pane -d 0.3 -- "$WL" 60
expect_screen "Ctrl-Z: table" 'wl_live\.c:[0-9]+ +grow_site'
wl_pid=$(header_pid)
keys C-z
expect_screen "Ctrl-Z: the shell says the job stopped" 'Stopped'
expect_screen "Ctrl-Z: the prompt is back" '^ht-prompt\$ *$'
expect_eq "Ctrl-Z: the program is stopped too" "$(ps -o stat= -p "$wl_pid" | cut -c1)" T
keys -l "fg"
keys Enter
expect_screen "fg: the table is back" 'wl_live\.c:[0-9]+ +grow_site'
expect_true "fg: the program runs again" sh -c "ps -o stat= -p $wl_pid | grep -qv '^T'"
keys q
expect_screen "fg: quit, the prompt back" '^ht-prompt\$ *$'
expect_true "fg: no table left" bash -c "! grep -q LOCATION '$SCREEN'"

# Started without a shell to return to (here a tmux window's own command,
# the session's leader), Ctrl-Z says so instead of stopping for good.
printf -v line '%q ' env HEAPTOP_AGENT="$HEAPTOP_AGENT" XDG_STATE_HOME="$STATE" \
	HEAPTOP_SOCKET="$HT_TMP/%p.sock" "$HT_HEAPTOP" -d 0.3 -- "$WL" 60
tm new-window -d -n direct "$line"
direct_screen() { # REGEX: until the window shows it (15 s)
	local i
	for ((i = 0; i < 150; i++)); do
		tm capture-pane -p -t direct 2>/dev/null | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	tm capture-pane -p -t direct 2>/dev/null | sed 's/^/  | /'
	return 1
}
expect_true "Ctrl-Z without a job: table" direct_screen 'grow_site'
tm send-keys -t direct C-z
expect_true "Ctrl-Z without a job: said, not stopped" direct_screen 'Ctrl-Z: no shell to return to'
expect_true "Ctrl-Z without a job: still drawing" direct_screen 'grow_site'
tm send-keys -t direct q
expect_true "Ctrl-Z without a job: q still quits" sh -c \
	"for i in \$(seq 100); do tmux -L '$TMUX_SOCKET' list-windows -F '#W' | grep -q '^direct\$' || exit 0; sleep 0.1; done; exit 1"

# A terminal the live view cannot draw on is refused before the program
# starts, with the exit status of no terminal at all.
marker=$HT_TMP/dumb-ran
keys -l "clear; TERM=dumb $HT_HEAPTOP -- sh -c 'touch $marker'; echo \"rc=\$?\""
keys Enter
expect_screen "TERM=dumb: refused" "^heaptop: the terminal 'dumb' cannot move the cursor; use -b"
expect_screen "TERM=dumb: exit status 2" '^rc=2$'
expect_true "TERM=dumb: the program never ran" test ! -e "$marker"

# The keys are the live view's: a program it launches reads /dev/null, so
# cat ends at once instead of taking what is typed.
run_in_pane -- cat
expect_screen "stdin: cat read /dev/null and ended" 'EXITED status 0'
keys q
back_at_prompt "stdin"

# A program that runs exec gets a new agent at the same socket: the view
# follows it, and the lost connection is said to be over.
run_in_pane -d 0.3 -- sh -c "sleep 1; exec '$WL' 30"
expect_screen "exec: the shell's table first" 'heaptop sh -c '
expect_screen "exec: the reconnection said" 'reconnected to the agent'
expect_screen "exec: the new program's rows" 'wl_live\.c:[0-9]+ +grow_site'
expect_screen "exec: the new program in the header" "heaptop wl_live 30 "
expect_gone "exec: no AGENT LOST badge" 'AGENT LOST'
keys q
back_at_prompt "exec"

# A search that matched locations (FILE:LINE), kept as a filter, keeps
# the rows it showed: filters test locations as searches do.
run_in_pane -d 0.3 -- "$WL" 30
expect_screen "location search: rows" 'stable_site'
keys /
keys -l 'wl_live.c:*'
expect_screen "location search: typed" '^Search: wl_live.c:\*'
keys Enter
expect_screen "location search kept: badge" 'FILTERS 1'
expect_screen "location search kept: rows stay" 'stable_site'
expect_screen "location search kept: grow_site too" 'grow_site'
keys q
back_at_prompt "location search"

# A program whose operator new is jemalloc's, reached through a shell
# that heaptop does not look into: the agent cannot see its C++ objects,
# and a badge says so for as long as the table shows them (the message
# that says it too gives way to others; test_live checks it).  wl_cxx
# reads /dev/null here, so "hold" goes on to exit at once.
if [ -x "$HT_WORKLOADS/wl_cxx_jemalloc" ]; then
	run_in_pane -d 0.3 -- sh -c "exec '$HT_WORKLOADS/wl_cxx_jemalloc' hold"
	expect_screen "new untraced: exited" 'EXITED status 0'
	expect_screen "new untraced: badge" 'C\+\+ NEW UNTRACED'
	keys q
	back_at_prompt "new untraced"
fi

# The watched process goes away: shown, not fatal.
run_in_pane -d 0.5 -p "$WPID"
expect_screen "lost: table" 'grow_site'
kill -KILL "$WPID" 2>/dev/null || true
expect_screen "lost: badge" 'AGENT LOST'
expect_screen "lost: the table stays" 'grow_site'
keys Down Enter
expect_screen "lost: still browsable" 'Stack 1 of'
keys Escape q
back_at_prompt "lost"

if check_failed; then
	exit 1
fi
exit 0
