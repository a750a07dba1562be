#!/usr/bin/env bash
# The CloudFormation template, proven by the real linters: cfn-lint reports
# nothing, every cfn-guard rule passes on the template and rejects its own bad
# example, checkov finds no failed check (skips are written in the template
# with their reasons), and asl-validator accepts the state machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_tools
ensure_template_tools
T=cloudformation/author-stats-batch.yaml

if [ -n "$(cfn-lint "$T" 2>&1)" ]; then
  cfn-lint "$T"
  echo "cfn-lint: findings on $T" >&2
  exit 1
fi
echo "cfn-lint: $T clean"

for rule in cloudformation/rules/*.guard; do
  bad="${rule%.guard}.bad.yaml"
  [ -f "$bad" ] || { echo "$rule has no bad example $bad" >&2; exit 1; }
  cfn-guard validate --rules "$rule" --data "$T" --show-summary none >/dev/null \
    || { cfn-guard validate --rules "$rule" --data "$T" --show-summary fail; echo "guard: $rule fails on $T" >&2; exit 1; }
  if cfn-guard validate --rules "$rule" --data "$bad" --show-summary none >/dev/null 2>&1; then
    echo "guard: $rule does not reject $bad (a rule that cannot fail)" >&2
    exit 1
  fi
  echo "cfn-guard: $(basename "$rule") passes on the template and rejects $(basename "$bad")"
done

checkov -f "$T" --framework cloudformation --compact --quiet --skip-download
echo "checkov: no failed checks"

# The scale-out state machine's definition, with the template's references
# substituted, through a real Amazon States Language validator; a broken copy
# (a dangling Next) must be rejected.
sm=$(mktemp -d)
trap 'rm -rf "$sm"' EXIT
"$TOOLS/venv/bin/python" scripts/state-machine.py "$T" > "$sm/scale-out.json"
"$TOOLS/bin/asl-validator" --json-path "$sm/scale-out.json"
"$TOOLS/venv/bin/python" scripts/state-machine.py "$T" --break > "$sm/broken.json"
if "$TOOLS/bin/asl-validator" --json-path "$sm/broken.json" >/dev/null 2>&1; then
  echo "asl-validator: accepts a definition with a dangling Next (a check that cannot fail)" >&2
  exit 1
fi
echo "asl-validator: the scale-out state machine is valid; a broken copy is rejected"
