#!/usr/bin/env bash
# Installs the test-only tools shopd's suites need, then runs every check and test suite.
# Used by README's Quick start and by .ci/run. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)   # promtool checks /metrics
if ((${#need_apt[@]})); then
  echo "==> installing test tools: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null; }
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then   # real SMTP server for mail tests
  echo "==> installing test tools: aiosmtpd (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test (unit, integration, CLI, crash, fault, metrics, architecture)"
cargo test --all-targets --locked
echo "==> doc tests"
cargo test --doc --locked
echo "==> all suites passed"
