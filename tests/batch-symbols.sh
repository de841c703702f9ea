#!/bin/bash
# What the tables show of a program's symbols: inline frames of a -O2
# build (wl_inline), a stripped binary with its debug file beside it
# (.gnu_debuglink), one with only its symbol table, one with nothing, and
# C++ names demangled (wl_batch_cxx).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"
require_tool objcopy strip readelf nm

# Debug information comes from the files at hand, never from the network.
unset DEBUGINFOD_URLS

WL_INLINE=$HT_WORKLOADS/wl_inline
WL_CXX=$HT_WORKLOADS/wl_batch_cxx

echo "== inline frames (wl_inline, -O2 -g, an always_inline helper)"
IM=$(line_of inl_malloc wl_inline.c)
I1=$(line_of inl_call1 wl_inline.c)
I2=$(line_of inl_call2 wl_inline.c)
M1=$(line_of inl_main1 wl_inline.c)
M2=$(line_of inl_main2 wl_inline.c)
expect_eq "wl_inline: no out-of-line inl_alloc" "$(nm "$WL_INLINE" | grep -c inl_alloc || true)" 0
t=$(final_of_run "$HT_TMP/inl-tb.txt" -g traceback -- "$WL_INLINE")
expect_text "traceback: the inlined helper, then its caller, then main" \
	"$(awk '/^#[0-9]+: / { n = 0 } { n++ } n <= 7 && !/^Total /' <<<"$t")" "Top 2 tracebacks
#1: 3 memory blocks: 8.8 KiB
  File \"workloads/wl_inline.c\", line $IM, in inl_alloc
    void *p = malloc(n); /* @inl_malloc */
  File \"workloads/wl_inline.c\", line $I1, in caller_one
    hold(inl_alloc(3000)); /* @inl_call1 */
  File \"workloads/wl_inline.c\", line $M1, in main
    caller_one(); /* @inl_main1 */
#2: 2 memory blocks: 1.0 KiB
  File \"workloads/wl_inline.c\", line $IM, in inl_alloc
    void *p = malloc(n); /* @inl_malloc */
  File \"workloads/wl_inline.c\", line $I2, in caller_two
    hold(inl_alloc(500)); /* @inl_call2 */
  File \"workloads/wl_inline.c\", line $M2, in main
    caller_two(); /* @inl_main2 */"
expect_eq "traceback: total" "$(tail -n 1 <<<"$t")" "Total allocated size: 9.8 KiB"
expect_text "line: the inlined helper's line" "$(final_of_run "$HT_TMP/inl-line.txt" -- "$WL_INLINE")" \
	"Top 1 lines
#1: workloads/wl_inline.c:$IM: 9.8 KiB
    void *p = malloc(n); /* @inl_malloc */
Total allocated size: 9.8 KiB"
expect_text "function: the inlined helper" \
	"$(final_of_run "$HT_TMP/inl-fn.txt" -g function --format stats -- "$WL_INLINE")" \
	"inl_alloc: size=10000 B, count=5, average=2000 B"
expect_text "-k inl_alloc: its call sites" \
	"$(final_of_run "$HT_TMP/inl-k.txt" -k inl_alloc --format stats -- "$WL_INLINE")" \
	"workloads/wl_inline.c:$I1: size=9000 B, count=3, average=3000 B
workloads/wl_inline.c:$I2: size=1000 B, count=2, average=500 B"
t=$(final_of_run "$HT_TMP/inl-cum.txt" -c -g function --format stats -- "$WL_INLINE")
expect_text "cumulative function: the helper, both callers and main" \
	"$(grep -E '^(inl_alloc|caller_one|caller_two|main):' <<<"$t")" \
	"inl_alloc: size=10000 B, count=5, average=2000 B
main: size=10000 B, count=5, average=2000 B
caller_one: size=9000 B, count=3, average=3000 B
caller_two: size=1000 B, count=2, average=500 B"
ht_run "$HT_TMP/inl.json" -b --format json -g traceback -- "$WL_INLINE"
expect_eq "json: frames up to main (function, line, module is wl_inline)" \
	"$(json_final "$HT_TMP/inl.json" | pyjson '[[(f["function"], f["line"], os.path.samefile(f["module"], sys.argv[2]))
		for f in r["frames"][:3]] for r in d["rows"]]' "$WL_INLINE")" \
	"[[[\"inl_alloc\", $IM, true], [\"caller_one\", $I1, true], [\"main\", $M1, true]], [[\"inl_alloc\", $IM, true], [\"caller_two\", $I2, true], [\"main\", $M2, true]]]"

