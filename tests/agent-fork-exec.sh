#!/bin/bash
# fork + exec: the exec'd child keeps the agent through LD_PRELOAD in its
# environment, and with HEAPTOP_FINAL=...%p... writes its own live-at-exit
# file; with HEAPTOP_FINAL_PID only the named process writes one.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

wl=$HT_WORKLOADS/wl_fork
basic=$HT_WORKLOADS/wl_basic

echo "== HEAPTOP_FINAL with %p: one file per process"
run_traced "$wl" fork-exec "$basic" >"$HT_TMP/out.txt"
cat "$HT_TMP/out.txt"
parent=$RUN_PID
child=$(kv_field child <"$HT_TMP/out.txt")
expect_true "child pid is known" test -n "$child"
snap_final "$parent" "$HT_TMP/parent.txt"
snap_final "$child" "$HT_TMP/child.txt"
expect_eq "parent: pid" "$(header_field pid "$HT_TMP/parent.txt")" "$parent"
expect_eq "parent: site_parent_alloc" "$(site_live site_parent_alloc "$HT_TMP/parent.txt")" 4000/4
expect_eq "parent: site_malloc (wl_basic's)" "$(site_live site_malloc "$HT_TMP/parent.txt")" 0/0
expect_eq "child: pid" "$(header_field pid "$HT_TMP/child.txt")" "$child"
expect_eq "child: site_malloc" "$(site_live site_malloc "$HT_TMP/child.txt")" 10000/10
expect_eq "child: site_posix_memalign" "$(site_live site_posix_memalign "$HT_TMP/child.txt")" 6024/3
expect_eq "child: site_parent_alloc (gone with exec)" "$(site_live site_parent_alloc "$HT_TMP/child.txt")" 0/0

echo "== HEAPTOP_FINAL_PID: only that process writes the file"
rm -f "$HT_TMP"/final-*.snap
cat >"$HT_TMP/run.sh" <<'SH'
#!/bin/sh
# Name our own pid (which the program keeps across exec) as the one to write.
HEAPTOP_FINAL_PID=$$ exec "$@"
SH
chmod +x "$HT_TMP/run.sh"
# run.sh runs without the agent: the preload starts with the exec in it.
run_traced LD_PRELOAD= "$HT_TMP/run.sh" env LD_PRELOAD="$HEAPTOP_AGENT" \
	"$wl" fork-exec "$basic" >"$HT_TMP/out2.txt"
cat "$HT_TMP/out2.txt"
parent=$RUN_PID
child=$(kv_field child <"$HT_TMP/out2.txt")
expect_true "parent wrote its file" test -f "$(final_of "$parent")"
expect_true "child did not write one" test ! -e "$(final_of "$child")"
expect_eq "live-at-exit files" "$(find "$HT_TMP" -name 'final-*.snap' | wc -l)" 1
