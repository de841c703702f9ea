#!/bin/bash
# A launched program that runs exec gets a new agent at the same socket:
# heaptop -b follows it (the tables after the exec are the new program's,
# -n counts across the exec), and when nothing answers any more it says so
# at once and, with -n, ends the program instead of waiting for it.  A
# program that closes the agent's descriptors keeps the numbers for its own
# files, and the agent listens again.  A socket directory that cannot be
# used is refused before anything runs.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

# headers FILE: the command line of each table's header, one a line.
headers() {
	sed -n 's/^# \(live at exit ([^)]*): \)\{0,1\}pid [0-9]* \(.*\), [0-9-]* [0-9:]*, live .*/\2/p' "$1"
}

G=$(line_of site_grow)

echo "== -n 3 across an exec: the first table is the shell's, the others the new program's"
start=$(date +%s)
ht_run "$HT_TMP/exec-n.txt" -b -n 3 -d 0.3 -- sh -c "sleep 0.6; exec '$WL_BATCH' sleep 30"
took=$(($(date +%s) - start))
expect_eq "exec -n 3: exit status (the program ended by -n)" "$HT_RC" 0
expect_eq "exec -n 3: tables" "$(table_count "$HT_TMP/exec-n.txt")" 3
expect_match "exec -n 3: the first table is the shell's" "$(headers "$HT_TMP/exec-n.txt" | head -n 1)" "^sh -c "
expect_match "exec -n 3: the last table is wl_batch's" "$(headers "$HT_TMP/exec-n.txt" | tail -n 1)" \
	"wl_batch sleep 30\$"
expect_true "exec -n 3: the last table holds wl_batch's sites" grep -q "wl_batch.c:$B" "$HT_TMP/exec-n.txt"
expect_le "exec -n 3: seconds (the program sleeps 30)" "$took" 15
expect_eq "exec -n 3: nothing on stderr but the program's" "$(grep -c '^heaptop: ' "$HT_TMP/exec-n.txt.err" || true)" 0

echo "== an exec right away, to the end: the live-at-exit table is the new program's"
ht_run "$HT_TMP/exec-end.txt" -b -d 0.2 -- sh -c "exec '$WL_BATCH' grow"
expect_eq "exec to the end: exit status" "$HT_RC" 0
expect_match "exec to the end: the final table is wl_batch's" \
	"$(final_table "$HT_TMP/exec-end.txt" | head -n 1)" "^# live at exit \\(status 0\\): pid [0-9]+ .*wl_batch grow, "
expect_true "exec to the end: site_grow in the final table" grep -q "wl_batch.c:$G" "$HT_TMP/exec-end.txt"
tables=$(table_count "$HT_TMP/exec-end.txt")
expect_ge "exec to the end: interval tables besides the final one" "$tables" 3

echo "== an exec that drops the agent (a cleared environment): said at once; -n ends the program"
start=$(date +%s)
ht_run "$HT_TMP/exec-lost.txt" -b -n 5 -d 0.3 -- sh -c "sleep 0.6; exec env -i '$WL_BATCH' sleep 30"
took=$(($(date +%s) - start))
expect_eq "agent dropped: exit status (the program ended for -n)" "$HT_RC" 0
expect_match "agent dropped: heaptop's first line on stderr" \
	"$(grep '^heaptop: ' "$HT_TMP/exec-lost.txt.err" | head -n 1)" \
	"^heaptop: lost the agent: .*; ending the program \\(-n\\)\$"
expect_le "agent dropped: seconds (the program sleeps 30)" "$took" 15
expect_ge "agent dropped: the shell's tables came first" "$(table_count "$HT_TMP/exec-lost.txt")" 1

echo "== without -n: said at once, then the program runs to its end"
ht_run "$HT_TMP/exec-lost-wait.txt" -b -d 0.3 -- sh -c "sleep 0.6; exec env -i '$WL_BATCH' sleep 3"
expect_eq "agent dropped, no -n: exit status" "$HT_RC" 0
expect_match "agent dropped, no -n: heaptop's lines on stderr" \
	"$(grep '^heaptop: ' "$HT_TMP/exec-lost-wait.txt.err" | head -n 1)" \
	"^heaptop: lost the agent: .*; waiting for the program to end\$"

echo "== a program that closes the agent's descriptors, as a daemon does: they stay the program's"
# wl_basic closefds checks its own socket pairs, opened under the numbers
# it freed, and exits 1 if anything else touched them; the agent makes its
# socket again, so that the tables go on.
TIMEFORMAT='%U %S'
{ time ht_run "$HT_TMP/closefds.txt" -b -d 0.3 -- "$HT_WORKLOADS/wl_basic" closefds 3; } 2>"$HT_TMP/closefds.cpu"
expect_eq "closed descriptors: the program's untouched (its exit status)" "$HT_RC" 0
expect_ge "closed descriptors: tables after the close (3 s at 0.3 s)" \
	"$(grep -c '^# pid' "$HT_TMP/closefds.txt" || true)" 6
expect_eq "closed descriptors: heaptop said nothing" "$(grep -c '^heaptop: ' "$HT_TMP/closefds.txt.err" || true)" 0
# An agent polling descriptors that are gone spins: seconds of CPU in 3 s.
expect_true "closed descriptors: under a second of CPU in all" \
	awk '{ exit !($1 + $2 < 1.0) }' "$HT_TMP/closefds.cpu"

echo "== a socket directory that cannot be used: exit 1 before the program runs"
marker=$HT_TMP/ran
XDG_RUNTIME_DIR=$HT_TMP/no/such/dir ht_run "$HT_TMP/nodir.txt" -b -- sh -c "touch '$marker'"
expect_error "missing runtime directory" "$HT_TMP/nodir.txt" 1 \
	"cannot make the socket directory $HT_TMP/no/such/dir/heaptop: No such file or directory\$"
mkdir -p "$HT_TMP/open/heaptop"
chmod 755 "$HT_TMP/open/heaptop"
XDG_RUNTIME_DIR=$HT_TMP/open ht_run "$HT_TMP/opendir.txt" -b -- sh -c "touch '$marker'"
expect_error "a socket directory others can enter" "$HT_TMP/opendir.txt" 1 \
	"the socket directory $HT_TMP/open/heaptop must be a directory of yours that nobody else can enter\$"
expect_true "the program never ran" test ! -e "$marker"
