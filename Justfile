# istio-rollout: `just` lists the recipes.
default:
    @just --list

# Plan the bundled example: desired state from this repository's HEAD (examples/gitops/istio), live state from examples/live-state.yaml.
demo:
    #!/usr/bin/env bash
    set -uo pipefail
    cargo run -q --locked -- plan --repo . --path examples/gitops/istio --live-state examples/live-state.yaml
    code=$?
    echo
    echo "exit code $code (0: nothing to do, 1: restarts pending, as expected for this example)"
    [ "$code" -le 1 ]

# Run every test (unit, CLI, git, snapshots).
test:
    cargo test --workspace --locked

# Format and lint exactly as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Regenerate the Istio CRD from the Rust types (CI checks it is current).
crd:
    cargo run -q -- crd > manifests/crd/istios.operator.kyma-project.io.yaml
