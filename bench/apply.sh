#!/usr/bin/env bash
# Scenario 3: apply throughput. BENCH_APPLY_DEPLOYMENTS (default 200) Deployments of
# BENCH_APPLY_REPLICAS (default 2) in namespace bench-apply must restart for an Istio upgrade
# (sidecars on 1.29.3, the simulated operator has moved the control plane to 1.30.2).
# Variants (BENCH_APPLY_VARIANTS, default "kubectl-loop apply-1 apply-4 apply-16"):
#   kubectl-loop  for each Deployment: kubectl rollout restart, then kubectl rollout status
#   kubectl-all   kubectl rollout restart of all at once, then kubectl rollout status of each
#                 (what the operator does itself: everything at once)
#   apply-N       istio-rollout apply --namespace bench-apply --max-concurrent N --no-apply-cr
# Before each run (not timed): the operator is reset to 1.29.3, every Deployment is restarted so
# that its pods run 1.29.3 again, then the operator upgrades to 1.30.2. While a run goes, the sum
# of the Deployments' status.unavailableReplicas is sampled every 0.5 s; its peak is reported.
# Results accumulate in target/bench/apply.tsv; runs already there are skipped (delete it to
# start over).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ns=bench-apply
count=${BENCH_APPLY_DEPLOYMENTS:-200}
replicas=${BENCH_APPLY_REPLICAS:-2}
variants=${BENCH_APPLY_VARIANTS:-kubectl-loop apply-1 apply-4 apply-16}
repo=$BENCH_OUT/desired-repo
make_desired_repo "$repo"
results=$BENCH_OUT/apply.tsv
[[ -f $results ]] || printf 'deployments\treplicas\tvariant\trun\twall_s\tpeak_unavailable\texit\n' >"$results"

deployments() { k get deployments -n "$ns" -o name; }
all_available() {
	k get deployments -n "$ns" -o jsonpath='{range .items[*]}{.metadata.generation} {.status.observedGeneration} {.status.updatedReplicas} {.status.availableReplicas} {.status.replicas}{"\n"}{end}' |
		awk -v r="$replicas" '$1 != $2 || $3 != r || $4 != r || $5 != r {bad++} END {exit bad > 0}'
}
wait_settled() {
	local t0=$SECONDS
	until all_available; do
		((SECONDS - t0 < 900)) || bdie "the Deployments in $ns did not settle in 15 min"
		sleep 2
	done
}
# Sidecars back on 1.29.3 and the operator on 1.30.2: every Deployment must restart.
prepare() {
	# The Nodes of up.sh have room for 110 pods each; 200 x 2 pods and their surge need more.
	ensure_nodes "${BENCH_NODES:-15}"
	sim_reset
	if [[ $(deployments | wc -l) -lt $count ]]; then
		{
			printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {istio-injection: enabled}\n---\n' "$ns"
			for ((i = 0; i < count; i++)); do
				printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-%03d, namespace: %s}\nspec:\n  replicas: %d\n  selector: {matchLabels: {app: web-%03d}}\n  template:\n    metadata: {labels: {app: web-%03d}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - {name: app, image: "registry.example.com/web:1", readinessProbe: {httpGet: {path: /ready, port: 8080}}}\n---\n' \
					"$i" "$ns" "$replicas" "$i" "$i"
			done
		} | k apply --server-side -f - >/dev/null
	else
		# kubectl refuses a restart within a second of the previous one (the run just before).
		local tries=0
		until k rollout restart deployment -n "$ns" >/dev/null; do
			((++tries < 10)) || bdie "kubectl rollout restart in $ns kept failing"
			sleep 2
		done
	fi
	wait_settled
	sim_upgrade
	sleep 2
}
# sample_unavailable FILE: writes the peak to FILE until killed
sample_unavailable() {
	local peak=0 u
	while :; do
		u=$(k get deployments -n "$ns" -o jsonpath='{range .items[*]}{.status.unavailableReplicas}{"\n"}{end}' 2>/dev/null | awk '{s += $1} END {print s + 0}')
		((u > peak)) && peak=$u && echo "$peak" >"$1"
		sleep 0.5
	done
}

for ((r = 1; r <= BENCH_REPEAT; r++)); do
	for v in $variants; do
		# A run already in the results (an interrupted benchmark started again) is not repeated.
		if awk -F'\t' -v d="$count" -v p="$replicas" -v v="$v" -v r="$r" '$1 == d && $2 == p && $3 == v && $4 == r {found = 1} END {exit !found}' "$results"; then
			continue
		fi
		prepare
		blog "apply: $v #$r ($count Deployments x $replicas; load $(cut -d' ' -f1-3 /proc/loadavg))"
		echo 0 >"$BENCH_OUT/apply.peak"
		sample_unavailable "$BENCH_OUT/apply.peak" &
		sampler=$!
		t0=$(now)
		rc=0
		case $v in
		kubectl-loop)
			for d in $(deployments); do
				k rollout restart -n "$ns" "$d" >/dev/null && k rollout status -n "$ns" "$d" --timeout=5m >/dev/null || rc=$?
			done
			;;
		kubectl-all)
			k rollout restart deployment -n "$ns" >/dev/null || rc=$?
			for d in $(deployments); do k rollout status -n "$ns" "$d" --timeout=10m >/dev/null || rc=$?; done
			;;
		apply-*)
			"$ROLLOUT" apply --repo "$repo" --path istio --kubeconfig "$KUBECONFIG" --namespace "$ns" \
				--no-apply-cr --max-concurrent "${v#apply-}" --timeout 5m --output json \
				>"$BENCH_OUT/apply-$v-$r.json" 2>"$BENCH_OUT/apply-$v-$r.err" || rc=$?
			;;
		esac
		t1=$(now)
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
		wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}')
		peak=$(cat "$BENCH_OUT/apply.peak")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$count" "$replicas" "$v" "$r" "$wall" "$peak" "$rc" >>"$results"
		blog "apply: $v #$r: $wall s, peak unavailable $peak, exit $rc"
	done
done
# The next scenario (plan) counts every pod of the cluster: leave none behind.
k delete namespace "$ns" --timeout=5m >/dev/null || blog "namespace $ns was not deleted within 5 min"
bash "$bench_dir/report.sh" apply
