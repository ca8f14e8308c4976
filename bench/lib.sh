# Shared by the benchmark scripts (sourced, not run).
# shellcheck shell=bash
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$bench_dir/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../hack/cluster/lib.sh
source "$repo_dir/hack/cluster/lib.sh"

# A state dir of its own, so the benchmark never touches a test cluster.
export ISTIO_ROLLOUT_CLUSTER_DIR=${ISTIO_ROLLOUT_CLUSTER_DIR:-/tmp/istio-rollout-bench}
export KUBECONFIG=${BENCH_KUBECONFIG:-$ISTIO_ROLLOUT_CLUSTER_DIR/kubeconfig}
KUBECTL=${BENCH_KUBECTL:-$K8S_BIN_DIR/kubectl}
ROLLOUT=${BENCH_ROLLOUT:-$repo_dir/target/release/istio-rollout}
SIM=${ISTIO_ROLLOUT_SIM_ISTIO:-$repo_dir/target/debug/sim-istio}
BENCH_OUT=${BENCH_OUT:-$repo_dir/target/bench}
BENCH_REPEAT=${BENCH_REPEAT:-3}
mkdir -p "$BENCH_OUT"

k() { "$KUBECTL" "$@"; }
blog() { printf '[bench] %s\n' "$*" >&2; }
bdie() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# median of the numbers on stdin (one per line)
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1; if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# now: seconds since the epoch with nanoseconds
now() { date +%s.%N; }

# measure OUT_PREFIX COMMAND...: runs COMMAND under GNU time, stdout to OUT_PREFIX.out; prints
# "<wall seconds> <peak RSS KiB> <exit code>".
measure() {
	local prefix=$1 t0 t1 rc
	shift
	t0=$(now)
	/usr/bin/time -f '%M' -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err" && rc=0 || rc=$?
	t1=$(now)
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}') $(tail -n 1 "$prefix.time") $rc"
}

# The API server's request counters as "verb resource count" lines (LIST and GET only: the
# controllers and kwok, idle, only WATCH, UPDATE and PATCH, so these are the reader's requests).
api_counts() {
	k get --raw /metrics | awk '
		/^apiserver_request_total\{/ {
			verb = ""; res = ""
			if (match($0, /verb="[A-Z]+"/)) verb = substr($0, RSTART + 6, RLENGTH - 7)
			if (match($0, /resource="[^"]*"/)) res = substr($0, RSTART + 10, RLENGTH - 11)
			if (verb == "LIST" || verb == "GET") n[verb " " res] += $NF
		}
		END { for (key in n) print key, n[key] }'
}
# api_delta BEFORE_FILE AFTER_FILE: total LIST+GET requests in between, minus the one GET of
# /metrics itself (non-resource requests are not in apiserver_request_total anyway).
api_delta() {
	awk 'NR == FNR {b[$1 " " $2] = $3; next} {d += $3 - b[$1 " " $2]} END {print d + 0}' "$1" "$2"
}

# make_desired_repo DIR [MODULE]: a git repository whose istio/ holds an Istio CR that sets
# nothing and ISTIO_MODULE_VERSION (default 1.28.0, i.e. Istio 1.30.2).
make_desired_repo() {
	local dir=$1 module=${2:-1.28.0}
	rm -rf "$dir"
	mkdir -p "$dir/istio"
	printf 'apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec: {}\n' >"$dir/istio/cr.yaml"
	echo "$module" >"$dir/istio/ISTIO_MODULE_VERSION"
	git -C "$dir" init -q -b main
	git -C "$dir" add istio
	git -C "$dir" -c user.name=bench -c user.email=bench@example.com commit -q -m "module $module"
}

# The simulated operator: reset (module 1.27.4 / Istio 1.29.3) or upgrade (1.28.0 / 1.30.2).
# Each attempt waits up to 60 s for the control plane's rollout; on a cluster of 50,000 pods the
# old istiod pod can take longer to go, so a few attempts.
sim_retry() {
	local i
	for ((i = 1; i < 5; i++)); do
		"$SIM" "$@" --kubeconfig "$KUBECONFIG" >/dev/null 2>&1 && return 0
		blog "sim-istio $1: attempt $i did not finish; again"
	done
	"$SIM" "$@" --kubeconfig "$KUBECONFIG"
}
sim_reset() { sim_retry reset; }
sim_upgrade() { sim_retry upgrade --module-version 1.28.0 --istio-version 1.30.2; }

# machine_info: one line per fact, for BENCHMARKS.md.
machine_info() {
	echo "cpu: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "load (1/5/15 min) at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kubectl: $(k version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -1)"
	echo "istio-rollout: $("$ROLLOUT" --version) ($(git -C "$repo_dir" rev-parse --short HEAD))"
}

# ensure_nodes N: N kwok Nodes (kwok-node-0 .. N-1) with room for 5,000 pods and a /16 pod CIDR
# each; the three of up.sh get them too (kwok keeps whatever capacity a Node has, 110 pods by
# up.sh, and without a pod CIDR it hands out pod IPs from one /24). Only adds; idempotent.
ensure_nodes() {
	local nodes=$1 i new_nodes=""
	local room='{"cpu":"1000","memory":"4Ti","pods":"5000"}'
	for ((i = 0; i < nodes; i++)); do
		if k get node "kwok-node-$i" >/dev/null 2>&1; then continue; fi
		new_nodes+="apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, topology.kubernetes.io/zone: zone-$((i % 3))}
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: \"0\"}
spec: {podCIDR: 10.$((100 + i)).0.0/16}
status: {allocatable: $room, capacity: $room}
---
"
	done
	if [[ -n $new_nodes ]]; then k apply -f - <<<"$new_nodes" >/dev/null; fi
	for ((i = 0; i < nodes; i++)); do
		if [[ -z $(k get node "kwok-node-$i" -o jsonpath='{.spec.podCIDR}') ]]; then
			k patch node "kwok-node-$i" --type merge -p "{\"spec\":{\"podCIDR\":\"10.$((100 + i)).0.0/16\"}}" >/dev/null
		fi
		k patch node "kwok-node-$i" --subresource=status --type merge \
			-p "{\"status\":{\"allocatable\":$room,\"capacity\":$room}}" >/dev/null
	done
	k wait --for=condition=Ready node --all --timeout=120s >/dev/null
}

# available_pods: the bench workloads' available pods, as their status counts them (namespaces
# bench-00 ...). Listing the pods themselves takes the API server longer and longer as they grow
# (39 s for 13,000 pods while it creates them), and its object-count metric lags up to a minute.
available_pods() {
	{
		k get deployments,statefulsets -A -o jsonpath='{range .items[*]}{.metadata.namespace} {.status.availableReplicas}{"\n"}{end}'
		k get daemonsets -A -o jsonpath='{range .items[*]}{.metadata.namespace} {.status.numberAvailable}{"\n"}{end}'
	} 2>/dev/null | awk '$1 ~ /^bench-[0-9]+$/ {n += $2} END {print n + 0}'
}
