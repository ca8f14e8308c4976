#!/usr/bin/env bash
# Runs a command against a throwaway test cluster: builds what the cluster needs (the pinned
# control-plane binaries once, hack/cluster/build.sh; the sim-istio binary), starts a cluster in
# a fresh state dir of its own, runs the command, prints the tails of the cluster's logs if the
# command fails, always stops the cluster, and exits with the command's exit code.
# Usage: with-cluster.sh [--name NAME] [--] COMMAND [ARG...]
#   --name NAME  prefix of the state dir, ${TMPDIR:-/tmp}/NAME.XXXXXX (default istio-rollout-test)
# The command gets: ISTIO_ROLLOUT_TEST_KUBECONFIG (the admin kubeconfig, which the tests'
#   Cluster::shared() connects to), ISTIO_ROLLOUT_CLUSTER_DIR (the state dir: logs/, pki/) and
#   ISTIO_ROLLOUT_SIM_ISTIO (the sim-istio binary).
# Environment: ISTIO_ROLLOUT_SIM_ISTIO (a built sim-istio; default: built here with cargo),
#   CARGO_TARGET_DIR, and what up.sh reads (ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS,
#   ISTIO_ROLLOUT_MODULE_VERSION, ISTIO_ROLLOUT_ISTIO_VERSION, ISTIO_ROLLOUT_CACHE, ...).
#   An ISTIO_ROLLOUT_CLUSTER_DIR of the caller is not used: this never touches a cluster that
#   `just cluster-up` started.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
repo_dir=$(cd "$cluster_hack_dir/../.." && pwd)

name=istio-rollout-test
while (($#)); do
	case $1 in
	--name) name=${2:?--name needs a value}; shift ;;
	--) shift; break ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option: $1 (see with-cluster.sh --help)" ;;
	*) break ;;
	esac
	shift
done
(($#)) || die "no command given (usage: with-cluster.sh [--name NAME] [--] COMMAND [ARG...])"

bash "$cluster_hack_dir/build.sh"
if [[ -z ${ISTIO_ROLLOUT_SIM_ISTIO:-} ]]; then
	(cd "$repo_dir" && cargo build --locked --quiet -p istio-rollout-testenv --bin sim-istio)
	target=${CARGO_TARGET_DIR:-target}
	[[ $target == /* ]] || target=$repo_dir/$target
	ISTIO_ROLLOUT_SIM_ISTIO=$target/debug/sim-istio
fi
[[ -x $ISTIO_ROLLOUT_SIM_ISTIO ]] || die "sim-istio binary not found at $ISTIO_ROLLOUT_SIM_ISTIO"
ISTIO_ROLLOUT_SIM_ISTIO=$(realpath "$ISTIO_ROLLOUT_SIM_ISTIO")
export ISTIO_ROLLOUT_SIM_ISTIO

ISTIO_ROLLOUT_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
export ISTIO_ROLLOUT_CLUSTER_DIR
stop() {
	local code=$?
	bash "$cluster_hack_dir/down.sh" || true
	rm -rf "$ISTIO_ROLLOUT_CLUSTER_DIR" "$ISTIO_ROLLOUT_CLUSTER_DIR.lock"
	exit "$code"
}
# An interrupt ends the script through the EXIT trap too, so the cluster never outlives it.
trap 'exit 130' INT
trap 'exit 143' TERM
trap stop EXIT

logs_tail() {
	local f
	for f in "$ISTIO_ROLLOUT_CLUSTER_DIR"/logs/*.log; do
		[[ -f $f ]] || continue
		printf '\n[cluster] ---- last lines of %s ----\n' "$f" >&2
		tail -n 30 "$f" >&2 || true
	done
}

if ! line=$(bash "$cluster_hack_dir/up.sh" | tail -n 1) || [[ $line != KUBECONFIG=* ]]; then
	logs_tail
	die "the test cluster did not start (up.sh printed: ${line:-nothing})"
fi
export ISTIO_ROLLOUT_TEST_KUBECONFIG=${line#KUBECONFIG=}
[[ -f $ISTIO_ROLLOUT_TEST_KUBECONFIG ]] || die "up.sh printed $line, but there is no such file"

log "running: $*"
set +e
"$@"
rc=$?
set -e
if ((rc != 0)); then
	log "the command exited $rc; the cluster's logs end with:"
	logs_tail
fi
exit "$rc"
