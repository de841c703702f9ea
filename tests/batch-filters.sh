#!/bin/bash
# Filters and attribution on wl_batch's known sites (see wl_batch.c):
# -i/-x against function, file (basename and full path) and module, on the
# attributed frame or on every frame with --all-frames; -k for a wrapper;
# system frames skipped by default and not with --no-skip-system; named
# filters of the configuration file, enabled or not, with the command
# line's.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

X1=$(line_of xcall1)
X2=$(line_of xcall2)

# Each site as "FILE:LINE SIZE/COUNT" (rows() below prints them).
declare -A site=(
	[A]="wl_batch.c:$A 16384/4"
	[C]="wl_batch.c:$C 8000/1"
	[XM]="wl_batch_util.c:$XM 5900/5"
	[XM1]="wl_batch_util.c:$XM 4500/3" # xmalloc's blocks from use_xmalloc_1
	[XM2]="wl_batch_util.c:$XM 1400/2" # and from use_xmalloc_2
	[X1]="wl_batch.c:$X1 4500/3"
	[X2]="wl_batch.c:$X2 1400/2"
	[UA]="wl_batch_util.c:$UA 3200/5"
	[UC]="wl_batch_util.c:$UC 1800/2"
	[R]="wl_batch.c:$R 1024/4"
	[B]="wl_batch.c:$B 1000/10"
	[S]="wl_batch.c:$S 300/6"
	[MUA]="wl_batch.c:$(line_of main_util_alloc) 3200/5"  # main's calls,
	[MUC]="wl_batch.c:$(line_of main_util_calloc) 1800/2" # when the callee
	[MS]="wl_batch.c:$(line_of main_site_strdup) 300/6"   # is skipped
)

rows() {
	local n
	for n in "$@"; do
		echo "${site[$n]}"
	done
}

# rows_of ARGS...: the rows of the final table of heaptop -b ARGS on
# wl_batch run, as "BASENAME:LINE SIZE/COUNT" (file-less rows as
# "MODULE-BASENAME:FUNCTION"), then "total SIZE/COUNT".
rows_of() {
	local out=$HT_TMP/rows-$RANDOM.txt
	ht_run "$out" -b --format json -l 1000 "$@" -- "$WL_BATCH" run >&2
	[ "$HT_RC" -eq 0 ] || echo "heaptop exit status $HT_RC"
	json_final "$out" | pyjson '"\n".join(
		("%s:%s" % (os.path.basename(r["file"]), r["line"]) if r["file"] else
		 "%s:%s" % (os.path.basename(r["module"] or "??"), r["function"]))
		+ " %d/%d" % (r["size"], r["count"]) for r in d["rows"]
	) + ("\n" if d["rows"] else "") + "total %d/%d" % (d["total"]["size"], d["total"]["count"])'
}

# total NAME...: the "total SIZE/COUNT" line of those sites.
total() {
	local n size=0 count=0 sc
	for n in "$@"; do
		sc=${site[$n]#* }
		size=$((size + ${sc%/*}))
		count=$((count + ${sc#*/}))
	done
	echo "total $size/$count"
}

# expect_rows NAME "ARGS" SITE...: heaptop ARGS shows exactly those sites,
# in that order, and their total.
expect_rows() {
	local name=$1 args=$2
	shift 2
	local -a argv
	read -r -a argv <<<"$args"
	expect_text "$name" "$(rows_of "${argv[@]}")" "$(rows "$@"; total "$@")"
}

echo "== no filter"
expect_rows "all sites" "" A C XM UA UC R B S

echo "== include and exclude, on the attributed frame"
expect_rows "-i FILE-BASENAME" "-i wl_batch_util.c" XM UA UC
expect_rows "-i */FULL/PATH" "-i */workloads/wl_batch_util.c" XM UA UC
expect_rows "-i FUNCTION-PATTERN" "-i site_*" A C B S
expect_rows "-i twice: either" "-i site_a -i util_calloc" A UC
expect_rows "-x FUNCTION" "-x site_a" C XM UA UC R B S
expect_rows "-x FILE" "-x wl_batch_util.c" A C R B S
expect_rows "-i and -x" "-i site_* -x site_b" A C S
expect_rows "-x MODULE-BASENAME: nothing left" "-x wl_batch"
expect_rows "-x a pattern on the module's full path" "-x */workloads/wl_batc[h]" 
expect_rows "-i a caller: not the attributed frame" "-i use_xmalloc_1"
expect_rows "-x main: not the attributed frame" "-x main" A C XM UA UC R B S
expect_rows "-i a pattern that matches nothing" "-i no_such_function"
t=$(ht_run "$HT_TMP/empty.txt" -b -x '*' -- "$WL_BATCH" run >&2; final_table "$HT_TMP/empty.txt" | sed '1d;$d')
expect_text "pretty, everything excluded" "$t" "Top 0 lines
Total allocated size: 0.0 KiB"

echo "== --all-frames: filters test every frame"
expect_rows "--all-frames -i a caller" "--all-frames -i use_xmalloc_1" XM1
expect_rows "--all-frames -x main: nothing left" "--all-frames -x main"
expect_rows "--all-frames -x a caller" "--all-frames -x use_xmalloc_2" A C XM1 UA UC R B S
expect_rows "--all-frames -i recurse" "--all-frames -i recurse" R
# Every stack starts in the C library (__libc_start_main): a module pattern
# on an outer frame.
expect_rows "-i libc.so*: no attributed frame is in libc" "-i libc.so*"
expect_rows "--all-frames -i libc.so*: every stack" "--all-frames -i libc.so*" A C XM UA UC R B S

echo "== -k: frames never to attribute to"
expect_rows "-k xmalloc: its callers' lines" "-k xmalloc" A C X1 UA UC X2 R B S
expect_rows "-k xmalloc -i use_xmalloc_1" "-k xmalloc -i use_xmalloc_1" X1
expect_rows "-k by file: the util file's blocks go to their callers" "-k wl_batch_util.c" \
	A C X1 MUA MUC X2 R B S
expect_text "-k xmalloc -g function" "$(ht_run "$HT_TMP/kf.txt" -b --format stats -g function -k xmalloc -i '*xmalloc*' \
	-- "$WL_BATCH" run >&2; final_table "$HT_TMP/kf.txt" | sed '1d;$d')" \
	"use_xmalloc_1: size=4500 B, count=3, average=1500 B
use_xmalloc_2: size=1400 B, count=2, average=700 B"
expect_text "-k xmalloc -g file" "$(ht_run "$HT_TMP/kfile.txt" -b --format stats -g file -k xmalloc \
	-- "$WL_BATCH" run >&2; final_table "$HT_TMP/kfile.txt" | sed '1d;$d')" \
	"workloads/wl_batch.c: size=31.8 KiB, count=30, average=1087 B
workloads/wl_batch_util.c: size=5000 B, count=7, average=714 B"

echo "== system frames: strdup is charged to its caller unless --no-skip-system"
j=$(ht_run "$HT_TMP/sys.txt" -b --format json -l 100 -- "$WL_BATCH" run >&2; json_final "$HT_TMP/sys.txt")
expect_eq "default: rows in a system module" \
	"$(pyjson 'sum(1 for r in d["rows"] if not os.path.samefile(r["module"], sys.argv[2]))' "$WL_BATCH" <<<"$j")" 0
j=$(ht_run "$HT_TMP/nosys.txt" -b --format json -l 100 --no-skip-system -- "$WL_BATCH" run >&2
	json_final "$HT_TMP/nosys.txt")
expect_eq "--no-skip-system: the strdup row is libc's (module, function has strdup, size/count)" \
	"$(pyjson '[[os.path.basename(r["module"]).split(".so")[0], "strdup" in r["function"], r["size"], r["count"]]
		for r in d["rows"] if not os.path.samefile(r["module"], sys.argv[2])]' "$WL_BATCH" <<<"$j")" \
	'[["libc", true, 300, 6]]'
