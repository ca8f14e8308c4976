#!/usr/bin/env bash
# Runs the pinned kubectl against the running test cluster, e.g. `hack/cluster/kubectl.sh get pods -A`.
# Environment: ISTIO_ROLLOUT_CLUSTER_DIR (default /tmp/istio-rollout-cluster).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE_DIR=${ISTIO_ROLLOUT_CLUSTER_DIR:-/tmp/istio-rollout-cluster}
[[ -x $K8S_BIN_DIR/kubectl ]] || die "kubectl is not built: just cluster-build"
[[ -f $STATE_DIR/kubeconfig ]] || die "no cluster in $STATE_DIR: just cluster-up"
exec "$K8S_BIN_DIR/kubectl" --kubeconfig "$STATE_DIR/kubeconfig" "$@"
