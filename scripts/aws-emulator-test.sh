#!/usr/bin/env bash
# The emulated-AWS stage: the template deployed on moto's CloudFormation
# three ways and the state machine executed, with the release binary under
# the Lambda runtime emulator (test-support/aws-emulator/stage.py says what
# it covers). Installs moto into its own virtualenv under .tools/ on first
# use (with cargo-lambda, whose local loop it drives too); builds the release
# binary unless AUTHOR_STATS_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_tools
venv="$TOOLS/aws-venv"
if [ ! -x "$venv/bin/cargo-lambda" ] || ! "$venv/bin/python" -c 'import moto, jsonata' 2>/dev/null; then
  python3 -m venv "$venv"
  # cargo-lambda's wheel carries its binary (building it from crates.io takes
  # over 10 minutes); the stage drives the documented local loop with it.
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'moto[server]==5.2.5' 'jsonata-python==0.7.1' 'cargo-lambda==1.9.2'
fi
if [ -z "${AUTHOR_STATS_BIN:-}" ]; then
  cargo build --locked --release --quiet --bin author-stats
  AUTHOR_STATS_BIN="$PWD/target/release/author-stats"
fi
export AUTHOR_STATS_BIN
started=$(date +%s)
"$venv/bin/python" test-support/aws-emulator/stage.py
echo "emulated AWS stage passed in $(( $(date +%s) - started )) s"
