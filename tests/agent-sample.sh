#!/bin/bash
# Sampling by bytes (HEAPTOP_SAMPLE): estimates of live bytes and blocks per
# site are unbiased; their standard deviation is about sqrt(T * S) for a
# site of T bytes in blocks much smaller than the interval S.  At
# S = 512 KiB a 1 GiB site is off by ~2.3% (1 sd), so 10% is a 4-sd bound
# that does not flake; blocks much larger than S are sampled almost surely
# (8 MiB blocks: p = 1 - e^-16), so their site is within 1%.  Small sites
# are too noisy to bound usefully and are not checked.  Whatever was sampled
# and freed nets to exactly zero.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

S=524288
wl_start HEAPTOP_SAMPLE=$S "$HT_WORKLOADS/wl_sample"
wl_ready
snap_live "$WL_PID" "$HT_TMP/sampled.txt"
f=$HT_TMP/sampled.txt

within "site_big bytes" "$(site_field site_big live_bytes "$f")" $((65536 * 16384)) 10
within "site_big blocks" "$(site_field site_big live_blocks "$f")" 65536 10
within "site_huge bytes" "$(site_field site_huge live_bytes "$f")" $((4 * 8 << 20)) 1
within "site_huge blocks" "$(site_field site_huge live_blocks "$f")" 4 1
within "site_calloc bytes" "$(site_field site_calloc live_bytes "$f")" $((32768 * 32768)) 10
within "site_calloc blocks" "$(site_field site_calloc live_blocks "$f")" 32768 10
within "site_realloc bytes" "$(site_field site_realloc live_bytes "$f")" $((32768 * 32768)) 10
within "site_realloc blocks" "$(site_field site_realloc live_blocks "$f")" 32768 10
expect_eq "site_churn live (sampled and freed)" "$(site_live site_churn "$f")" 0/0
expect_le "sampled stacks in the table" "$(header_field stacks "$f")" 50
agent=$(globals_field agent_bytes "$f")
echo "agent memory while sampling: $agent bytes for 231076 live blocks"

wl_continue
wl_ready
snap_live "$WL_PID" "$HT_TMP/freed.txt"
for site in site_big site_small site_huge site_calloc site_realloc site_churn; do
	expect_eq "$site live after freeing" "$(site_live $site "$HT_TMP/freed.txt")" 0/0
done
wl_continue
rc=0
wl_finish || rc=$?
expect_eq "wl_sample exit status" "$rc" 0

# heaptop says the figures are estimates.
json=$("$HT_HEAPTOP" -b -n 1 --format json --sample 512K -- "$HT_WORKLOADS/wl_sample" </dev/null 2>/dev/null | head -n 1)
expect_eq "json says sampled" "$(echo "$json" | grep -o '"sampled":[a-z]*')" '"sampled":true'
expect_eq "json gives the interval" "$(echo "$json" | grep -o '"sample_bytes":[0-9]*')" \
	"\"sample_bytes\":$S"
# HEAPTOP_SAMPLE takes --sample's suffixes; a value that cannot be read is
# said on standard error, not taken for exact mode in silence.
for v in 64K:65536 2MiB:2097152; do
	json=$(HEAPTOP_SAMPLE=${v%%:*} HEAPTOP_FINAL=$HT_TMP/suffix.snap LD_PRELOAD=$HEAPTOP_AGENT \
		"$HT_WORKLOADS/wl_basic" check >/dev/null 2>&1 &&
		"$HT_HEAPTOP" report --format json "$HT_TMP/suffix.snap" 2>/dev/null)
	expect_eq "HEAPTOP_SAMPLE=${v%%:*}: sampled every ${v#*:} bytes" \
		"$(echo "$json" | grep -o '"sample_bytes":[0-9]*')" "\"sample_bytes\":${v#*:}"
done
for v in 64Q -5 HEAPTOP_UNWIND=dwraf; do
	case $v in
	*=*) env=$v ;;
	*) env=HEAPTOP_SAMPLE=$v ;;
	esac
	env "$env" LD_PRELOAD="$HEAPTOP_AGENT" "$HT_WORKLOADS/wl_basic" check \
		2>"$HT_TMP/warn.txt" >/dev/null || true
	sed 's/^/  ! /' "$HT_TMP/warn.txt"
	expect_true "$env: said on standard error" grep -Eq \
		"^heaptop agent: ignoring ${env%%=*}='${env#*=}' \\(expected .*\\)\$" "$HT_TMP/warn.txt"
done
check_failed && exit 1
exit 0
