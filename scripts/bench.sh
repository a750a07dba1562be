#!/usr/bin/env bash
# The benchmark (not part of the test suite): micro benchmarks of the hot stages,
# then the end-to-end runs and the Python/matplotlib yardstick, then the strong
# Python peer side by side (scripts/bench-peer.sh). Results go to
# target/bench/results.md and target/criterion/; docs/performance.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_tools
"$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check matplotlib
cargo bench --locked --bench stages
cargo bench --locked --bench pipeline
# The strong peer (ISA-L, msgspec, Pillow), side by side and interleaved.
scripts/bench-peer.sh
