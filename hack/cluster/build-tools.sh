#!/usr/bin/env bash
# Builds the tools the tests run (actionlint, helm, prometheus + promtool, pushgateway) from the Go module proxy into the cache beside
# the control-plane binaries, unless they are already there. Usage: build-tools.sh [--rebuild]
#   --rebuild   build again even if the cache already holds the pinned versions
# Environment: ISTIO_ROLLOUT_CACHE (default ~/.cache/istio-rollout); Go's own GOMODCACHE/GOCACHE.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rebuild=false
for arg in "$@"; do
	case $arg in
	--rebuild) rebuild=true ;;
	-h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (usage: build-tools.sh [--rebuild])" ;;
	esac
done

command -v go >/dev/null || die "go is not installed; it builds actionlint, helm, prometheus and pushgateway (Go >= 1.25): install it, e.g. apt-get install golang-go"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build-tools.lock"
flock 9
export CGO_ENABLED=0

# go_install VERSION BIN_DIR LDFLAGS TAGS MODULE/CMD...: `go install` of one or more commands of
# one module (built together, so they share compiled packages) into a scratch GOBIN, moved into
# place only when done (an interrupted build leaves no half binary in the cache). Each binary is
# named after the last element of its package path.
go_install() {
	local version=$1 bin=$2 ldflags=$3 tags=$4
	shift 4
	local pkgs=("$@") names=() pkg
	for pkg in "${pkgs[@]}"; do names+=("${pkg##*/}"); done
	local name missing=false
	for name in "${names[@]}"; do [[ -x $bin/$name ]] || missing=true; done
	if ! $rebuild && ! $missing; then
		log "${names[*]} $version: cached in $bin"
		return
	fi
	local work start=$SECONDS args=()
	for pkg in "${pkgs[@]}"; do args+=("$pkg@$version"); done
	work=$(mktemp -d "${TMPDIR:-/tmp}/istio-rollout-tool.XXXXXX")
	log "building ${names[*]} $version from the Go module proxy ..."
	GOBIN=$work go install -trimpath -tags "$tags" -ldflags "$ldflags" "${args[@]}"
	mkdir -p "$bin"
	for name in "${names[@]}"; do
		mv "$work/$name" "$bin/$name.tmp"
		mv "$bin/$name.tmp" "$bin/$name"
	done
	rm -rf "$work"
	log "${names[*]} $version: built in $((SECONDS - start)) s into $bin"
}

go_install "$ACTIONLINT_VERSION" "$ACTIONLINT_BIN_DIR" \
	"-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" "" \
	github.com/rhysd/actionlint/cmd/actionlint
go_install "$HELM_VERSION" "$HELM_BIN_DIR" \
	"-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "" \
	helm.sh/helm/v3/cmd/helm
# Prometheus and promtool for the health-gate tests and `promtool check rules` of
# manifests/monitoring. No `builtinassets` tag: the web UI's compiled assets are not in the module
# (the HTTP API the tests use works without them). `remove_all_sd` leaves out the cloud service
# discovery providers (static_configs stay), which makes the build much smaller.
go_install "$PROMETHEUS_MODULE_VERSION" "$PROMETHEUS_BIN_DIR" \
	"-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" "remove_all_sd" \
	github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
# The Pushgateway: `go install ...@version` asks the proxy for the module's version list (to
# look for a deprecation), which the proxy refuses for this module; the exact version downloads,
# so it is built inside its own module (its go.mod and go.sum pin the dependencies).
if $rebuild || [[ ! -x $PUSHGATEWAY_BIN_DIR/pushgateway ]]; then
	start=$SECONDS
	log "building pushgateway $PUSHGATEWAY_VERSION from the Go module proxy ..."
	src=$(GOFLAGS='' go mod download -json "github.com/prometheus/pushgateway@$PUSHGATEWAY_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $src && -f $src/go.mod ]] || die "github.com/prometheus/pushgateway@$PUSHGATEWAY_VERSION: no module source downloaded"
	work=$(mktemp -d "${TMPDIR:-/tmp}/istio-rollout-tool.XXXXXX")
	(cd "$src" && GOFLAGS='-buildvcs=false -mod=readonly' go build -trimpath \
		-ldflags "-s -w -X github.com/prometheus/common/version.Version=${PUSHGATEWAY_VERSION#v}" \
		-o "$work/pushgateway" .)
	mkdir -p "$PUSHGATEWAY_BIN_DIR"
	mv "$work/pushgateway" "$PUSHGATEWAY_BIN_DIR/pushgateway.tmp"
	mv "$PUSHGATEWAY_BIN_DIR/pushgateway.tmp" "$PUSHGATEWAY_BIN_DIR/pushgateway"
	rm -rf "$work"
	log "pushgateway $PUSHGATEWAY_VERSION: built in $((SECONDS - start)) s into $PUSHGATEWAY_BIN_DIR"
else
	log "pushgateway $PUSHGATEWAY_VERSION: cached in $PUSHGATEWAY_BIN_DIR"
fi
