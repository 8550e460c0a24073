#!/usr/bin/env bash
# Installs the system packages the test suite needs: PostgreSQL (a throwaway server is started
# for the run) and Debian's Chromium (driven by Playwright for the real-browser test).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-test-deps: need ${need[*]} but not root and no sudo; those tests will be skipped" >&2
    exit 0
  fi
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
# The Debian package starts its own cluster; the tests start a private one instead.
$SUDO service postgresql stop >/dev/null 2>&1 || true
