#!/usr/bin/env bash
# Stops every process that up.sh started (tracked by the PID files in the state dir) and
# removes the state dir. Usage: down.sh [--keep-logs]
#   --keep-logs  stop the processes but keep the state dir (logs, PKI) for a post-mortem
# Environment: ISTIO_ROLLOUT_CLUSTER_DIR (default /tmp/istio-rollout-cluster).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE_DIR=${ISTIO_ROLLOUT_CLUSTER_DIR:-/tmp/istio-rollout-cluster}
keep=false
for arg in "$@"; do
	case $arg in
	--keep-logs) keep=true ;;
	-h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg" ;;
	esac
done
[[ -d $STATE_DIR ]] || { log "nothing to stop: $STATE_DIR does not exist"; exit 0; }

# up.sh calls this while it holds the lock; only take it when called on our own.
if [[ ${FLOCKED_BY_UP:-} != 1 ]] && ! { exec 8>"$STATE_DIR.lock" && flock -w 120 8; }; then
	die "could not lock $STATE_DIR.lock"
fi

# Stop in reverse order of start: clients first, etcd last.
order=(sim-operator sim-injector kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
pids=()
for name in "${order[@]}"; do
	f=$STATE_DIR/pids/$name.pid
	[[ -f $f ]] || continue
	pid=$(cat "$f")
	# Each component runs in its own session (setsid): signal the whole process group.
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
	fi
done
deadline=$((SECONDS + 15))
for pid in "${pids[@]}"; do
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "process $pid did not stop on TERM; killing it"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
done
rm -f "$STATE_DIR"/pids/*.pid "$STATE_DIR/ready"
if $keep; then
	log "stopped ${#pids[@]} processes; kept $STATE_DIR"
else
	rm -rf "$STATE_DIR"
	log "stopped ${#pids[@]} processes; removed $STATE_DIR"
fi
