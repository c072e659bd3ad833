#!/usr/bin/env bash
# Installs the test-only tools shopd's suites need, then runs every check and test suite.
# Used by README's Quick start and by .ci/run. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)   # promtool checks /metrics
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)   # verify + security of the unit
/usr/bin/python3 -c "import seccomp" >/dev/null 2>&1 || need_apt+=(python3-seccomp)   # the unit's seccomp filter
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)   # the reverse proxy in front
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)   # the other documented reverse proxy
[ -x /usr/bin/chromium ] || need_apt+=(chromium)   # the browser suite drives Debian's Chromium headless
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)   # runs playwright-core and axe-core
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)   # the suite's second storage backend
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)   # a throw-away CA for the PostgreSQL TLS test
if ((${#need_apt[@]})); then
  echo "==> installing test tools: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Test tools only: their packages must not start daemons (nginx on :80, caddy, prometheus);
  # the suites start their own on loopback. policy-rc.d is Debian's switch for that.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null; }
  if trap -p EXIT | grep -q policy-rc.d; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

need_pip=()
python3 -c "import aiosmtpd" >/dev/null 2>&1 || need_pip+=(aiosmtpd)   # real SMTP server for mail tests
command -v openapi-spec-validator >/dev/null 2>&1 || need_pip+=(openapi-spec-validator)   # OpenAPI 3.1 validity
command -v openapi-python-client >/dev/null 2>&1 || need_pip+=(openapi-python-client)     # a client generated from our document
python3 -c "import standardwebhooks" >/dev/null 2>&1 || need_pip+=(standardwebhooks)      # verifies our outgoing webhooks
python3 -c "import stripe" >/dev/null 2>&1 || need_pip+=(stripe)                          # signs Stripe webhook events in tests
python3 -c "import scipy, statsmodels" >/dev/null 2>&1 || need_pip+=(scipy statsmodels)  # independent checks of the experiment statistics
if ((${#need_pip[@]})); then
  echo "==> installing test tools: ${need_pip[*]} (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi

if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ]; then
  echo "==> installing test tools: playwright-core, axe-core (npm, pinned by tests/browser/package-lock.json)"
  # playwright-core never downloads a browser: the suite uses Debian's /usr/bin/chromium.
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

# A throw-away PostgreSQL cluster on a loopback port for the PostgreSQL leg of the suite (and
# the migrate-storage round trip); stopped and deleted on exit.
PG_TMP=$(mktemp -d)
chmod 755 "$PG_TMP"
trap 'bash tests/support/postgres.sh stop "$PG_TMP/pg"; rm -rf "$PG_TMP"' EXIT
SHOPD_TEST_POSTGRES=$(bash tests/support/postgres.sh start "$PG_TMP/pg")
export SHOPD_TEST_POSTGRES
echo "==> PostgreSQL for the tests at $SHOPD_TEST_POSTGRES"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test (unit, integration, CLI, crash, fault, metrics, architecture) on the embedded store"
cargo test --all-targets --locked
echo "==> the integration suite again on PostgreSQL"
SHOPD_TEST_BACKEND=postgres cargo test --test it --locked
echo "==> doc tests"
cargo test --doc --locked
echo "==> all suites passed"