echo "== a stripped binary with its debug file beside it"
rows_stats="workloads/wl_batch.c:$A: size=16.0 KiB, count=4, average=4096 B
workloads/wl_batch.c:$C: size=8000 B, count=1, average=8000 B
workloads/wl_batch_util.c:$XM: size=5900 B, count=5, average=1180 B
workloads/wl_batch_util.c:$UA: size=3200 B, count=5, average=640 B
workloads/wl_batch_util.c:$UC: size=1800 B, count=2, average=900 B
workloads/wl_batch.c:$R: size=1024 B, count=4, average=256 B
workloads/wl_batch.c:$B: size=1000 B, count=10, average=100 B
workloads/wl_batch.c:$S: size=300 B, count=6, average=50 B"
functions_stats="site_a: size=16.0 KiB, count=4, average=4096 B
site_c: size=8000 B, count=1, average=8000 B
xmalloc: size=5900 B, count=5, average=1180 B
util_alloc: size=3200 B, count=5, average=640 B
util_calloc: size=1800 B, count=2, average=900 B
recurse: size=1024 B, count=4, average=256 B
site_b: size=1000 B, count=10, average=100 B
site_strdup: size=300 B, count=6, average=50 B"

# has_debug_info FILE: whether FILE has a .debug_info section.
has_debug_info() {
	readelf -S -W "$1" | grep -q '\.debug_info'
}

d=$HT_TMP/debuglink
mkdir -p "$d"
cp "$WL_BATCH" "$d/wl_batch"
objcopy --only-keep-debug "$d/wl_batch" "$d/wl_batch.debug"
objcopy --strip-debug --add-gnu-debuglink="$d/wl_batch.debug" "$d/wl_batch"
expect_true "debuglink: the binary has no debug info" eval '! has_debug_info "$d/wl_batch"'
expect_true "debuglink: the debug file has it" has_debug_info "$d/wl_batch.debug"
expect_text "debuglink: file:line as with the unstripped binary" \
	"$(final_of_run "$HT_TMP/dl.txt" --format stats -- "$d/wl_batch" run)" "$rows_stats"
expect_text "debuglink: and the source lines" \
	"$(final_of_run "$HT_TMP/dl-pretty.txt" -l 1 -- "$d/wl_batch" run | sed -n 2,3p)" \
	"#1: workloads/wl_batch.c:$A: 16.0 KiB
    wl_hold(malloc(4096)); /* @site_a */"

# The debug file in .debug/ beside the binary, the other place gdb and
# libdw look for a debuglink.
d=$HT_TMP/dotdebug
mkdir -p "$d/.debug"
cp "$WL_BATCH" "$d/wl_batch"
objcopy --only-keep-debug "$d/wl_batch" "$d/.debug/wl_batch.debug"
objcopy --strip-debug --add-gnu-debuglink="$d/.debug/wl_batch.debug" "$d/wl_batch"
expect_text "debuglink in .debug/: file:line" \
	"$(final_of_run "$HT_TMP/dd.txt" --format stats -- "$d/wl_batch" run)" "$rows_stats"

echo "== stripped of debug info, symbol table kept: function names"
d=$HT_TMP/symtab
mkdir -p "$d"
cp "$WL_BATCH" "$d/wl_symtab"
strip --strip-debug "$d/wl_symtab"
expect_true "symtab: no debug info" eval '! has_debug_info "$d/wl_symtab"'
expect_text "symtab: line rows are FUNCTION (MODULE)" \
	"$(final_of_run "$HT_TMP/st.txt" --format stats -- "$d/wl_symtab" run)" \
	"$(sed -e 's/: size=/ (wl_symtab): size=/' <<<"$functions_stats")"
expect_text "symtab: no source lines in pretty" \
	"$(final_of_run "$HT_TMP/st-pretty.txt" -l 2 -- "$d/wl_symtab" run)" \
	"Top 2 lines
#1: site_a (wl_symtab): 16.0 KiB
#2: site_c (wl_symtab): 7.8 KiB
6 other: 12.9 KiB
Total allocated size: 36.7 KiB"
expect_text "symtab: -g function as with debug info" \
	"$(final_of_run "$HT_TMP/st-fn.txt" -g function --format stats -- "$d/wl_symtab" run)" "$functions_stats"
expect_text "symtab: -g file falls back to the module" \
	"$(final_of_run "$HT_TMP/st-file.txt" -g file --format stats -- "$d/wl_symtab" run)" \
	"?? (wl_symtab): size=36.7 KiB, count=37, average=1016 B"
expect_text "symtab: traceback frames without lines" \
	"$(final_of_run "$HT_TMP/st-tb.txt" -g traceback -l 1 -- "$d/wl_symtab" run | sed -n 2,4p)" \
	"#1: 4 memory blocks: 16.0 KiB
  File \"wl_symtab\", in site_a
  File \"wl_symtab\", in main"
