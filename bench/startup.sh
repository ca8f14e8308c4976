#!/usr/bin/env bash
# Scenario 5: start-up (`istio-rollout --version`, BENCH_STARTUP_RUNS runs, default 50) against
# `kubectl version --client` and `git --version`, and the size of the release binary.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${BENCH_STARTUP_RUNS:-50}
results=$BENCH_OUT/startup.tsv
printf 'command\twall_ms_median\twall_ms_min\tpeak_rss_kib\tsize_bytes\n' >"$results"
for cmd in rollout kubectl git; do
	case $cmd in
	rollout) argv=("$ROLLOUT" --version) bin=$ROLLOUT ;;
	kubectl) argv=("$KUBECTL" version --client) bin=$KUBECTL ;;
	git) argv=(git --version) bin=$(command -v git) ;;
	esac
	"${argv[@]}" >/dev/null # warm the page cache
	times=()
	for ((i = 0; i < runs; i++)); do
		t0=$(date +%s%N)
		"${argv[@]}" >/dev/null
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	rss=$(/usr/bin/time -f '%M' "${argv[@]}" 2>&1 >/dev/null | tail -n 1)
	med=$(printf '%s\n' "${times[@]}" | median)
	min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
	printf '%s\t%s\t%s\t%s\t%s\n' "$cmd" "$(awk -v v="$med" 'BEGIN {printf "%.2f", v/1000}')" \
		"$(awk -v v="$min" 'BEGIN {printf "%.2f", v/1000}')" "$rss" "$(stat -c %s "$bin")" >>"$results"
done
bash "$bench_dir/report.sh" startup
