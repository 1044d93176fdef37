#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser test (scripts/check_site.py), installed when missing.
# Playwright's and Selenium Manager's own browser downloads are not reachable here; Debian's packages are.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version
