# Shared by the cluster scripts (sourced, not run). Defines the pinned versions and where the
# built binaries live: a cache outside the repository, one directory per component version,
# so clean checkouts and CI runs on the same machine reuse one build.
# shellcheck shell=bash
cluster_hack_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$cluster_hack_dir/versions.env"

CACHE_DIR=${ISTIO_ROLLOUT_CACHE:-$HOME/.cache/istio-rollout}
K8S_BIN_DIR=$CACHE_DIR/k8s-$K8S_VERSION/bin
ETCD_BIN_DIR=$CACHE_DIR/etcd-$ETCD_VERSION/bin
KWOK_DIR=$CACHE_DIR/kwok-$KWOK_VERSION
KWOK_BIN_DIR=$KWOK_DIR/bin
KWOK_STAGE_DIR=$KWOK_DIR/stages

K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
# The kwok stages we run with, as paths inside the kwok module (v0.7.0 layout).
KWOK_STAGES=(
	kustomize/stage/node/fast/node-initialize.yaml
	kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
	kustomize/stage/pod/fast/pod-ready.yaml
	kustomize/stage/pod/fast/pod-complete.yaml
	kustomize/stage/pod/fast/pod-delete.yaml
)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# Prints the paths of missing components, one per line; prints nothing when all are built.
missing_components() {
	local b
	for b in "${K8S_BINARIES[@]}"; do [[ -x $K8S_BIN_DIR/$b ]] || echo "$K8S_BIN_DIR/$b"; done
	[[ -x $ETCD_BIN_DIR/etcd ]] || echo "$ETCD_BIN_DIR/etcd"
	[[ -x $KWOK_BIN_DIR/kwok ]] || echo "$KWOK_BIN_DIR/kwok"
	local s
	for s in "${KWOK_STAGES[@]}"; do [[ -f $KWOK_STAGE_DIR/$(basename "$s") ]] || echo "$KWOK_STAGE_DIR/$(basename "$s")"; done
}

ACTIONLINT_BIN_DIR=$CACHE_DIR/actionlint-$ACTIONLINT_VERSION/bin
HELM_BIN_DIR=$CACHE_DIR/helm-$HELM_VERSION/bin
PROMETHEUS_BIN_DIR=$CACHE_DIR/prometheus-$PROMETHEUS_MODULE_VERSION/bin
PUSHGATEWAY_BIN_DIR=$CACHE_DIR/pushgateway-$PUSHGATEWAY_VERSION/bin
