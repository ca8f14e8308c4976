#!/usr/bin/env bash
# Grows the benchmark cluster to about N injected pods (idempotent; only adds), then waits until
# they run. Usage: populate.sh N
#   Nodes: BENCH_NODES (default 15) kwok Nodes with room for 5,000 pods and a /16 pod CIDR each.
#   Mix: DaemonSets (BENCH_DAEMONSETS, default 2: one pod per Node), 5 Jobs of one pod (kwok
#   completes them at once: they stay as Succeeded pods, which the planner ignores), 40% of the
#   rest in StatefulSets of 50 (podManagementPolicy Parallel), the remainder in Deployments of
#   100, spread over BENCH_NAMESPACES (default 10) namespaces labelled istio-injection=enabled.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
target=${1:?usage: populate.sh N}
nodes=${BENCH_NODES:-15}
namespaces=${BENCH_NAMESPACES:-10}
daemonsets=${BENCH_DAEMONSETS:-2}
jobs=5
sts_size=50
deploy_size=100

ensure_nodes "$nodes"

ds_pods=$((daemonsets * nodes))
rest=$((target - ds_pods - jobs))
((rest > 0)) || bdie "N=$target is too small for $ds_pods DaemonSet pods"
n_sts=$((rest * 40 / 100 / sts_size))
sts_pods=$((n_sts * sts_size))
deploy_pods=$((rest - sts_pods))
n_deploy=$((deploy_pods / deploy_size))
deploy_rest=$((deploy_pods % deploy_size))
blog "target $target pods: $n_deploy Deployments x $deploy_size + 1 x $deploy_rest, $n_sts StatefulSets x $sts_size, $daemonsets DaemonSets x $nodes Nodes, $jobs Jobs"

ns() { printf 'bench-%02d' $(($1 % namespaces)); }
template() { # NAME
	cat <<TPL
    metadata:
      labels: {app: $1, tier: bench}
      annotations: {team: platform, cost-center: "4711"}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: registry.example.com/bench/app:1.0.0
        ports: [{containerPort: 8080, name: http}]
        env: [{name: MODE, value: bench}, {name: LOG_LEVEL, value: info}]
        resources: {requests: {cpu: 1m, memory: 4Mi}, limits: {memory: 64Mi}}
        readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 10}
TPL
}
{
	for ((i = 0; i < namespaces; i++)); do
		printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {istio-injection: enabled}\n---\n' "$(ns "$i")"
	done
	for ((i = 0; i < daemonsets; i++)); do
		printf 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds-%d, namespace: %s}\nspec:\n  selector: {matchLabels: {app: ds-%d}}\n  template:\n' "$i" "$(ns "$i")" "$i"
		template "ds-$i"
		echo ---
	done
	for ((i = 0; i < jobs; i++)); do
		printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: job-%d, namespace: %s}\nspec:\n  template:\n' "$i" "$(ns "$i")"
		template "job-$i" | sed 's/^    spec:$/    spec:\n      restartPolicy: Never/'
		echo ---
	done
	for ((i = 0; i < n_sts; i++)); do
		name=$(printf 'sts-%04d' "$i")
		printf 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: %s, namespace: %s}\nspec:\n  replicas: %d\n  serviceName: %s\n  podManagementPolicy: Parallel\n  selector: {matchLabels: {app: %s}}\n  template:\n' \
			"$name" "$(ns "$i")" "$sts_size" "$name" "$name"
		template "$name"
		echo ---
	done
	for ((i = 0; i <= n_deploy; i++)); do
		replicas=$deploy_size name=$(printf 'deploy-%04d' "$i")
		if ((i == n_deploy)); then replicas=$deploy_rest name=deploy-rest; fi
		printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  replicas: %d\n  selector: {matchLabels: {app: %s}}\n  template:\n' \
			"$name" "$(ns "$i")" "$replicas" "$name"
		template "$name"
		echo ---
	done
} >"$BENCH_OUT/workloads.yaml"
# Namespaces first: the rest needs them.
k apply -f "$BENCH_OUT/workloads.yaml" --server-side --force-conflicts >/dev/null 2>&1 || k apply -f "$BENCH_OUT/workloads.yaml" --server-side --force-conflicts >/dev/null

want=$((target - jobs))
t0=$SECONDS
while :; do
	ready=$(available_pods)
	if ((ready >= want)); then break; fi
	blog "$ready of $want pods ready ($((SECONDS - t0)) s)"
	sleep 10
done
blog "$ready pods ready after $((SECONDS - t0)) s"
echo "$((SECONDS - t0))" >"$BENCH_OUT/populate-$target.seconds"
