#!/usr/bin/env bash
# Scenario 1: `istio-rollout plan` reading the cluster, against kubectl reading the same objects,
# on the same cluster in the same run. Usage: plan.sh N...  (cluster sizes in pods, ascending)
# For each N: grows the cluster to N pods (populate.sh) with the simulated module at its default
# (Istio 1.29.3), plays the operator's upgrade (1.30.2) so that every bench pod must restart, then
# runs each command BENCH_REPEAT times, interleaved, and reports medians of wall time, peak
# RSS and API requests (LIST+GET, from the API server's apiserver_request_total).
# Baselines: `kubectl get --raw /api/v1/pods` (the bytes of every pod in one response, not
# decoded: the API server's floor), `kubectl get pods -A -o json` (the cost of merely reading the
# pods, paged by 500 like the tool) and `kubectl get <every kind the planner reads> -A -o json`
# (what README's snapshot command reads). BENCH_PLAN_BASELINES picks some (kubectl needs about
# 200 KiB of memory per pod for -o json).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
(($#)) || set -- 1000 10000
[[ -x $ROLLOUT ]] || bdie "$ROLLOUT is not built: cargo build --release --bin istio-rollout"
repo=$BENCH_OUT/desired-repo
make_desired_repo "$repo"
kinds=istios.operator.kyma-project.io,deployments,statefulsets,daemonsets,replicasets,replicationcontrollers,jobs,cronjobs,pods,poddisruptionbudgets
results=$BENCH_OUT/plan.tsv
[[ -f $results ]] || printf 'pods\tcommand\trun\twall_s\tpeak_rss_kib\trequests\texit\n' >"$results"

for n in "$@"; do
	if [[ -z ${BENCH_SKIP_POPULATE:-} ]]; then
		sim_reset
		bash "$bench_dir/populate.sh" "$n"
		sim_upgrade
	fi
	blog "plan at $n ($(available_pods) bench pods available); load: $(cut -d' ' -f1-3 /proc/loadavg)"
	sleep 5 # let the controllers settle after the upgrade
	for ((r = 1; r <= BENCH_REPEAT; r++)); do
		for cmd in plan ${BENCH_PLAN_BASELINES:-kubectl-raw kubectl-pods kubectl-all}; do
			case $cmd in
			plan) argv=("$ROLLOUT" plan --repo "$repo" --path istio --kubeconfig "$KUBECONFIG" --output json) ;;
			kubectl-raw) argv=("$KUBECTL" get --raw /api/v1/pods) ;;
			kubectl-pods) argv=("$KUBECTL" get pods -A -o json) ;;
			kubectl-all) argv=("$KUBECTL" get "$kinds" -A -o json) ;;
			esac
			api_counts >"$BENCH_OUT/api.before"
			read -r wall rss rc < <(measure "$BENCH_OUT/plan-$n-$cmd-$r" "${argv[@]}")
			api_counts >"$BENCH_OUT/api.after"
			reqs=$(api_delta "$BENCH_OUT/api.before" "$BENCH_OUT/api.after")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$cmd" "$r" "$wall" "$rss" "$reqs" "$rc" >>"$results"
			blog "$n $cmd #$r: ${wall} s, ${rss} KiB, $reqs requests, exit $rc"
		done
	done
	# Sanity: the plan lists the bench workloads for restart.
	jq -r '[.workloads[] | select(.action == "restart")] | length | "restart entries in the plan: \(.)"' \
		"$BENCH_OUT/plan-$n-plan-1.out" >&2 || true
	rm -f "$BENCH_OUT"/plan-"$n"-kubectl-*.out
done
bash "$bench_dir/report.sh" plan
