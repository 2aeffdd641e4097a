#!/usr/bin/env bash
# A browser for the end-to-end tests and benchmarks: Debian's Chromium where apt-get can install it (Playwright
# cannot download its own browser on machines without general internet access), else Playwright's own build.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt-get (e.g. a parallel set-up step) instead of failing on its lock.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
  exit 0
fi
"$(dirname "$0")/../.venv/bin/python" -m playwright install chromium
