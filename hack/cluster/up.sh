#!/usr/bin/env bash
# Starts a throwaway, real Kubernetes control plane on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok (simulated kubelets for a few Nodes) and a
# simulated Kyma Istio module (CRD, Istio CR, istiod/gateway/manager Deployments and a sidecar
# injector webhook). Fresh data dir and PKI on every start. The last line of output is
#   KUBECONFIG=<path>
# Usage: up.sh [--reuse] [--nodes N] [--no-istio] [--operator MODE]
#   --reuse     if a cluster is already running in the state dir and healthy, print its
#               KUBECONFIG line and exit (otherwise start a new one)
#   --nodes N   number of simulated Nodes (default 3)
#   --no-istio  start the bare control plane only
#   --operator MODE  the simulated operator (`sim-istio operator`, cluster-wide): passive (the
#               default: it does nothing, tests play the operator by hand), autonomous (it
#               reconciles like the real one), off (not started); ISTIO_ROLLOUT_SIM_OPERATOR too
# Environment: ISTIO_ROLLOUT_CLUSTER_DIR (state dir, default /tmp/istio-rollout-cluster),
#   ISTIO_ROLLOUT_CACHE (built binaries), ISTIO_ROLLOUT_CRD (Istio CRD file, default
#   manifests/crd/istios.operator.kyma-project.io.yaml), ISTIO_ROLLOUT_SIM_ISTIO (a built
#   sim-istio binary; default: built with cargo), ISTIO_ROLLOUT_MODULE_VERSION and
#   ISTIO_ROLLOUT_ISTIO_VERSION (the simulated installed versions), ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS
#   (client rate limit of the controller manager and the scheduler, requests/s; default: theirs,
#   20 and 50; the benchmarks raise it to create pods faster), ISTIO_ROLLOUT_SIM_OPERATOR (see
#   --operator), ISTIO_ROLLOUT_SIM_OPERATOR_ARGS (more flags for it, e.g. "--requeue-warning 5s").
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
repo_dir=$(cd "$cluster_hack_dir/../.." && pwd)

STATE_DIR=${ISTIO_ROLLOUT_CLUSTER_DIR:-/tmp/istio-rollout-cluster}
reuse=false
nodes=3
istio=true
operator_mode=${ISTIO_ROLLOUT_SIM_OPERATOR:-passive}
while (($#)); do
	case $1 in
	--reuse) reuse=true ;;
	--nodes) nodes=${2:?--nodes needs a number}; shift ;;
	--no-istio) istio=false ;;
	--operator) operator_mode=${2:?--operator needs passive, autonomous or off}; shift ;;
	-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $1 (see up.sh --help)" ;;
	esac
	shift
done
if ! [[ $nodes =~ ^[0-9]+$ ]] || ((nodes < 1)); then die "--nodes must be a positive number"; fi
case $operator_mode in passive | autonomous | off) ;; *) die "--operator (ISTIO_ROLLOUT_SIM_OPERATOR) must be passive, autonomous or off, not '$operator_mode'" ;; esac

mkdir -p "$STATE_DIR"
# One up/down at a time per state dir (parallel test binaries may all try to start it).
exec 8>"$STATE_DIR.lock"
flock 8

kubeconfig=$STATE_DIR/kubeconfig
kubectl=$K8S_BIN_DIR/kubectl

