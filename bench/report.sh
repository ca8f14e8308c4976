#!/usr/bin/env bash
# Prints markdown tables (medians, ratios against the baseline of the same run) from the TSV
# files the scenario scripts write. Usage: report.sh plan|apply|git|startup
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:?} in
plan)
	jq -Rrs '
		[split("\n")[1:][] | select(length > 0) | split("\t")
		 | {n: (.[0] | tonumber), cmd: .[1], wall: (.[3] | tonumber), rss: (.[4] | tonumber), req: (.[5] | tonumber)}]
		| def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		  def r2: . * 100 | round / 100;
		  def cell($m; $k; f): if $m[$k] then ($m[$k] | f) else "-" end;
		  group_by(.n)[] as $g
		| ($g | group_by(.cmd) | map({key: .[0].cmd, value: {wall: (map(.wall) | med), rss: (map(.rss) | med / 1024), req: (map(.req) | med), runs: length}}) | from_entries) as $m
		| "| \($g[0].n) | \($m.plan.wall | r2) s | \(cell($m; "kubectl-raw"; .wall | r2 | tostring + " s")) | \(cell($m; "kubectl-raw"; $m.plan.wall / .wall | r2)) | \(cell($m; "kubectl-pods"; .wall | r2 | tostring + " s")) | \(cell($m; "kubectl-pods"; $m.plan.wall / .wall | r2)) | \(cell($m; "kubectl-all"; .wall | r2 | tostring + " s")) | \(cell($m; "kubectl-all"; $m.plan.wall / .wall | r2)) | \($m.plan.rss | r2) MiB | \(cell($m; "kubectl-raw"; .rss | r2 | tostring + " MiB")) | \(cell($m; "kubectl-pods"; .rss | r2 | tostring + " MiB")) | \($m.plan.req) | \(cell($m; "kubectl-raw"; .req)) / \(cell($m; "kubectl-pods"; .req)) / \(cell($m; "kubectl-all"; .req)) | \($m.plan.runs) |"
	' "$BENCH_OUT/plan.tsv" | {
		echo "| pods | plan wall | get --raw pods | ratio | get pods -o json | ratio | get all kinds -o json | ratio | plan peak RSS | get --raw peak RSS | get pods peak RSS | plan requests | kubectl requests (raw / pods / all) | runs |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		cat
	}
	;;
apply)
	jq -Rrs '
		[split("\n")[1:][] | select(length > 0) | split("\t")
		 | {d: .[0], rep: .[1], v: .[2], wall: (.[4] | tonumber), peak: (.[5] | tonumber), rc: .[6]}]
		| def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		  def r2: . * 100 | round / 100;
		  (map(select(.v == "kubectl-loop") | .wall) | med) as $base
		| group_by(.v)[]
		| "| \(.[0].v) | \(.[0].d) x \(.[0].rep) | \(map(.wall) | med | r2) s | \(if $base then (map(.wall) | med) / $base | r2 else "-" end) | \(map(.peak) | med) (max \(map(.peak) | max)) | \(map(.rc) | unique | join(",")) | \(length) |"
	' "$BENCH_OUT/apply.tsv" | {
		echo "| variant | Deployments x replicas | total wall (median) | ratio to kubectl loop | peak unavailable pods (median) | exit codes | runs |"
		echo "|---|---:|---:|---:|---:|---|---:|"
		cat
	}
	;;
git)
	jq -Rrs '
		[split("\n")[1:][] | select(length > 0) | split("\t")
		 | {c: .[0], f: .[1], cmd: .[2], wall: (.[4] | tonumber), rss: (.[5] | tonumber), rc: .[6]}]
		| def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		  def r3: . * 1000 | round / 1000;
		  group_by([.c, .f])[]
		| (map(select(.cmd == "git-clone") | .wall) | med) as $file
		| (map(select(.cmd == "git-clone-daemon") | .wall) | med) as $daemon
		| group_by(.cmd)[]
		| (if (.[0].cmd | endswith("-daemon")) then $daemon else $file end) as $base
		| "| \(.[0].cmd) | \(.[0].c) commits, \(.[0].f) files | \(map(.wall) | med | r3) s | \((map(.wall) | med) / $base | . * 100 | round / 100) | \(map(.rss) | med / 1024 | . * 10 | round / 10) MiB | \(map(.rc) | unique | join(",")) | \(length) |"
	' "$BENCH_OUT/git.tsv" | {
		echo "| command | repository | wall (median) | ratio to git clone --depth 1 (same URL kind) | peak RSS | exit codes | runs |"
		echo "|---|---|---:|---:|---:|---|---:|"
		cat
	}
	;;
startup)
	awk -F'\t' 'NR > 1 {printf "| %s | %s ms | %s ms | %.1f MiB | %.1f MiB |\n", $1, $2, $3, $4 / 1024, $5 / 1048576}' "$BENCH_OUT/startup.tsv" | {
		echo "| command | wall (median) | wall (min) | peak RSS | binary size |"
		echo "|---|---:|---:|---:|---:|"
		cat
	}
	;;
list)
	jq -Rrs '
		[split("\n")[1:][] | select(length > 0) | split("\t")
		 | {v: .[0], page: (.[1] | tonumber), req: .[4], wall: (.[5] | tonumber), peak: (.[8] | tonumber), pods: .[3]}]
		| def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		  (map(select(.v == "typed" and .page == 500) | .wall) | med) as $base
		| sort_by(if .page == 0 then 1e9 else .page end) | group_by(if .page == 0 then 1e9 else .page end)[] | group_by(.v)[]
		| "| \(.[0].v) | \(if .[0].page == 0 then "all in one" else .[0].page end) | \(.[0].pods) | \(.[0].req) | \(map(.wall) | med) s | \((map(.wall) | med) / $base | . * 100 | round / 100) | \(map(.peak) | med / 1024 | . * 10 | round / 10) MiB | \(length) |"
	' "$BENCH_OUT/list.tsv" | {
		echo "| variant | page size | pods | requests | wall (median) | ratio to typed, page 500 | process peak RSS (median) | runs |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		cat
	}
	;;
*) bdie "unknown report: $1" ;;
esac
