#!/usr/bin/env bash
# The listing experiment of BENCHMARKS.md (benches/cluster_list.rs) against the benchmark
# cluster: every variant and page size in a process of its own, BENCH_REPEAT times; prints the
# raw rows and a table of medians.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_dir"
cargo bench --locked --bench cluster_list --no-run >/dev/null 2>&1
out=$BENCH_OUT/list.tsv
printf 'variant\tpage\trun\tpods\trequests\twall_s\tpeak_rss_growth_kib\tbase_rss_kib\tprocess_peak_kib\n' >"$out"
for ((r = 1; r <= BENCH_REPEAT; r++)); do
	for page in ${BENCH_LIST_PAGES:-500 0}; do
		for v in typed typed-rv0 slim; do
			BENCH_REPEAT=1 BENCH_LIST_PAGE=$page BENCH_LIST_VARIANTS=$v cargo bench --locked -q --bench cluster_list 2>/dev/null | tail -n +2 | tee -a "$out" >&2
		done
	done
done
bash "$bench_dir/report.sh" list
