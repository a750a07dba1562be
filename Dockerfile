# syntax=docker/dockerfile:1
# The author-stats Lambda function as a container image.
#
# The builder runs on the build machine's platform and cross-compiles for the
# target architecture, so an arm64 image builds on an x86_64 laptop or CI runner
# without emulation. Both base images are build arguments: the defaults are the
# public images; any registry (or a local stand-in) can be given instead.
#
#   docker build --provenance=false --build-arg TARGET_ARCH=arm64 -t author-stats .
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=public.ecr.aws/lambda/provided:al2023

FROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS builder
# arm64 (the default, Graviton) or x86_64.
ARG TARGET_ARCH=arm64
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The cross linker comes from the distribution; its version follows the builder image.
# hadolint ignore=DL3008
RUN case "${TARGET_ARCH}" in \
      arm64)  echo aarch64-unknown-linux-gnu > /rust-target \
              && apt-get update \
              && apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
              && rm -rf /var/lib/apt/lists/* ;; \
      x86_64) echo x86_64-unknown-linux-gnu > /rust-target ;; \
      *)      echo "TARGET_ARCH must be arm64 or x86_64, not ${TARGET_ARCH}" >&2; exit 1 ;; \
    esac \
    && rustup target add "$(cat /rust-target)"
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TERM_COLOR=never
WORKDIR /src

# Dependencies in their own layer: a code change does not rebuild the world.
# (The manifest names two benchmarks and the dev-only test-support workspace
# member; stubs stand in for them, they are not built.)
COPY Cargo.toml Cargo.lock ./
COPY test-support/s3-server/Cargo.toml test-support/s3-server/
RUN mkdir -p src benches test-support/s3-server/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs test-support/s3-server/src/lib.rs \
    && for b in pipeline stages; do echo 'fn main() {}' > "benches/$b.rs"; done \
    && cargo build --release --locked --target "$(cat /rust-target)" \
    && rm -rf src

# The font is compiled into the binary (include_bytes!), so the image needs no system fonts.
COPY assets assets
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --target "$(cat /rust-target)" \
    && cp "target/$(cat /rust-target)/release/author-stats" /bootstrap

FROM ${RUNTIME_IMAGE}
# provided:al2023 runs /var/runtime/bootstrap (LAMBDA_RUNTIME_DIR); outside Lambda
# its entry point starts the bundled runtime interface emulator around it.
COPY --from=builder /bootstrap /var/runtime/bootstrap
COPY assets/fonts/OFL.txt /usr/share/licenses/author-stats/NotoSansJP-OFL.txt
CMD ["author-stats"]
