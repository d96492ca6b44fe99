#!/usr/bin/env bash
# Installs what `npm start` / `npm test` need when it is missing, then builds when the build is
# missing or stale. Runs before every start and test run, so the everything-present path only
# checks and returns (well under a second).
#   - npm packages:          `npm ci` when node_modules is missing
#   - MariaDB server/client: apt-get when mariadbd is missing and we are root, else a message
#   - openssl:               the lab makes its CA and server certificate with it
#   - dist/:                 `npm run build` when missing or older than src/
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'ensure-deps: %s\n' "$*" >&2; }

if [ ! -d node_modules ]; then
  say "node_modules is missing: npm ci"
  npm ci --no-audit --no-fund
fi

# mariadbd lives in /usr/sbin, which a non-root PATH may lack.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }

missing=()
have mariadbd || missing+=(mariadb-server)
have mariadb || missing+=(mariadb-client)
have openssl || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing: ${missing[*]}"
    say "pairgate's lab runs real MariaDB servers. Install the Debian/Ubuntu packages, e.g.:"
    say "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# Build when dist/ is missing or any source or build setting is newer than the last build.
if [ ! -f dist/cli.js ] ||
  [ -n "$(find src tsconfig.json package.json -newer dist/cli.js -print -quit 2>/dev/null)" ]; then
  say "building dist/ (npm run build)"
  npm run -s build
fi
