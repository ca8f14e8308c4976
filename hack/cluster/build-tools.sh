#!/usr/bin/env bash
# Builds the tools the tests run (actionlint, helm) from the Go module proxy into the cache beside
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

command -v go >/dev/null || die "go is not installed; it builds actionlint and helm (Go >= 1.25): install it, e.g. apt-get install golang-go"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build-tools.lock"
flock 9
export CGO_ENABLED=0

# go_install NAME MODULE/CMD VERSION BIN_DIR LDFLAGS: `go install` into a scratch GOBIN, moved into
# place only when done (an interrupted build leaves no half binary in the cache).
go_install() {
	local name=$1 pkg=$2 version=$3 bin=$4 ldflags=$5
	if ! $rebuild && [[ -x $bin/$name ]]; then
		log "$name $version: cached in $bin"
		return
	fi
	local work start=$SECONDS
	work=$(mktemp -d "${TMPDIR:-/tmp}/istio-rollout-tool.XXXXXX")
	log "building $name $version from the Go module proxy ..."
	GOBIN=$work go install -trimpath -ldflags "$ldflags" "$pkg@$version"
	mkdir -p "$bin"
	mv "$work/$name" "$bin/$name.tmp"
	mv "$bin/$name.tmp" "$bin/$name"
	rm -rf "$work"
	log "$name $version: built in $((SECONDS - start)) s into $bin"
}

go_install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" "$ACTIONLINT_BIN_DIR" \
	"-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_BIN_DIR" \
	"-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
