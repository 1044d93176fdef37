#!/usr/bin/env bash
# The Debian packages `make test` needs beyond Python, installed when missing (as root, or with sudo):
# Chromium and ChromeDriver for the browser test (scripts/check_site.py; Playwright's and Selenium
# Manager's own browser downloads are not reachable here, Debian's packages are), and XeLaTeX with
# latexmk and the FreeFont/DejaVu fonts for the PDF (make pdf). Measured: about 2.5 minutes for TeX.
# `make test` calls it first (target system-packages). Where it cannot install (not root, no
# password-less sudo, or no apt-get), it stops at once with one line naming what is missing.
set -euo pipefail
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}              # overridable, for the script's own test
CHROMEDRIVER_BIN=${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}
need=()
{ [ -x "$CHROMIUM_BIN" ] && [ -x "$CHROMEDRIVER_BIN" ]; } || need+=(chromium chromium-driver)
command -v xelatex >/dev/null && command -v latexmk >/dev/null && kpsewhich fncychap.sty >/dev/null 2>&1 \
  || need+=(texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk)
[ -n "$(fc-list FreeSerif 2>/dev/null)" ] || need+=(fonts-freefont-otf)
[ -n "$(fc-list "DejaVu Sans Mono" 2>/dev/null)" ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
command="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  else
    echo "make test needs Debian packages that are missing and cannot be installed without root: ${need[*]}; install them with: sudo sh -c '$command'" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "make test needs packages that are missing (${need[*]}) and this machine has no apt-get; install their equivalents (Chromium + ChromeDriver, XeLaTeX + latexmk, FreeFont, DejaVu) and rerun" >&2
  exit 1
fi
echo "installing ${need[*]}"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
