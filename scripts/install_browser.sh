#!/usr/bin/env bash
# Headless Chromium for the page test (tests/e2e/test_frontend_page.py), from Debian's packages.
# Playwright drives this binary (executable_path); its own browser download is never used.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "[browser] installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq chromium
