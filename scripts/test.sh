#!/usr/bin/env bash
# All tests: unit and integration tests (a real S3-compatible server and the
# Lambda runtime emulator, both started by the tests), then the checks on the
# Dockerfile and the CloudFormation template. Installs the tools it needs into
# .tools/ on first use (PyPI, npm), so it runs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_tools

# The tests that need the emulator or Chromium are #[ignore]d for a plain
# `cargo test`; here those tools were just installed, so they run (the image
# test needs the image, and scripts/image-test.sh runs it).
cargo test --locked --workspace -- --include-ignored --skip image::image_

# No RustSec vulnerability in what ships (the dated snapshot, offline).
python3 scripts/advisories.py

# The module docs walk the functions; a link that no longer resolves fails.
RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" \
  cargo doc --locked --no-deps --document-private-items --quiet
echo "cargo doc: module docs and their links clean"

if [ -f cloudformation/author-stats-batch.yaml ]; then
  scripts/check-template.sh
  # The template deployed and the state machine executed on an AWS emulator.
  scripts/aws-emulator-test.sh
fi
if [ -f Dockerfile ]; then
  "$TOOLS/bin/hadolint" Dockerfile
  echo "hadolint: Dockerfile clean"
fi
shellcheck scripts/*.sh .ci/run
echo "shellcheck: scripts clean"
echo "all tests passed"
