#!/usr/bin/env bash
# Build the web console (console/dist, served by bkdata-server at /) and make sure its
# end-to-end tests can run: the npm packages (npm ci, from package-lock.json) and Debian's
# chromium for Playwright (never a browser downloaded by a test tool). Idempotent: installs
# and builds only what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/../console"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf '[console] %s\n' "$*"; }

if ! command -v npm >/dev/null; then
  say "installing Node.js and npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ "${1:-}" != "--no-browser" ]; then
  # The browser for the console tests, and a CJK font so its screenshots show Chinese.
  missing=""
  command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || missing="chromium"
  [ -d /usr/share/fonts/truetype/wqy ] || missing="$missing fonts-wqy-microhei"
  if [ -n "$missing" ]; then
    say "installing$( [ -n "$missing" ] && echo " $missing") (Debian's packages) for the console tests"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Rebuild when any source is newer than the last build.
stamp=dist/index.html
if [ ! -f "$stamp" ] || [ -n "$(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer "$stamp" -print -quit)" ]; then
  say "building console/dist"
  npm run --silent build >/dev/null
fi
say "console/dist is up to date"
