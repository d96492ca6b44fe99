#!/usr/bin/env bash
# Installs what `npm start` / `npm test` need when it is missing: npm packages, then the build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/cli.js ] || npm run -s build