ht_run "$HT_TMP/st.json" -b --format json -l 1 -- "$d/wl_symtab" run
expect_eq "symtab, json: file, line, function, source of the first row" \
	"$(json_final "$HT_TMP/st.json" | pyjson '[d["rows"][0][k] for k in ("file", "line", "function", "source")]')" \
	'[null, null, "site_a", null]'
expect_text "symtab: -k and -i on function names still work" \
	"$(final_of_run "$HT_TMP/st-k.txt" -k xmalloc -i 'use_xmalloc_*' --format stats -- "$d/wl_symtab" run)" \
	"use_xmalloc_1 (wl_symtab): size=4500 B, count=3, average=1500 B
use_xmalloc_2 (wl_symtab): size=1400 B, count=2, average=700 B"

echo "== fully stripped: each site is its address in the module"
cp "$WL_BATCH" "$d/wl_bare"
strip --strip-all "$d/wl_bare"
expect_eq "bare: no symbol table" "$(readelf -S -W "$d/wl_bare" | grep -c '\.symtab' || true)" 0
# line_rows JSON-FILE: "LINE BYTES BLOCKS" per source line of wl_batch,
# summed over the rows of the final table; a row named by an address is
# given its line by addr2line on the unstripped program.
line_rows() {
	[ -n "$HT_PYTHON" ] || skip "python3 is not installed"
	json_final "$1" | "$HT_PYTHON" -c '
import collections, json, os, subprocess, sys
d = json.loads(sys.stdin.read())
sums = collections.defaultdict(lambda: [0, 0])
for r in d["rows"]:
    where = "%s:%s" % (os.path.basename(r["file"] or ""), r["line"])
    if r["function"].startswith("0x"):
        out = subprocess.run(["addr2line", "-e", sys.argv[1], r["function"]],
                             capture_output=True, text=True).stdout
        where = os.path.basename(out.split()[0])
    sums[where][0] += r["size"]
    sums[where][1] += r["count"]
for w in sorted(sums):
    print(w, *sums[w])' "$WL_BATCH"
}
ht_run "$HT_TMP/bare.json" -b --format json -l 50 -- "$d/wl_bare" run
ht_run "$HT_TMP/debug.json" -b --format json -l 50 -- "$WL_BATCH" run
expect_text "bare: rows named by address, each at a line of the program" \
	"$(line_rows "$HT_TMP/bare.json")" "$(line_rows "$HT_TMP/debug.json")"
expect_ge "bare: rows" "$(json_final "$HT_TMP/bare.json" | pyjson 'len(d["rows"])')" 8
expect_eq "bare: lines they are at" "$(line_rows "$HT_TMP/bare.json" | wc -l)" 8
expect_text "bare: the first row" \
	"$(final_of_run "$HT_TMP/bare.txt" --format stats -l 1 -- "$d/wl_bare" run |
		sed -E 's/^0x[0-9a-f]+ /ADDRESS /')" \
	"ADDRESS (wl_bare): size=16.0 KiB, count=4, average=4096 B"
expect_text "bare: -g function gives the same rows" \
	"$(final_of_run "$HT_TMP/bare-fn.txt" -g function --format stats -- "$d/wl_bare" run)" \
	"$(final_of_run "$HT_TMP/bare-ln.txt" --format stats -- "$d/wl_bare" run)"
expect_text "bare: -g module" \
	"$(final_of_run "$HT_TMP/bare-mod.txt" -g module --format stats -- "$d/wl_bare" run)" \
	"wl_bare: size=36.7 KiB, count=37, average=1016 B"

echo "== an address in a gap of a unit's ranges has no line (wl_gap's _start)"
ht_run "$HT_TMP/gap.txt" -b -g traceback -l 3 -- "$HT_WORKLOADS/wl_gap" 2
expect_eq "gap: heaptop's exit status" "$HT_RC" 0
expect_eq "gap: _start's frames" "$(grep -F ' in _start' "$HT_TMP/gap.txt" | sort -u)" \
	'  File "wl_gap", in _start'

echo "== C++ at -O2: inlined functions without a linkage name (wl_inline_cxx)"
# Two helper() in different anonymous namespaces and two lambdas' operator()
# keep rows of their own, named with their scopes.
expect_text "C++ -O2 -g function" \
	"$(final_of_run "$HT_TMP/cxx-inl.txt" -g function --format stats -- "$HT_WORKLOADS/wl_inline_cxx")" \
	"f2()::(anonymous class)::operator(): size=2000 B, count=1, average=2000 B
f1()::(anonymous class)::operator(): size=1000 B, count=1, average=1000 B
x::(anonymous namespace)::helper: size=400 B, count=1, average=400 B
(anonymous namespace)::helper: size=300 B, count=1, average=300 B"

