#!/bin/bash
# fork: parent and child each get their own socket (named by their own pid)
# and their own live-at-exit file; the child starts with the parent's heap
# as it was at fork time.  Forks taken while another thread allocates must
# not deadlock the children (wl_fork checks that they all exit 0).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_fork

wl_start "$wl" fork
wl_ready
parent=$WL_PID
child=$(echo "$READY_LINE" | kv_field child)
expect_true "child pid is known" test -n "$child"
expect_true "parent and child differ" test "$child" != "$parent"
expect_true "parent socket exists" test -S "$(sock_of "$parent")"
expect_true "child socket exists" test -S "$(sock_of "$child")"

snap_live "$parent" "$HT_TMP/parent.txt"
snap_live "$child" "$HT_TMP/child.txt"
expect_eq "parent snapshot pid" "$(header_field pid "$HT_TMP/parent.txt")" "$parent"
expect_eq "child snapshot pid" "$(header_field pid "$HT_TMP/child.txt")" "$child"
expect_eq "parent: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/parent.txt")" 4000/4
expect_eq "parent: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/parent.txt")" 1000/2
expect_eq "parent: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/parent.txt")" 0/0
expect_eq "child: site_parent_alloc (inherited)" "$(site_live site_parent_alloc "$HT_TMP/child.txt")" 4000/4
expect_eq "child: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/child.txt")" 0/0
expect_eq "child: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/child.txt")" 6000/3
expect_eq "parent: site_quick_child" "$(site_live site_quick_child "$HT_TMP/parent.txt")" 0/0

wl_continue   # the parent lets the child exit and reaps it
wl_ready
expect_true "child socket removed at its exit" test ! -e "$(sock_of "$child")"
snap_final "$child" "$HT_TMP/child-final.txt"
expect_eq "child final: pid" "$(header_field pid "$HT_TMP/child-final.txt")" "$child"
expect_eq "child final: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/child-final.txt")" 4000/4
expect_eq "child final: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/child-final.txt")" 6000/3
expect_eq "child final: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/child-final.txt")" 0/0
snap_live "$parent" "$HT_TMP/parent2.txt"
expect_eq "parent still served after the child exit" \
	"$(site_live site_parent_after_fork "$HT_TMP/parent2.txt")" 1000/2

wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_fork exit status" "$rc" 0
expect_true "parent socket removed at exit" test ! -e "$(sock_of "$parent")"
snap_final "$parent" "$HT_TMP/parent-final.txt"
expect_eq "parent final: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/parent-final.txt")" 4000/4
expect_eq "parent final: site_parent_after_fork" "$(site_live site_parent_after_fork "$HT_TMP/parent-final.txt")" 1000/2
expect_eq "parent final: site_child_alloc" "$(site_live site_child_alloc "$HT_TMP/parent-final.txt")" 0/0

# The 20 quick children exited normally: each wrote its own file, and
# their sockets are gone.
nfinal=$(find "$HT_TMP" -name 'final-*.snap' | wc -l)
expect_eq "live-at-exit files (parent, child, 20 quick children)" "$nfinal" 22
nsock=$(find "$HT_TMP" -name '*.sock' | wc -l)
expect_eq "sockets left" "$nsock" 0

# A fork taken while another thread of the agent holds the loader's lock
# (a rule-cache miss inside dl_iterate_phdr): the child's own first miss
# waited for ever.  wl_fork loader makes nearly every allocation of two
# threads miss while main forks 200 children under alarm(2); three runs,
# since each catches the old agent about two times in three.
for i in 1 2 3; do
	rc=0
	run_traced HEAPTOP_FINAL= "$wl" loader >"$HT_TMP/loader$i.txt" || rc=$?
	expect_eq "loader run $i: exit status ($(cat "$HT_TMP/loader$i.txt"))" "$rc" 0
done

# A library's fork handlers, registered by its constructor before the
# agent's, lock its mutex, which another thread holds while it allocates:
# the agent's handlers must take its locks after them (the first version
# deadlocked every run, ended by wl_atfork's alarm).
rc=0
run_traced HEAPTOP_FINAL= "$HT_WORKLOADS/wl_atfork" >"$HT_TMP/atfork.txt" || rc=$?
expect_eq "wl_atfork: 200 forks, a thread allocating under the library's mutex" \
	"$rc $(cat "$HT_TMP/atfork.txt")" "0 forks=200"
