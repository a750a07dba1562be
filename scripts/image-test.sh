#!/usr/bin/env bash
# Proof of the container image without a Docker engine: builds the Dockerfile
# for real with buildah against local stand-in base images (no registry is
# reachable here), checks the binary's glibc needs against Amazon Linux 2023,
# then runs the image with the Lambda runtime interface emulator as entry point
# and invokes every events/ sample over HTTP against a real S3-compatible server
# (tests/it/image.rs).
#
# Stand-ins: the Lambda base (provided:al2023) is a minimal Debian made with
# debootstrap; the Rust builder is the same Debian with gcc, using this
# machine's Rust toolchain through a build-time volume.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_tools

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  apt_install buildah debootstrap
fi
B=(buildah --storage-driver vfs)
IMAGE=localhost/author-stats:test
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The vfs driver keeps every layer as a full copy of its file system: one
# build takes about 20 GB at its peak (measured: 36 GB used before, 56 GB at
# the end of the build, 35.5 GB after the prune), and every build whose
# sources changed adds its own layers. Left behind, a few builds fill the disk
# (a CI run failed with "no space left on device"). So the build's
# intermediate and superseded images
# are removed before and after, whatever the outcome; the two stand-in bases
# are kept, and every build compiles the dependencies afresh (480 s for the
# whole image on 2 cores, against 204 s with the cache).
prune_build_images() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" rmi --prune >/dev/null 2>&1 || true
}
prune_build_images
trap prune_build_images EXIT
storage=$("${B[@]}" info --format '{{.store.GraphRoot}}' 2>/dev/null || echo /var/lib/containers/storage)
mkdir -p "$storage"
free_gb=$(( $(df --output=avail -k "$storage" | tail -n 1) / 1024 / 1024 ))
echo "container storage $storage: $free_gb GB free"
if [ "$free_gb" -lt 25 ]; then
  echo "the image build needs about 25 GB free under $storage (vfs copies every layer); $free_gb GB is free" >&2
  exit 1
fi

if ! "${B[@]}" inspect --type image localhost/debian:local >/dev/null 2>&1; then
  rootfs="$TOOLS/rootfs-bookworm"
  if [ ! -x "$rootfs/bin/sh" ]; then
    echo "making the Debian stand-in base with debootstrap ($MIRROR)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$TOOLS/debootstrap.log" 2>&1 \
      || { tail -n 20 "$TOOLS/debootstrap.log" >&2; exit 1; }
  fi
  ctr=$("${B[@]}" from scratch)
  mnt=$("${B[@]}" mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  "${B[@]}" umount "$ctr" >/dev/null
  "${B[@]}" commit --rm "$ctr" localhost/debian:local >/dev/null
fi
if ! "${B[@]}" inspect --type image localhost/rust-builder:local >/dev/null 2>&1; then
  echo "making the Rust builder stand-in"
  ctr=$("${B[@]}" from localhost/debian:local)
  "${B[@]}" run --isolation chroot "$ctr" -- sh -c \
    'apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev ca-certificates && rm -rf /var/lib/apt/lists/*' >/dev/null
  # This machine reaches crates.io through its own certificate authority.
  "${B[@]}" copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
  "${B[@]}" config --env RUSTUP_HOME=/opt/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  "${B[@]}" commit --rm "$ctr" localhost/rust-builder:local >/dev/null
fi

# The host toolchain, mounted at build time where the builder expects rustup.
RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_BIN=$(dirname "$(command -v cargo)")
toolbin=$(mktemp -d)
for tool in rustup cargo rustc; do cp -L "$CARGO_BIN/$tool" "$toolbin/$tool"; done

start=$(date +%s)
"${B[@]}" bud --format docker --isolation chroot --layers \
  -v "$RUSTUP_HOME:/opt/rustup" -v "$toolbin:/usr/local/cargo/bin:ro" \
  --build-arg BUILDER_IMAGE=localhost/rust-builder:local \
  --build-arg RUNTIME_IMAGE=localhost/debian:local \
  --build-arg TARGET_ARCH="$(uname -m | sed 's/aarch64/arm64/')" \
  -t "$IMAGE" .
echo "image built in $(( $(date +%s) - start )) s"
rm -rf "$toolbin"

# Size of the image and the binary; the newest glibc symbol the binary needs
# must be available on Amazon Linux 2023 (glibc 2.34).
ctr=$("${B[@]}" from "$IMAGE")
mnt=$("${B[@]}" mount "$ctr")
bin_size=$(stat -c %s "$mnt/var/runtime/bootstrap")
glibc=$(objdump -T "$mnt/var/runtime/bootstrap" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -n 1)
"${B[@]}" umount "$ctr" >/dev/null
"${B[@]}" rm "$ctr" >/dev/null
echo "binary: $bin_size bytes, newest glibc symbol $glibc"
if [ "$(printf '%s\nGLIBC_2.34\n' "$glibc" | sort -V | tail -n 1)" != "GLIBC_2.34" ]; then
  echo "the binary needs $glibc, newer than Amazon Linux 2023's glibc 2.34" >&2
  exit 1
fi
"${B[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"

AUTHOR_STATS_IMAGE=$IMAGE cargo test --locked --test it image:: -- --ignored --nocapture
