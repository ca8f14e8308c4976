#!/usr/bin/env bash
# Scenario 4: reading the desired state from a remote repository with a long history and many
# files, against `git clone --depth 1` of the same ref, through a file:// URL (which the tool
# opens in place) and through git daemon on loopback (git://, the smart protocol of a real
# remote: the tool fetches the one ref, shallow). No cluster needed.
# BENCH_GIT_COMMITS (default 2000) commits, BENCH_GIT_FILES (default 5000) files; the desired
# state is clusters/prod/istio (an Istio CR and ISTIO_MODULE_VERSION), the live state the
# small examples/live-state.yaml, so the time is the git read plus a tiny plan.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
commits=${BENCH_GIT_COMMITS:-2000}
files=${BENCH_GIT_FILES:-5000}
remote=$BENCH_OUT/git-remote-$commits-$files.git
if [[ ! -d $remote ]]; then
	blog "creating $remote: $commits commits, $files files"
	git init -q --bare -b main "$remote"
	{
		ts=1700000000
		# first commit: every file, plus the desired state
		echo "commit refs/heads/main"
		echo "committer bench <bench@example.com> $ts +0000"
		echo "data 7"
		echo "initial"
		cr='apiVersion: operator.kyma-project.io/v1alpha2
kind: Istio
metadata:
  name: default
  namespace: kyma-system
spec: {}
'
		printf 'M 100644 inline clusters/prod/istio/cr.yaml\ndata %d\n%s\n' "${#cr}" "$cr"
		printf 'M 100644 inline clusters/prod/istio/ISTIO_MODULE_VERSION\ndata 7\n1.28.0\n\n'
		for ((f = 0; f < files; f++)); do
			body="apiVersion: v1
kind: ConfigMap
metadata:
  name: app-$f
  namespace: team-$((f % 50))
data:
  revision: \"0\"
  payload: \"$(printf '%0200d' "$f")\"
"
			printf 'M 100644 inline apps/team-%d/app-%d/configmap.yaml\ndata %d\n%s\n' $((f % 50)) "$f" "${#body}" "$body"
		done
		for ((c = 1; c < commits; c++)); do
			f=$(((c * 7919) % files))
			body="apiVersion: v1
kind: ConfigMap
metadata:
  name: app-$f
  namespace: team-$((f % 50))
data:
  revision: \"$c\"
  payload: \"$(printf '%0200d' "$f")\"
"
			echo "commit refs/heads/main"
			echo "committer bench <bench@example.com> $((ts + c)) +0000"
			msg="change app-$f (revision $c)"
			printf 'data %d\n%s\n' "${#msg}" "$msg"
			printf 'M 100644 inline apps/team-%d/app-%d/configmap.yaml\ndata %d\n%s\n' $((f % 50)) "$f" "${#body}" "$body"
		done
	} | git -C "$remote" fast-import --quiet
	git -C "$remote" gc -q
fi
url=file://$remote
# git-daemon itself (not `git daemon`, whose child would outlive it), on a free loopback port.
port=$((20000 + RANDOM % 12000))
"$(git --exec-path)/git-daemon" --reuseaddr --export-all --listen=127.0.0.1 --port="$port" \
	--base-path="$BENCH_OUT" "$BENCH_OUT" 2>"$BENCH_OUT/git-daemon.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true' EXIT
daemon_url=git://127.0.0.1:$port/$(basename "$remote")
for ((i = 0; i < 50; i++)); do
	git ls-remote "$daemon_url" >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || bdie "git daemon did not start: $(cat "$BENCH_OUT/git-daemon.log")"
	sleep 0.2
done
git ls-remote "$daemon_url" >/dev/null || bdie "git daemon does not serve $daemon_url"
live=$repo_dir/examples/live-state.yaml
results=$BENCH_OUT/git.tsv
[[ -f $results ]] || printf 'commits\tfiles\tcommand\trun\twall_s\tpeak_rss_kib\texit\n' >"$results"
for ((r = 1; r <= BENCH_REPEAT; r++)); do
	for cmd in rollout-remote git-clone git-clone-bare rollout-local rollout-daemon git-clone-daemon; do
		dest=$BENCH_OUT/git-clone
		rm -rf "$dest"
		case $cmd in
		rollout-remote) argv=("$ROLLOUT" plan --repo "$url" --ref main --path clusters/prod/istio --live-state "$live" --output json) ;;
		rollout-local) argv=("$ROLLOUT" plan --repo "$remote" --ref main --path clusters/prod/istio --live-state "$live" --output json) ;;
		git-clone) argv=(git clone -q --depth 1 --single-branch --branch main "$url" "$dest") ;;
		git-clone-bare) argv=(git clone -q --bare --depth 1 --single-branch --branch main "$url" "$dest") ;;
		rollout-daemon) argv=("$ROLLOUT" plan --repo "$daemon_url" --ref main --path clusters/prod/istio --live-state "$live" --output json) ;;
		git-clone-daemon) argv=(git clone -q --depth 1 --single-branch --branch main "$daemon_url" "$dest") ;;
		esac
		read -r wall rss rc < <(measure "$BENCH_OUT/git-$cmd-$r" "${argv[@]}")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$commits" "$files" "$cmd" "$r" "$wall" "$rss" "$rc" >>"$results"
		blog "git: $cmd #$r: $wall s, $rss KiB, exit $rc"
	done
done
rm -rf "$BENCH_OUT/git-clone"
bash "$bench_dir/report.sh" git
