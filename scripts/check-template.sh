#!/usr/bin/env bash
# The CloudFormation template, proven by the real linters: cfn-lint reports
# nothing, every cfn-guard rule passes on the template and rejects its own bad
# example, and checkov finds no failed check (skips are written in the template
# with their reasons).
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
