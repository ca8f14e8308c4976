#!/usr/bin/env bash
# Restarts the test cluster's kube-apiserver with the same arguments, for the chaos tests: stops
# it (SIGTERM to its process group), keeps it down for DOWN_SECONDS (default 2), starts it again
# and waits until /readyz answers. Usage: restart-apiserver.sh [DOWN_SECONDS]
# Environment: ISTIO_ROLLOUT_CLUSTER_DIR (default /tmp/istio-rollout-cluster).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE_DIR=${ISTIO_ROLLOUT_CLUSTER_DIR:-/tmp/istio-rollout-cluster}
down=${1:-2}
[[ $down =~ ^[0-9]+$ ]] || die "DOWN_SECONDS must be a whole number of seconds, not '$down'"
pidfile=$STATE_DIR/pids/kube-apiserver.pid
[[ -f $pidfile ]] || die "no kube-apiserver in $STATE_DIR (start one with hack/cluster/up.sh)"
pid=$(cat "$pidfile")
kill -0 "$pid" 2>/dev/null || die "kube-apiserver (pid $pid) is not running"
mapfile -d '' args <"/proc/$pid/cmdline"
port=
for a in "${args[@]}"; do [[ $a == --secure-port=* ]] && port=${a#--secure-port=}; done
[[ -n $port ]] || die "could not read kube-apiserver's --secure-port from /proc/$pid/cmdline"

kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
deadline=$((SECONDS + 30))
while kill -0 "$pid" 2>/dev/null; do
	((SECONDS < deadline)) || { kill -KILL -- "-$pid" 2>/dev/null || true; break; }
	sleep 0.1
done
log "kube-apiserver stopped; down for ${down}s"
sleep "$down"
setsid "${args[@]}" </dev/null >>"$STATE_DIR/logs/kube-apiserver.log" 2>&1 &
echo $! >"$pidfile"
start=$SECONDS
until curl -sfk --max-time 2 "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
	((SECONDS - start < 60)) || die "kube-apiserver did not become ready within 60 s; see $STATE_DIR/logs/kube-apiserver.log"
	sleep 0.2
done
log "kube-apiserver ready again ($((SECONDS - start)) s)"
