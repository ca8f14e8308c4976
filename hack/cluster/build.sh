#!/usr/bin/env bash
# Builds the pinned control-plane binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the Go module proxy into a cache outside the repository,
# unless they are already there. Usage: build.sh [--rebuild]
#   --rebuild   build again even if the cache already holds the pinned versions
# Environment: ISTIO_ROLLOUT_CACHE (default ~/.cache/istio-rollout); Go's own GOMODCACHE/GOCACHE.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rebuild=false
for arg in "$@"; do
	case $arg in
	--rebuild) rebuild=true ;;
	-h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (usage: build.sh [--rebuild])" ;;
	esac
done

command -v go >/dev/null || die "go is not installed; it is needed to build the control plane (Go >= 1.25)"
mkdir -p "$CACHE_DIR"
# Two test runs may start a build at once: the second waits for the first, then finds the cache full.
exec 9>"$CACHE_DIR/.build.lock"
flock 9

export CGO_ENABLED=0
# Builds resolve missing checksums themselves; the committed go.sum files make them reproducible.
export GOFLAGS=-mod=mod
jobs=${ISTIO_ROLLOUT_BUILD_JOBS:-2}
start=$SECONDS

# build_module NAME WRAPPER_DIR OUT_DIR LDFLAGS PACKAGE...: builds in a scratch copy of the wrapper
# module (so the repository is never modified) and moves the result into place only when done.
build_module() {
	local name=$1 wrapper=$2 out=$3 ldflags=$4
	shift 4
	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/istio-rollout-build.XXXXXX")
	cp "$wrapper"/* "$work"/
	mkdir -p "$work/out"
	log "building $name (this takes a while on a cold cache) ..."
	(cd "$work" && go build -p "$jobs" -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$work/out/" "$@")
	rm -rf "$out.tmp"
	mkdir -p "$(dirname "$out")"
	mv "$work/out" "$out.tmp"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	if ! cmp -s "$wrapper/go.sum" "$work/go.sum" 2>/dev/null; then
		log "note: $name resolved checksums not in $wrapper/go.sum (copy $work/go.sum there to pin them)"
	else
		rm -rf "$work"
	fi
}

k8s_complete() { local b; for b in "${K8S_BINARIES[@]}"; do [[ -x $K8S_BIN_DIR/$b ]] || return 1; done; }
if $rebuild || ! k8s_complete; then
	minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	build_module "Kubernetes $K8S_VERSION" "$cluster_hack_dir/k8s" "$K8S_BIN_DIR" \
		"-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
else
	log "Kubernetes $K8S_VERSION: cached in $K8S_BIN_DIR"
fi

if $rebuild || [[ ! -x $ETCD_BIN_DIR/etcd ]]; then
	build_module "etcd $ETCD_VERSION" "$cluster_hack_dir/etcd" "$ETCD_BIN_DIR" "-s -w" .
	# go build names the binary after the wrapper module's last path element: etcd.
	[[ -x $ETCD_BIN_DIR/etcd ]] || die "etcd build produced no $ETCD_BIN_DIR/etcd"
else
	log "etcd $ETCD_VERSION: cached in $ETCD_BIN_DIR"
fi

kwok_complete() {
	[[ -x $KWOK_BIN_DIR/kwok ]] || return 1
	local s
	for s in "${KWOK_STAGES[@]}"; do [[ -f $KWOK_STAGE_DIR/$(basename "$s") ]] || return 1; done
}
if $rebuild || ! kwok_complete; then
	log "building kwok $KWOK_VERSION ..."
	rm -rf "$KWOK_DIR.tmp"
	mkdir -p "$KWOK_DIR.tmp/bin" "$KWOK_DIR.tmp/stages"
	# `go install pkg@version` builds outside any module; -mod does not apply there.
	GOFLAGS='' GOBIN="$KWOK_DIR.tmp/bin" go install -p "$jobs" -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	kwok_src=$(GOFLAGS='' go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $kwok_src ]] || die "cannot find the kwok $KWOK_VERSION module source in the Go module cache"
	for s in "${KWOK_STAGES[@]}"; do
		[[ -f $kwok_src/$s ]] || die "kwok $KWOK_VERSION has no stage file $s"
		cp "$kwok_src/$s" "$KWOK_DIR.tmp/stages/"
	done
	chmod -R u+w "$KWOK_DIR.tmp"
	rm -rf "$KWOK_DIR"
	mv "$KWOK_DIR.tmp" "$KWOK_DIR"
else
	log "kwok $KWOK_VERSION: cached in $KWOK_DIR"
fi

missing=$(missing_components)
[[ -z $missing ]] || die "build finished but these are missing: $missing"
log "control plane ready in $CACHE_DIR ($((SECONDS - start)) s)"
"$K8S_BIN_DIR/kubectl" version --client 2>/dev/null | head -1 >&2 || true
