#!/bin/bash
# Rust (wl_rust.rs, built here by rustc): Rust's standard library is
# compiled into the program and makes every allocation, in a debug build
# partly in functions without line tables (rustup's std).  The program
# must run to its end (its runtime calls pthread_getattr_np before
# anything else, and in every thread), and its
# blocks be charged to its own lines and functions, named as Rust writes
# them.  Skipped without rustc (quickstart.sh installs Debian's).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/batch-lib.sh"
require_tool rustc
HT_TIMEOUT=30

V=$(line_of rs_vec wl_rust.rs)
BX=$(line_of rs_box wl_rust.rs)
S=$(line_of rs_string wl_rust.rs)
T=$(line_of rs_thread wl_rust.rs)
SP=$(line_of rs_spawn wl_rust.rs)
echo "rustc: $(rustc --version)"

for opt in 0 2; do
	bin=$HT_TMP/wl_rust$opt
	rustc -g -C opt-level=$opt -o "$bin" "$WL_SRC/wl_rust.rs"
	# (Not --unwind fp: Rust's std is shipped without frame pointers.)
	for unwind in dwarf libunwind; do
		echo "== opt-level=$opt, --unwind $unwind"
		# (The spawn line's blocks are the C library's, for the thread.)
		expect_text "opt-level=$opt, $unwind: lines" \
			"$(final_of_run "$HT_TMP/lines-$opt-$unwind.txt" --unwind $unwind \
				-i '*wl_rust.rs' --format stats -- "$bin" | grep -v "wl_rust.rs:$SP: ")" \
			"workloads/wl_rust.rs:$V: size=2000 B, count=1, average=2000 B
workloads/wl_rust.rs:$T: size=800 B, count=1, average=800 B
workloads/wl_rust.rs:$BX: size=192 B, count=3, average=64 B
workloads/wl_rust.rs:$S: size=100 B, count=1, average=100 B"
	done
	expect_text "opt-level=$opt: functions" \
		"$(final_of_run "$HT_TMP/fn-$opt.txt" -g function -i 'wl_rust::*' \
			-x 'wl_rust::main' --format stats -- "$bin")" \
		"wl_rust::keep_numbers: size=2000 B, count=1, average=2000 B
wl_rust::thread_numbers: size=800 B, count=1, average=800 B
wl_rust::keep_boxes: size=192 B, count=3, average=64 B
wl_rust::keep_text: size=100 B, count=1, average=100 B"
done

# Without debug information (a release build): functions only, std's
# frames found by their names.
rustc -C opt-level=3 -o "$HT_TMP/wl_rust_release" "$WL_SRC/wl_rust.rs"
expect_text "release build: functions" \
	"$(final_of_run "$HT_TMP/fn-release.txt" -g function -i 'wl_rust::*' \
		-x 'wl_rust::main' --format stats -- "$HT_TMP/wl_rust_release")" \
	"wl_rust::keep_numbers: size=2000 B, count=1, average=2000 B
wl_rust::thread_numbers: size=800 B, count=1, average=800 B
wl_rust::keep_boxes: size=192 B, count=3, average=64 B
wl_rust::keep_text: size=100 B, count=1, average=100 B"

# Without skipping system frames the blocks are charged to Rust's own
# allocation code (library/alloc/src/alloc.rs), none to the program's lines.
final_of_run "$HT_TMP/nosys.txt" --no-skip-system --format stats -- "$HT_TMP/wl_rust2" \
	>"$HT_TMP/nosys.rows"
expect_eq "--no-skip-system: rows in alloc.rs" \
	"$(grep -c -E '^src/alloc\.rs:[0-9]+: ' "$HT_TMP/nosys.rows" || true)" 1
expect_eq "--no-skip-system: rows in wl_rust.rs" \
	"$(grep -c 'wl_rust\.rs' "$HT_TMP/nosys.rows" || true)" 0
