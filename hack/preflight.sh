#!/usr/bin/env bash
# Checks, before `just test`, `just test-offline` or `just demo` starts, that the machine has what
# they need, and installs what it can: Debian packages through apt-get when run as root. Where it
# cannot (no Go toolchain, no Rust component), it stops at once with the one command that fixes it.
# Usage: preflight.sh demo|offline|test
set -euo pipefail

what=${1:-test}
case $what in
demo | offline | test) ;;
-h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "preflight: unknown target $what (demo, offline, test)" >&2; exit 2 ;;
esac

say() { printf '[preflight] %s\n' "$*" >&2; }
stop() { say "$1"; say "fix: $2"; exit 1; }

command -v cargo >/dev/null || stop "no cargo on PATH" "install Rust with rustup (https://rustup.rs), then open a new shell"
[[ $what == demo ]] && exit 0

# Debian package of each command the cluster scripts and the tests call.
declare -A package=([openssl]=openssl [curl]=curl [ss]=iproute2 [flock]=util-linux [setsid]=util-linux [git]=git)
needed=(git)
[[ $what == test ]] && needed+=(openssl curl ss flock setsid)
missing=()
for c in "${needed[@]}"; do command -v "$c" >/dev/null || missing+=("${package[$c]}"); done
if ((${#missing[@]})); then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		say "installing ${missing[*]} from Debian"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null ||
			stop "apt-get could not install ${missing[*]}" "apt-get install -y ${missing[*]}"
	else
		stop "missing: ${missing[*]}" "sudo apt-get install -y ${missing[*]}"
	fi
fi

# Go builds the control plane, kubectl, actionlint and helm from the Go module proxy.
if ! command -v go >/dev/null; then
	[[ -x /usr/local/go/bin/go ]] && stop "go is in /usr/local/go/bin but not on PATH" 'export PATH="/usr/local/go/bin:$PATH"'
	stop "no Go toolchain (Go >= 1.25 builds the test cluster and the test tools)" \
		"install Go 1.26 from https://go.dev/dl/ into /usr/local/go and add /usr/local/go/bin to PATH"
fi
go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [[ -z $go_minor || $go_minor -lt 25 ]]; then
	stop "Go $(go env GOVERSION) is too old (>= 1.25 needed)" \
		"GOTOOLCHAIN=go1.26.8 go version   # fetches Go 1.26.8 from the Go module proxy; export GOTOOLCHAIN=go1.26.8"
fi
exit 0
