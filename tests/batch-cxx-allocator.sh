#!/bin/bash
# heaptop preloads libheaptop-cxx.so beside the agent exactly when the
# program's operator new is an allocator's own (jemalloc linked in, or
# jemalloc or tcmalloc preloaded by the user), and the table then holds
# the program's C++ objects as with libstdc++'s operator new: the same
# sites, bytes and blocks.  Programs whose operator new is libstdc++'s, and
# C programs, run without it.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"

WL_CXX=$HT_WORKLOADS/wl_cxx
WL_JE=$HT_WORKLOADS/wl_cxx_jemalloc

# shim_loaded OUT ARGS...: heaptop -b ARGS on "preloads"; SHIM is the
# program's answer (its output goes to heaptop's standard error).
shim_loaded() {
	local out=$1
	shift
	ht_run "$out" -b "$@" preloads
	expect_eq "heaptop -b $* preloads: exit status" "$HT_RC" 0
	SHIM=$(grep -o 'cxx_shim=[01]' "$out.err" || echo "no answer")
}

# The direct `new` sites of wl_cxx live at exit (see wl_cxx.cc), in the
# stats format grouped by function.
expected='site_handler: size=2048 KiB, count=2, average=1024 KiB
site_map: size=4848 B, count=101, average=48 B
site_new_array: size=2000 B, count=2, average=1000 B
site_new_nothrow: size=300 B, count=1, average=300 B
site_new_aligned: size=256 B, count=2, average=128 B
site_new: size=240 B, count=5, average=48 B
site_bad_alloc: size=48 B, count=1, average=48 B'

# sites OUT ARGS...: those rows of heaptop -b -g function --format stats.
sites() {
	local out=$1
	shift
	final_of_run "$out" -g function --format stats -l 20 "$@" exit | grep '^site_' || true
}

echo "== libstdc++'s operator new: no shim, the sites as they are"
shim_loaded "$HT_TMP/cxx" -- "$WL_CXX"
expect_eq "wl_cxx" "$SHIM" cxx_shim=0
expect_eq "wl_cxx sites" "$(sites "$HT_TMP/cxx-sites" -- "$WL_CXX")" "$expected"

echo "== a C program: no shim"
ht_run "$HT_TMP/c" -b -- grep -c libheaptop-cxx /proc/self/maps
expect_eq "grep's count of libheaptop-cxx.so mappings" "$(cat "$HT_TMP/c.err")" 0

if [ ! -x "$WL_JE" ]; then
	echo "== not built: wl_cxx_jemalloc (configure found no -ljemalloc)"
	exit 0
fi
JEMALLOC=$(ldd "$WL_JE" | awk '$1 ~ /^libjemalloc/ { print $3 }')
[ -f "$JEMALLOC" ] || fail "no libjemalloc in ldd $WL_JE"

echo "== linked with jemalloc: the shim, and the same sites"
shim_loaded "$HT_TMP/je" -- "$WL_JE"
expect_eq "wl_cxx_jemalloc" "$SHIM" cxx_shim=1
expect_eq "wl_cxx_jemalloc sites" "$(sites "$HT_TMP/je-sites" -- "$WL_JE")" "$expected"

echo "== jemalloc preloaded by the user: the shim, and the same sites"
LD_PRELOAD=$JEMALLOC shim_loaded "$HT_TMP/pre" -- "$WL_CXX"
expect_eq "LD_PRELOAD=jemalloc wl_cxx" "$SHIM" cxx_shim=1
expect_eq "LD_PRELOAD=jemalloc wl_cxx sites" \
	"$(LD_PRELOAD=$JEMALLOC sites "$HT_TMP/pre-sites" -- "$WL_CXX")" "$expected"

echo "== the agent alone says what it cannot see"
# final_header ENV...: the header of heaptop report on the live-at-exit
# file of wl_cxx_jemalloc run under the agent with the environment ENV.
final_header() {
	rm -f "$HT_TMP/alone.snap"
	env HEAPTOP_FINAL="$HT_TMP/alone.snap" "$@" "$WL_JE" exit >/dev/null
	ht_run "$HT_TMP/alone.txt" report "$HT_TMP/alone.snap" >&2
	head -n 1 "$HT_TMP/alone.txt" | grep -o ', C++ operator new untraced.*' || echo "(nothing said)"
}
expect_eq "agent alone: the header says so" "$(final_header LD_PRELOAD="$HEAPTOP_AGENT")" \
	", C++ operator new untraced (preload libheaptop-cxx.so)"
expect_eq "agent and libheaptop-cxx.so: nothing to say" \
	"$(final_header LD_PRELOAD="$HEAPTOP_AGENT:$(dirname "$HEAPTOP_AGENT")/libheaptop-cxx.so")" \
	"(nothing said)"
ht_run "$HT_TMP/alone.json" report --format json "$HT_TMP/alone.snap"
expect_eq "json: new_untraced" "$(pyjson 'd["new_untraced"]' <"$HT_TMP/alone.json")" False
env HEAPTOP_FINAL="$HT_TMP/alone.snap" LD_PRELOAD="$HEAPTOP_AGENT" "$WL_JE" exit >/dev/null
ht_run "$HT_TMP/alone.json" report --format json "$HT_TMP/alone.snap"
expect_eq "json: new_untraced, agent alone" "$(pyjson 'd["new_untraced"]' <"$HT_TMP/alone.json")" True

echo "== found in PATH"
PATH=$HT_WORKLOADS:$PATH shim_loaded "$HT_TMP/path" -- wl_cxx_jemalloc
expect_eq "wl_cxx_jemalloc by name" "$SHIM" cxx_shim=1
# An empty entry of PATH is the current directory.
cd "$HT_WORKLOADS"
PATH=:$PATH shim_loaded "$HT_TMP/path2" -- wl_cxx_jemalloc
cd - >/dev/null
expect_eq "wl_cxx_jemalloc by name, PATH with an empty entry" "$SHIM" cxx_shim=1

echo "== behind a script, with jemalloc preloaded by the user"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$WL_CXX" >"$HT_TMP/wrap.sh"
chmod +x "$HT_TMP/wrap.sh"
LD_PRELOAD=$JEMALLOC shim_loaded "$HT_TMP/wrap" -- "$HT_TMP/wrap.sh"
expect_eq "LD_PRELOAD=jemalloc wrap.sh" "$SHIM" cxx_shim=1

echo "== a FIFO for a program: refused at once, not waited on"
mkfifo "$HT_TMP/fifo"
chmod +x "$HT_TMP/fifo"
ht_run "$HT_TMP/fifo.out" -b -- "$HT_TMP/fifo"
expect_eq "fifo: exit status" "$HT_RC" 127
expect_eq "fifo: message" "$(cat "$HT_TMP/fifo.out.err")" \
	"heaptop: cannot run $HT_TMP/fifo: Permission denied"

TCMALLOC=$(shared_lib libtcmalloc_minimal.so.4)
if [ -n "$TCMALLOC" ]; then
	echo "== tcmalloc preloaded by the user"
	expect_eq "LD_PRELOAD=tcmalloc wl_cxx sites" \
		"$(LD_PRELOAD=$TCMALLOC sites "$HT_TMP/tc-sites" -- "$WL_CXX")" "$expected"
else
	echo "== not installed: libtcmalloc_minimal.so.4"
fi
