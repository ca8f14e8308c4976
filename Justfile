# istio-rollout: `just` lists the recipes.
default:
    @just --list

# Plan the bundled example: desired state from examples/gitops (as a git repo), live state from a saved snapshot.
demo:
    bash examples/demo.sh

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
