#!/bin/sh
# heaptop quick start, for a fresh Debian 12 machine.
#
#   sh contrib/quickstart.sh demo   build, then open heaptop on the demo program
#   sh contrib/quickstart.sh test   build, then run the whole test suite
#
# Missing system packages are installed with apt-get (through sudo when not
# root). The build goes to ./build (and ./build-san for the sanitizer run).
set -eu

mode=${1:-demo}
case $mode in
demo | test) ;;
*) echo "usage: sh contrib/quickstart.sh demo|test" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# What building needs, and what the tests compare against.
build_pkgs="gcc g++ make autoconf automake libtool pkg-config libunwind-dev libdw-dev
libncurses-dev libinih-dev check"
test_pkgs="valgrind sqlite3 python3 tmux libjemalloc-dev libtcmalloc-minimal4 cppcheck procps rustc"

install_missing() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "quickstart: installing$missing" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# shellcheck disable=SC2086
if [ "$mode" = test ]; then install_missing $build_pkgs $test_pkgs; else install_missing $build_pkgs; fi

jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR CONFIGURE-FLAGS...
	dir=$1
	shift
	[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
		autoreconf -fi >/dev/null
	mkdir -p "$dir"
	(cd "$dir" && { [ -f Makefile ] && [ config.status -nt "$top/configure" ] ||
		"$top/configure" -q "$@"; } && make -s -j"$jobs")
}

if [ "$mode" = demo ]; then
	build build
	exec ./build/heaptop --demo
fi

# The test suite: everything once, then the viewer and the unit tests again
# under AddressSanitizer and UBSan (the agent is never sanitized: a
# sanitizer replaces malloc itself), then the packaging check.
status=0
build build --enable-werror
(cd build && make -s -j"$jobs" check) || status=1
build build-san --enable-werror --enable-asan --enable-ubsan
(cd build-san && make -s -j"$jobs" check-sanitized) || status=1
(cd build && make -s distcheck-quick) || status=1

# One line for CI: the totals of every test-suite log.
passed=0
failed=0
for log in build/test-suite.log build-san/test-suite.log build/distcheck-check.log; do
	[ -f "$log" ] || continue
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
	f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$log" | awk '{s += $1} END {print s + 0}')
	passed=$((passed + ${p:-0}))
	failed=$((failed + f))
done
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
