#!/usr/bin/env bash
# make test: the browser tests (tests/browser) drive Debian's Chromium at
# CHROMIUM_PATH (default /usr/bin/chromium), never a downloaded browser.
# When it is missing, install Debian's chromium if this user may (root, or
# sudo without a password); otherwise stop at once with one line saying what
# to install, instead of failing minutes later inside the test run.
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0

how="sudo apt-get install chromium"
[ "$chromium" = /usr/bin/chromium ] || how="$how, or point CHROMIUM_PATH at a Chromium"
missing() { echo "make test: the browser tests need Chromium at $chromium: $how" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || missing
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  missing
fi
echo "make test: installing Debian's chromium for the browser tests" >&2
# The package lists may be stale or absent on a fresh machine: update once and retry.
{ "${as_root[@]}" apt-get install -y -qq chromium ||
  { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq chromium; }; } >/dev/null 2>&1 || true
[ -x "$chromium" ] || missing
