# syntax=docker/dockerfile:1
# The istio-rollout image: a glibc build on Debian 12 (bookworm), run on distroless/cc-debian12
# (glibc, libgcc; no shell, no package manager) as the non-root user 65532.
#
#   docker build -t registry.example.com/platform/istio-rollout:0.1.0 .
#
# libgit2 and OpenSSL are vendored and linked statically; zlib is too (LIBZ_SYS_STATIC=1), so
# the binary needs only libc, libm and libgcc_s, which the base image has (`just release-check`
# checks exactly that on the build machine). Build and run images must share the Debian release:
# a binary linked against a newer glibc does not start on an older one.

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
# Vendored OpenSSL needs perl and make; cc is in the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends perl make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The commit `--version` shows (build.rs): the build context has no .git. Without it: "unknown".
ARG ISTIO_ROLLOUT_COMMIT=
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never
# The workspace: the crate and the test fixture crate (a workspace member cargo must see).
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY testenv ./testenv
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin istio-rollout \
 && install -D -m 0755 target/release/istio-rollout /out/istio-rollout \
 && /out/istio-rollout --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/istio-rollout /usr/local/bin/istio-rollout
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/istio-rollout"]
CMD ["--help"]
