#!/usr/bin/env bash
# Qdrant compatibility check (registered in ctest as qdrant_js_compat):
#   1. installs the pinned npm packages (package-lock.json) into
#      tests/compat/node_modules when they are missing or out of date;
#   2. lints docs/openapi.yaml with Redocly CLI (config: redocly.yaml here);
#   3. runs qdrant_js_test.mjs: the official Qdrant JS client against a real
#      `cairn serve` (the binary named by CAIRN_BINARY, default build/cairn).
# Exits non-zero on any failure, including a missing node or npm.
#
# Environment: CAIRN_BINARY (the cairn binary), CAIRN_NPM_CACHE (optional
# npm cache directory; npm's default otherwise).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

fail() {
  echo "qdrant_js_compat: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 ||
  fail "node is not installed; this test needs Node.js 20.19+ and npm (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 ||
  fail "npm is not installed; this test needs Node.js 20.19+ and npm (Debian: apt-get install npm)"

# @redocly/cli 2.x needs Node 20.19+ (or 22.12+); the JS client and the test
# itself need 18.17+.
node_version="$(node -p 'process.versions.node')"
node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1);
' || fail "Node.js $node_version is too old: @redocly/cli needs 20.19+ or 22.12+"

export CAIRN_BINARY="${CAIRN_BINARY:-$root/build/cairn}"
case "$CAIRN_BINARY" in
  /*) ;;
  *) CAIRN_BINARY="$PWD/$CAIRN_BINARY" ;;
esac
[[ -x "$CAIRN_BINARY" ]] || fail "CAIRN_BINARY=$CAIRN_BINARY is not an executable"

# 1. Packages: npm ci when node_modules is missing or older than the lock.
stamp="$here/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$here/package-lock.json" -nt "$stamp" ||
      ! -d "$here/node_modules/@qdrant/js-client-rest" ||
      ! -d "$here/node_modules/@redocly/cli" ]]; then
  echo "qdrant_js_compat: npm ci in $here"
  npm_args=(ci --no-audit --no-fund --ignore-scripts)
  if [[ -n "${CAIRN_NPM_CACHE:-}" ]]; then
    npm_args+=(--cache "$CAIRN_NPM_CACHE")
  fi
  (cd "$here" && npm "${npm_args[@]}") || fail "npm ci failed"
fi

# 2. Lint the OpenAPI document (no telemetry, no update notice).
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
echo "qdrant_js_compat: redocly lint docs/openapi.yaml"
(cd "$here" && npx --no -- redocly lint --config "$here/redocly.yaml" "$root/docs/openapi.yaml") ||
  fail "docs/openapi.yaml does not pass the lint"

# 3. The client against the server.
echo "qdrant_js_compat: node --test qdrant_js_test.mjs (CAIRN_BINARY=$CAIRN_BINARY)"
cd "$here"
node --test qdrant_js_test.mjs || fail "the compatibility test failed"
echo "qdrant_js_compat: passed"