expect_eq "--no-skip-system: the other rows" \
	"$(pyjson '["%s:%d %d/%d" % (os.path.basename(r["file"]), r["line"], r["size"], r["count"])
		for r in d["rows"] if os.path.samefile(r["module"], sys.argv[2])]' "$WL_BATCH" <<<"$j")" \
	"$(rows A C XM UA UC R B | "$HT_PYTHON" -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin]))')"
expect_rows "--no-skip-system -x 'libc.so*'" "--no-skip-system -x libc.so*" A C XM UA UC R B
expect_rows "--no-skip-system -k 'libc.so*': back to the caller" "--no-skip-system -k libc.so*" \
	A C XM UA UC R B S
expect_rows "--no-skip-system -k '*strdup*': site_strdup is skipped too" "--no-skip-system -k *strdup*" \
	A C XM UA UC R B MS

echo "== named filters of the configuration file"
config() { # NAME: write $HT_TMP/NAME.ini from stdin
	cat >"$HT_TMP/$1.ini"
	echo "--- $1.ini:"
	sed 's/^/  : /' "$HT_TMP/$1.ini"
}
config util-only <<'EOF'
[filter util-only]
include = wl_batch_util.c
EOF
expect_rows "[filter] include" "--config $HT_TMP/util-only.ini" XM UA UC
config util-off <<'EOF'
[filter util-only]
include = wl_batch_util.c
enabled = no
EOF
expect_rows "[filter] include, enabled = no" "--config $HT_TMP/util-off.ini" A C XM UA UC R B S
config several <<'EOF'
; several filters, one of them off
[filter wrappers]
skip = xmalloc
[filter no-b]
exclude = site_b
[filter off]
exclude = site_a
enabled = false
[filter two]
exclude = site_c
exclude = recurse
EOF
expect_rows "[filter] skip, exclude, a disabled one, repeated keys" "--config $HT_TMP/several.ini" \
	A X1 UA UC X2 S
expect_rows "[filter] with -x and -i on the command line" \
	"--config $HT_TMP/util-only.ini -x util_alloc" XM UC
config view-flags <<'EOF'
[view]
all_frames = yes
skip_system = no
EOF
expect_rows "[view] all_frames = yes" "--config $HT_TMP/view-flags.ini -i use_xmalloc_2" XM2
j=$(ht_run "$HT_TMP/vf.txt" -b --format json --config "$HT_TMP/view-flags.ini" -i '*strdup*' \
	-- "$WL_BATCH" run >&2; json_final "$HT_TMP/vf.txt")
expect_eq "[view] skip_system = no: strdup's row is libc's (module, function has strdup, size/count)" \
	"$(pyjson '[[os.path.basename(r["module"]).split(".so")[0], "strdup" in r["function"], r["size"], r["count"]]
		for r in d["rows"]]' <<<"$j")" '[["libc", true, 300, 6]]'
