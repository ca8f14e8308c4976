# istio-rollout: `just` lists the recipes.
default:
    @just --list

# Plan the bundled example: desired state from this repository's HEAD (examples/gitops/istio), live state from examples/live-state.yaml.
demo:
    #!/usr/bin/env bash
    set -uo pipefail
    bash hack/preflight.sh demo || exit 1
    cargo run -q --locked -- plan --repo . --path examples/gitops/istio --live-state examples/live-state.yaml
    code=$?
    echo
    echo "exit code $code (0: nothing to do, 1: restarts pending, as expected for this example)"
    [ "$code" -le 1 ]

# Run every test: those of `test-offline` and the cluster tests (tests/cluster, testenv's) on a throwaway real control plane, started and stopped here by hack/cluster/with-cluster.sh (hack/preflight.sh checks the machine first; control plane built once, ~8 min cold; actionlint, helm, Prometheus and the Pushgateway once, ~10 min cold). ARGS go to cargo test, e.g. `just test --test cluster apply::`.
test *ARGS:
    bash hack/preflight.sh test
    bash hack/cluster/build-tools.sh
    cargo test --workspace --locked --no-run
    bash hack/cluster/with-cluster.sh cargo test --workspace --locked {{ARGS}}

# Run every test that needs no cluster, in seconds after a build: unit tests (both crates, testenv's injector and waits included) and tests/offline (planner, renderings, CLI, git, manifests' structure via the pinned `kubectl kustomize`). ARGS go to cargo test.
test-offline *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    bash hack/preflight.sh offline
    source hack/cluster/lib.sh
    # tests/offline/manifests renders the kustomizations with the test cluster's pinned kubectl,
    # the chart with helm, and lints the workflows with actionlint.
    [[ -x $K8S_BIN_DIR/kubectl ]] || bash hack/cluster/build.sh
    bash hack/cluster/build-tools.sh
    cargo test --workspace --locked --lib --bins --test offline {{ARGS}}

# The chaos suite in full (tests/chaos, RELIABILITY.md): apply through a fault proxy at 10 % faults with five seeds (seed 0: the fault-free baseline), killed at random and re-run ten times, across an API server restart, with expiring continue tokens, two applies at once; on a cluster of its own (~20 min). `just test` runs one seed and one kill. Figures go to target/chaos-report.jsonl.
chaos seeds="0 1 2 3 4 5" kills="10":
    #!/usr/bin/env bash
    set -euo pipefail
    cargo test --locked --test chaos --no-run
    report=$PWD/target/chaos-report.jsonl
    rm -f "$report"
    ISTIO_ROLLOUT_CHAOS_SEEDS="{{seeds}}" ISTIO_ROLLOUT_CHAOS_KILLS="{{kills}}" ISTIO_ROLLOUT_CHAOS_REPORT="$report" \
        bash hack/cluster/with-cluster.sh cargo test --locked --test chaos -- --nocapture --test-threads 1
    echo "chaos: figures in $report"

# Format and lint exactly as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Write the man pages (istio-rollout.1 and one per command) into target/man; read one with `man -l target/man/istio-rollout.1`.
man:
    cargo run -q --locked -- man --out-dir target/man
    @echo "man: pages in target/man (man -l target/man/istio-rollout.1)"

# Build the tools the tests run (actionlint, helm, prometheus + promtool, pushgateway) once into ~/.cache/istio-rollout; `--rebuild` forces it.
tools-build *ARGS:
    bash hack/cluster/build-tools.sh {{ARGS}}

# Regenerate the Istio CRD from the Rust types (CI checks it is current).
crd:
    cargo run -q -- crd > manifests/crd/istios.operator.kyma-project.io.yaml

# Build the release binary as the Dockerfile does (zlib linked statically) and check it starts and needs only what distroless/cc has (several minutes on 2 cores).
release-check:
    #!/usr/bin/env bash
    set -euo pipefail
    LIBZ_SYS_STATIC=1 cargo build --release --locked --bin istio-rollout
    bin=target/release/istio-rollout
    "$bin" --version
    # distroless/cc-debian12 ships glibc (libc, libm, ld-linux) and libgcc_s; nothing else may be linked.
    extra=$(ldd "$bin" | awk '{print $1}' | grep -vE '^(linux-vdso\.so|libc\.so|libm\.so|libgcc_s\.so|/lib(64)?/ld-linux)' || true)
    if [ -n "$extra" ]; then echo "release-check: $bin needs libraries distroless/cc lacks: $extra" >&2; exit 1; fi
    echo "release-check: $bin starts and links only libc, libm, libgcc_s ($(du -h "$bin" | cut -f1))"

# Build the pinned control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok) once into ~/.cache/istio-rollout; `--rebuild` forces it.
cluster-build *ARGS:
    bash hack/cluster/build.sh {{ARGS}}

# Start the throwaway test cluster (real control plane, 3 kwok Nodes, simulated Istio); the last line is KUBECONFIG=<path>.
cluster-up *ARGS:
    bash hack/cluster/up.sh {{ARGS}}

# Stop the test cluster and remove its state dir.
cluster-down:
    bash hack/cluster/down.sh

# Run the testenv smoke tests on a fresh cluster of their own, then stop it (also when the tests fail).
cluster-test *ARGS:
    bash hack/cluster/with-cluster.sh cargo test --locked -p istio-rollout-testenv {{ARGS}}

# Run the pinned kubectl against the running test cluster, e.g. `just cluster-kubectl get pods -A`.
cluster-kubectl *ARGS:
    bash hack/cluster/kubectl.sh {{ARGS}}

# Benchmarks (BENCHMARKS.md): planner (criterion), plan at cluster scale against kubectl, apply throughput, git read, start-up; on a cluster of its own. `just bench plan git` runs some; sizes: BENCH_SIZES="1000 10000 50000".
bench *SCENARIOS:
    bash bench/run.sh {{SCENARIOS}}