running_pids() {
	local f
	for f in "$STATE_DIR"/pids/*.pid; do
		[[ -f $f ]] || continue
		kill -0 "$(cat "$f")" 2>/dev/null && basename "$f" .pid
	done
	return 0
}

if [[ -n $(running_pids) ]]; then
	if $reuse && [[ -f $STATE_DIR/ready ]] && "$kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
		log "reusing the cluster already running in $STATE_DIR"
		echo "KUBECONFIG=$kubeconfig"
		exit 0
	fi
	die "a cluster is already running in $STATE_DIR ($(running_pids | tr '\n' ' ')); stop it first: hack/cluster/down.sh (just cluster-down)"
fi

missing=$(missing_components)
if [[ -n $missing ]]; then
	die "control-plane binaries are not built:
$missing
build them first (about 8 min on 2 cores, once; cached afterwards): just cluster-build   (or: bash hack/cluster/build.sh)"
fi

crd_file=${ISTIO_ROLLOUT_CRD:-$repo_dir/manifests/crd/istios.operator.kyma-project.io.yaml}
if $istio && [[ ! -f $crd_file ]]; then
	die "the Istio CRD $crd_file does not exist (the main crate generates it; ISTIO_ROLLOUT_CRD=<file> overrides)"
fi

# The simulated Istio binary is resolved (built) before anything starts, so a missing one fails fast.
if $istio; then
	sim=${ISTIO_ROLLOUT_SIM_ISTIO:-}
	if [[ -z $sim ]]; then
		log "building sim-istio (cargo)"
		(cd "$repo_dir" && cargo build --quiet -p istio-rollout-testenv --bin sim-istio)
		sim=${CARGO_TARGET_DIR:-$repo_dir/target}/debug/sim-istio
	fi
	[[ -x $sim ]] || die "sim-istio binary not found at $sim"
	sim=$(realpath "$sim")
fi

start=$SECONDS
rm -rf "${STATE_DIR:?}"/*
rm -f "$STATE_DIR/ready"
mkdir -p "$STATE_DIR"/{pki,pids,logs,etcd}
pki=$STATE_DIR/pki

# If anything below fails, stop what was started so no process is orphaned.
trap 'rc=$?; if ((rc != 0)); then log "start failed; logs are in $STATE_DIR/logs; stopping"; FLOCKED_BY_UP=1 "$cluster_hack_dir/down.sh" --keep-logs >&2 || true; fi' EXIT

# ---- ports: free loopback ports, picked at random and checked against the listening sockets
used_ports=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		grep -qx "$p" <<<"$used_ports" && continue
		used_ports+=$'\n'$p
		echo "$p"
		return
	done
}
etcd_port=$(pick_port)
etcd_peer_port=$(pick_port)
apiserver_port=$(pick_port)
kcm_port=$(pick_port)
scheduler_port=$(pick_port)
kwok_port=$(pick_port)
injector_port=$(pick_port)
cat >"$STATE_DIR/ports.env" <<PORTS
ETCD_PORT=$etcd_port
APISERVER_PORT=$apiserver_port
CONTROLLER_MANAGER_PORT=$kcm_port
SCHEDULER_PORT=$scheduler_port
KWOK_PORT=$kwok_port
INJECTOR_PORT=$injector_port
PORTS

# ---- PKI: one CA; EC P-256 keys (fast to generate)
log "creating PKI"
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-subj "/CN=istio-rollout-test-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt"
# issue NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue() {
	local name=$1 subj=$2 eku=$3 san=${4:-}
	openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj" \
		-keyout "$pki/$name.key" -out "$pki/$name.csr"
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[[ -n $san ]] && echo "subjectAltName=$san"
	} >"$pki/$name.ext"
	openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 30 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}
loopback_sans="DNS:localhost,IP:127.0.0.1,IP:::1"
issue apiserver "/CN=kube-apiserver" serverAuth \
	"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,$loopback_sans"
issue admin "/O=system:masters/CN=kubernetes-admin" clientAuth
issue controller-manager "/CN=system:kube-controller-manager" clientAuth
issue scheduler "/CN=system:kube-scheduler" clientAuth
issue front-proxy-client "/CN=front-proxy-client" clientAuth
issue injector "/CN=sim-istio-injector" serverAuth "$loopback_sans"
openssl_quiet ecparam -name prime256v1 -genkey -noout -out "$pki/sa.ec.key"
openssl_quiet pkcs8 -topk8 -nocrypt -in "$pki/sa.ec.key" -out "$pki/sa.key"
openssl_quiet ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
rm -f "$pki/sa.ec.key"

# write_kubeconfig FILE CERT_NAME
write_kubeconfig() {
	cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: istio-rollout
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: istio-rollout
  context:
    cluster: istio-rollout
    user: $2
current-context: istio-rollout
KUBECONFIG
	chmod 600 "$1"
}
write_kubeconfig "$kubeconfig" admin
write_kubeconfig "$STATE_DIR/controller-manager.kubeconfig" controller-manager
write_kubeconfig "$STATE_DIR/scheduler.kubeconfig" scheduler

# launch NAME COMMAND...: runs a component in its own session, logs and PID in the state dir.
launch() {
	local name=$1
	shift
	# 8>&-: the lock on the state dir must not be inherited by the long-running processes.
	setsid "$@" </dev/null >"$STATE_DIR/logs/$name.log" 2>&1 8>&- &
	echo $! >"$STATE_DIR/pids/$name.pid"
}
# wait_for WHAT TIMEOUT_SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
	local what=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			die "timed out after ${timeout}s waiting for $what"
		fi
		sleep 0.2
	done
	log "$what: ok ($((SECONDS - start)) s)"
}
alive() { kill -0 "$(cat "$STATE_DIR/pids/$1.pid")" 2>/dev/null || die "$1 exited; see $STATE_DIR/logs/$1.log: $(tail -5 "$STATE_DIR/logs/$1.log")"; }
https_ok() { alive "$1" && curl -sfk --max-time 2 "$2" >/dev/null; }
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

log "starting etcd $ETCD_VERSION"
launch etcd "$ETCD_BIN_DIR/etcd" --name=etcd --data-dir="$STATE_DIR/etcd" \
	--listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
	--listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster="etcd=http://127.0.0.1:$etcd_peer_port" --initial-cluster-state=new \
	--unsafe-no-fsync --auto-compaction-retention=1 --log-level=warn
wait_for etcd 30 https_ok etcd "http://127.0.0.1:$etcd_port/health"

log "starting kube-apiserver $K8S_VERSION"
launch kube-apiserver "$K8S_BIN_DIR/kube-apiserver" \
	--advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$apiserver_port" \
	--etcd-servers="http://127.0.0.1:$etcd_port" --etcd-prefix=/registry \
	--allow-privileged=true --authorization-mode=Node,RBAC \
	--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
	--client-ca-file="$pki/ca.crt" \
	--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
	--requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
	--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
	--requestheader-extra-headers-prefix=X-Remote-Extra- \
	--service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
	--enable-admission-plugins=NodeRestriction --profiling=false -v=1
wait_for kube-apiserver 60 https_ok kube-apiserver "https://127.0.0.1:$apiserver_port/readyz"

log "starting kube-controller-manager and kube-scheduler"
health_paths=/healthz,/readyz,/livez,/metrics
client_rate=()
if [[ -n ${ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS:-} ]]; then
	qps=$ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS
	[[ $qps =~ ^[0-9]+$ ]] || die "ISTIO_ROLLOUT_CLUSTER_CLIENT_QPS must be a number, not '$qps'"
	client_rate=(--kube-api-qps="$qps" --kube-api-burst="$((qps * 2))")
fi
launch kube-controller-manager "$K8S_BIN_DIR/kube-controller-manager" \
	--kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
	--authentication-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
	--authorization-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
	--authorization-always-allow-paths="$health_paths" \
	--bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
	--root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
	--use-service-account-credentials=true --controllers='*' \
	--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
	--node-monitor-period=25s --node-monitor-grace-period=3m20s --profiling=false -v=1 \
	"${client_rate[@]}"
launch kube-scheduler "$K8S_BIN_DIR/kube-scheduler" \
	--kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
	--authentication-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
	--authorization-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
	--authorization-always-allow-paths="$health_paths" \
	--bind-address=127.0.0.1 --secure-port="$scheduler_port" --leader-elect=false --profiling=false -v=1 \
	"${client_rate[@]}"

log "starting kwok $KWOK_VERSION"
kwok_config=$STATE_DIR/kwok-stages.yaml
for s in "${KWOK_STAGES[@]}"; do
	cat "$KWOK_STAGE_DIR/$(basename "$s")"
	echo "---"
done >"$kwok_config"
launch kwok "$KWOK_BIN_DIR/kwok" --kubeconfig="$kubeconfig" --config="$kwok_config" \
	--manage-all-nodes=true --node-lease-duration-seconds=200 \
	--server-address="127.0.0.1:$kwok_port"

log "creating $nodes simulated Nodes"
for ((i = 0; i < nodes; i++)); do
	cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$((i % 3))
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
---
NODE
done | k apply -f - >/dev/null

wait_for kube-controller-manager 60 https_ok kube-controller-manager "https://127.0.0.1:$kcm_port/healthz"
wait_for kube-scheduler 60 https_ok kube-scheduler "https://127.0.0.1:$scheduler_port/healthz"
wait_for "kwok" 30 https_ok kwok "http://127.0.0.1:$kwok_port/healthz"
wait_for "Nodes Ready" 60 k wait --for=condition=Ready node --all --timeout=2s
wait_for "ServiceAccount default/default" 60 k -n default get serviceaccount default

if $istio; then
	# A copy, so that a rebuild of the crate while the cluster runs does not touch it.
	cp "$sim" "$STATE_DIR/sim-istio"
	log "applying the Istio CRD $crd_file"
	k apply --server-side -f "$crd_file" >/dev/null
	# Right after the apply the CRD may have no status yet, and kubectl wait then errors at once.
	wait_for "Istio CRD established" 30 k wait --for=condition=Established crd/istios.operator.kyma-project.io --timeout=2s
	launch sim-injector "$STATE_DIR/sim-istio" injector --kubeconfig "$kubeconfig" \
		--listen "127.0.0.1:$injector_port" --tls-cert "$pki/injector.crt" --tls-key "$pki/injector.key"
	wait_for sim-injector 30 https_ok sim-injector "https://127.0.0.1:$injector_port/healthz"
	install_args=(install --kubeconfig "$kubeconfig" --injector-url "https://127.0.0.1:$injector_port/inject"
		--ca-bundle "$pki/ca.crt")
	[[ -n ${ISTIO_ROLLOUT_MODULE_VERSION:-} ]] && install_args+=(--module-version "$ISTIO_ROLLOUT_MODULE_VERSION")
	[[ -n ${ISTIO_ROLLOUT_ISTIO_VERSION:-} ]] && install_args+=(--istio-version "$ISTIO_ROLLOUT_ISTIO_VERSION")
	"$STATE_DIR/sim-istio" "${install_args[@]}" >&2
	log "simulated Istio installed"
	if [[ $operator_mode != off ]]; then
		# After install: a reset never races it. Cluster-wide, like the real operator; tests make
		# it autonomous for a while (ConfigMap istio-system/sim-operator), see CONTRIBUTING.md.
		read -r -a operator_args <<<"${ISTIO_ROLLOUT_SIM_OPERATOR_ARGS:-}"
		launch sim-operator "$STATE_DIR/sim-istio" operator --kubeconfig "$kubeconfig" --mode "$operator_mode" \
			"${operator_args[@]}"
		operator_ok() { alive sim-operator && k -n istio-system get configmap sim-operator-status; }
		wait_for "sim-operator ($operator_mode)" 30 operator_ok
	fi
fi

touch "$STATE_DIR/ready"
trap - EXIT
if [[ -n ${ISTIO_ROLLOUT_CLUSTER_DIR:-} ]]; then
	stop_hint="ISTIO_ROLLOUT_CLUSTER_DIR=$STATE_DIR hack/cluster/down.sh"
else
	stop_hint="just cluster-down (hack/cluster/down.sh)"
fi
log "cluster up in $((SECONDS - start)) s; state in $STATE_DIR; stop it with: $stop_hint"
log "use it: export KUBECONFIG=$kubeconfig; $kubectl get nodes"
echo "KUBECONFIG=$kubeconfig"