echo "== C++: demangled names (wl_batch_cxx)"
CI=$(line_of cxx_insert wl_batch_cxx.cc)
CT=$(line_of cxx_template wl_batch_cxx.cc)
CC=$(line_of cxx_ctor wl_batch_cxx.cc)
CN=$(line_of cxx_main_new wl_batch_cxx.cc)
CMI=$(line_of cxx_main_insert wl_batch_cxx.cc)
CR=$(line_of cxx_reserve wl_batch_cxx.cc)
CV=$(line_of cxx_vector_new wl_batch_cxx.cc)
# The C++ runtime keeps a block of its own (its emergency exception pool):
# the tables are filtered to the workload's file.
expect_text "C++ -g function" \
	"$(final_of_run "$HT_TMP/cxx-fn.txt" -g function -i '*wl_batch_cxx.cc' --format stats -- "$WL_CXX")" \
	"ns::Cache::insert(int): size=6144 B, count=3, average=2048 B
ns::make_numbers(): size=2024 B, count=2, average=1012 B
double* ns::make_array<double>(unsigned long): size=1600 B, count=2, average=800 B
ns::Cache::Cache(): size=256 B, count=1, average=256 B
main: size=64 B, count=1, average=64 B"
expect_text "C++ -g line" \
	"$(final_of_run "$HT_TMP/cxx-line.txt" -i '*wl_batch_cxx.cc' -- "$WL_CXX")" \
	"Top 6 lines
#1: workloads/wl_batch_cxx.cc:$CI: 6.0 KiB
    slots_[used_++] = new char[2048]; // @cxx_insert
#2: workloads/wl_batch_cxx.cc:$CR: 2.0 KiB
    v->reserve(500); // @cxx_reserve
#3: workloads/wl_batch_cxx.cc:$CT: 1.6 KiB
    T *p = new T[n]; // @cxx_template
#4: workloads/wl_batch_cxx.cc:$CC: 0.2 KiB
    index_ = new int[64]; // @cxx_ctor
#5: workloads/wl_batch_cxx.cc:$CN: 0.1 KiB
    ns::Cache *c = new ns::Cache; // @cxx_main_new
#6: workloads/wl_batch_cxx.cc:$CV: 0.0 KiB
    auto *v = new std::vector<int>; // @cxx_vector_new
Total allocated size: 9.9 KiB"
# The vector's buffer is allocated by libstdc++'s templates, compiled into
# the workload (frames in <bits/new_allocator.h>, <vector>): as system
# frames they are skipped, and it is charged to the reserve() call above.
# Without that, the row is the header's line.
expect_eq "C++ --no-skip-system: the vector's buffer charged to libstdc++'s header" \
	"$(final_of_run "$HT_TMP/cxx-nosys.txt" --no-skip-system -k 'operator new*' --format stats -- "$WL_CXX" |
		grep -c '^bits/new_allocator.h:[0-9]*: size=2000 B, count=1,' || true)" 1
expect_text "C++ traceback of insert" \
	"$(final_of_run "$HT_TMP/cxx-tb.txt" -g traceback -i 'ns::Cache::insert*' -- "$WL_CXX" | sed -n 1,6p)" \
	"Top 1 tracebacks
#1: 3 memory blocks: 6.0 KiB
  File \"workloads/wl_batch_cxx.cc\", line $CI, in ns::Cache::insert(int)
    slots_[used_++] = new char[2048]; // @cxx_insert
  File \"workloads/wl_batch_cxx.cc\", line $CMI, in main
    c->insert(i); // @cxx_main_insert"
expect_text "C++ patterns on demangled names: -i 'ns::Cache::*'" \
	"$(final_of_run "$HT_TMP/cxx-i.txt" -g function -i 'ns::Cache::*' --format stats -- "$WL_CXX")" \
	"ns::Cache::insert(int): size=6144 B, count=3, average=2048 B
ns::Cache::Cache(): size=256 B, count=1, average=256 B"
expect_text "C++ -k 'ns::Cache::insert*': charged to main's call" \
	"$(final_of_run "$HT_TMP/cxx-k.txt" -k 'ns::Cache::insert*' -i '*wl_batch_cxx.cc' -x '*make_array*' \
		-x 'ns::Cache::Cache*' -x 'ns::make_numbers*' --format stats -- "$WL_CXX")" \
	"workloads/wl_batch_cxx.cc:$CMI: size=6144 B, count=3, average=2048 B
workloads/wl_batch_cxx.cc:$CN: size=64 B, count=1, average=64 B"
ht_run "$HT_TMP/cxx.json" -b --format json -g function -i '*make_array*' -- "$WL_CXX"
expect_eq "C++ json: the template's row (function, size, count)" \
	"$(json_final "$HT_TMP/cxx.json" | pyjson '[[r["function"], r["size"], r["count"]] for r in d["rows"]]')" \
	'[["double* ns::make_array<double>(unsigned long)", 1600, 2]]'
