#!/usr/bin/env bash
# `just bench`: every scenario of BENCHMARKS.md, tables to stdout and target/bench/report.md.
# Usage: run.sh [SCENARIO...]   scenarios: planner apply plan git startup (default: all, in this
# order: apply on a cluster without the plan scenario's pods, which it leaves behind)
# Environment:
#   BENCH_SIZES        cluster sizes in pods for `plan` (default "1000 10000"; add 50000 on a
#                      machine that holds it: populating takes about 30 pods/s on 2 cores)
#   BENCH_REPEAT       runs per measurement (default 3; medians are reported)
#   BENCH_PODS         synthetic pods of the planner bench (default 100000)
#   BENCH_APPLY_*, BENCH_GIT_*, BENCH_STARTUP_RUNS: see apply.sh, git.sh, startup.sh
#   BENCH_KUBECONFIG   use this cluster instead of starting one (it must run the simulated Istio)
#   BENCH_CLIENT_QPS   client rate limit of the controller manager and scheduler of the cluster
#                      started here (default 200 requests/s; theirs is 20 and 50): pods are
#                      created faster; the cluster is idle again when anything is measured
# The cluster started here (for plan and apply, without BENCH_KUBECONFIG) lives in a fresh state dir
# ${TMPDIR:-/tmp}/istio-rollout-bench.XXXXXX (hack/cluster/with-cluster.sh), stopped at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
(($#)) || set -- planner apply plan git startup
cd "$repo_dir"
report=$BENCH_OUT/report.md
# BENCH_STARTED: this run was started again by hack/cluster/with-cluster.sh, below; built already.
if [[ -z ${BENCH_STARTED:-} ]]; then
	blog "building the release binary and sim-istio"
	cargo build --release --locked --bin istio-rollout
	cargo build --locked -p istio-rollout-testenv --bin sim-istio
	{
		echo "# benchmark run $(date -u +%FT%TZ)"
		echo
		machine_info | sed 's/^/- /'
		echo
	} >"$report"
fi

needs_cluster=false
for s in "$@"; do [[ $s == plan || $s == apply ]] && needs_cluster=true; done
if $needs_cluster && [[ -z ${BENCH_KUBECONFIG:-} ]]; then
	# Run the scenarios again inside with-cluster.sh, which starts the cluster, and stops it when
	# they end, however they end; its kubeconfig becomes BENCH_KUBECONFIG.
	export BENCH_STARTED=1
	export ISTIO_ROLLOUT_SIM_ISTIO=$SIM
	export ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS=${BENCH_CLIENT_QPS:-200}
	# shellcheck disable=SC2016 # expanded by the inner shell, once the cluster runs
	exec bash hack/cluster/with-cluster.sh --name istio-rollout-bench \
		bash -c 'BENCH_KUBECONFIG=$ISTIO_ROLLOUT_TEST_KUBECONFIG exec bash "$0" "$@"' "$bench_dir/run.sh" "$@"
fi

for s in "$@"; do
	case $s in
	planner)
		cargo bench --locked --bench planner 2>&1 | tee "$BENCH_OUT/planner.txt"
		{
			echo "## planner (criterion)"
			echo
			grep -E '^planner/|time:|thrpt:' "$BENCH_OUT/planner.txt" | sed 's/^/    /'
			echo
		} >>"$report"
		;;
	plan | apply | git | startup)
		rm -f "$BENCH_OUT/$s.tsv"
		# shellcheck disable=SC2086
		case $s in
		plan) bash "$bench_dir/plan.sh" ${BENCH_SIZES:-1000 10000} ;;
		*) bash "$bench_dir/$s.sh" ;;
		esac
		{
			echo "## $s"
			echo
			bash "$bench_dir/report.sh" "$s"
			echo
		} >>"$report"
		;;
	*) bdie "unknown scenario: $s (planner plan apply git startup)" ;;
	esac
done
cat "$report"
