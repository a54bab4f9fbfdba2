#!/usr/bin/env bash
# Installs what the benchmark peers need, into local folders only; safe to run again.
#
#   benches/peers/.venv                     Python venv with the official MCP SDK (pinned)
#   benches/peers/typescript/node_modules   the official TypeScript MCP SDK + better-sqlite3
#
# better-sqlite3 is a native module: with no reachable prebuilt binary it is compiled by
# node-gyp against the local Node headers (/usr/include/node), which takes a minute or two.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MCP_PY_VERSION="2.3.0"   # pip index versions mcp (latest when pinned)

# ---- Python peer + driver -------------------------------------------------------------
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    for c in python3.11 python3.12 python3.13 python3; do
        if command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
    done
fi
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup.sh: needs Python >= 3.10 (set PYTHON=...)" >&2
    exit 1
fi
if [ ! -x "$HERE/.venv/bin/python" ]; then
    echo "setup.sh: creating $HERE/.venv with $PY"
    "$PY" -m venv "$HERE/.venv"
fi
if "$HERE/.venv/bin/python" - "$MCP_PY_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("mcp") == sys.argv[1] else 1)
EOF
then
    echo "setup.sh: mcp $MCP_PY_VERSION already in .venv"
else
    echo "setup.sh: pip install mcp==$MCP_PY_VERSION"
    "$HERE/.venv/bin/python" -m pip install --disable-pip-version-check -q "mcp==$MCP_PY_VERSION"
fi

# ---- TypeScript peer ------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup.sh: node and npm are needed for the TypeScript peer" >&2
    exit 1
fi
cd "$HERE/typescript"
# node-gyp: use the installed headers instead of downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
    export npm_config_nodedir=/usr
fi
native_ok() {
    node -e "const D = require('better-sqlite3'); new D(':memory:').close()" >/dev/null 2>&1
}
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
    && [ node_modules/.package-lock.json -nt package.json ] && native_ok; then
    echo "setup.sh: typescript/node_modules up to date"
else
    echo "setup.sh: npm ci in $HERE/typescript"
    npm ci --no-audit --no-fund
    # The hidden lockfile marks this install as done for the check above.
    touch node_modules/.package-lock.json
fi
if ! native_ok; then
    echo "setup.sh: better-sqlite3 did not build or load; see the npm output above" >&2
    exit 1
fi

echo "setup.sh: ready. Run: $HERE/.venv/bin/python $HERE/drive.py --quick"
