#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against
# paylink's streamable HTTP transport, in two phases:
#
#   1. fixtures: every server scenario of the suite (`--suite all`: the active scenarios and
#      the pending ones, json-schema-2020-12 and server-sse-polling) against
#      `paylink-conformance` (conformance/), which serves the suite's fixture tools,
#      resources and prompts with the same transport settings as paylink's src/mcp/http.rs.
#      The fixtures never appear in paylink's own tool list.
#   2. product: the scenarios that need no fixture (GENERIC_SCENARIOS below) against
#      `paylink serve --http`, offline (built-in sandbox, no credentials, throwaway ledger).
#
# Each server listens on a port the kernel picks (port 0) and prints its URL on stderr;
# the script reads the URL, waits until /health answers, runs the suite, then stops the
# server. Exit status: 0 when both phases pass, otherwise the first failing phase's status.
#
# Needs: cargo, Node >= 20 with npx, and access to the npm registry (npx fetches the suite).
# Usage: bash .ci/conformance.sh
# Env:   CONFORMANCE_OUT       where logs and per-scenario checks.json go
#                              (default: target/conformance)
#        CONFORMANCE_TIMEOUT   seconds allowed for one suite run (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."

# 0.1.13 is the newest release that runs on Node 20: 0.1.14+ import fs.globSync (Node 22).
SUITE_VERSION=0.1.13
SUITE=(npx -y "@modelcontextprotocol/conformance@${SUITE_VERSION}")
STARTUP_DEADLINE=60
SUITE_TIMEOUT=${CONFORMANCE_TIMEOUT:-600}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${CONFORMANCE_OUT:-$TARGET_DIR/conformance}

# Scenarios that test the protocol and the transport rather than named fixtures
# (`conformance list --server` gives every name).
GENERIC_SCENARIOS=(
  server-initialize
  ping
  tools-list
  logging-set-level
  resources-list
  server-sse-multiple-streams
  dns-rebinding-protection
)

command -v npx >/dev/null || { echo "conformance: npx not found (install Node.js >= 20)" >&2; exit 2; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "conformance: Node $(node --version) is too old; the suite needs Node >= 20" >&2
  exit 2
fi

started=$SECONDS
work=$(mktemp -d)
rm -rf "$OUT"
mkdir -p "$OUT"
server_pid=""

stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT

# wait_for_server LOG: waits until the server started last has printed its
# http://127.0.0.1:PORT/mcp URL on stderr (LOG) and its /health answers 200, then prints
# the URL. Fails if the server exits or the deadline passes.
wait_for_server() {
  local log=$1 deadline=$((SECONDS + STARTUP_DEADLINE)) url="" port status
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "conformance: the server exited during startup:" >&2
      cat "$log" >&2
      return 1
    fi
    if [ -z "$url" ]; then
      url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/mcp' "$log" | head -n 1 || true)
    fi
    if [ -n "$url" ]; then
      port=${url#http://127.0.0.1:}
      port=${port%/mcp}
      status=$(
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
        printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        IFS= read -r -t 5 line <&3 && printf '%s' "$line"
      ) 2>/dev/null || true
      case $status in
        "HTTP/1.1 200"*) echo "$url"; return 0 ;;
      esac
    fi
    sleep 0.2
  done
  echo "conformance: no healthy server within ${STARTUP_DEADLINE}s:" >&2
  cat "$log" >&2
  return 1
}

# ---------------------------------------------------------------------------------------
echo "== phase 1: conformance fixtures (paylink-conformance), suite ${SUITE_VERSION}, --suite all"
cargo build -p paylink-conformance
"$TARGET_DIR/debug/paylink-conformance" --port 0 2>"$OUT/fixture-server.log" &
server_pid=$!
url=$(wait_for_server "$OUT/fixture-server.log")
echo "fixture server at $url"

fixtures_status=0
timeout "$SUITE_TIMEOUT" "${SUITE[@]}" server --url "$url" --suite all -o "$OUT/fixtures" \
  >"$OUT/fixtures.log" 2>&1 || fixtures_status=$?
stop_server
if [ "$fixtures_status" -eq 0 ]; then
  sed -n '/=== SUMMARY ===/,$p' "$OUT/fixtures.log"
else
  cat "$OUT/fixtures.log"
  echo "phase 1 FAILED (suite exit status $fixtures_status; log: $OUT/fixtures.log)"
fi

# ---------------------------------------------------------------------------------------
echo
echo "== phase 2: paylink serve --http, generic scenarios"
# Built as `cargo test --workspace` builds it (dev-dependency features unified), so after the
# test run this is a no-op instead of a second compile of paylink and its dependencies.
cargo test --workspace --no-run --quiet
paylink_bin=$(cd "$TARGET_DIR/debug" && pwd)/paylink
# A clean, credential-free paylink: no inherited PAYLINK_*/FLOW_* settings (bearer tokens
# would fail the suite, Flow keys would leave the offline sandbox), a throwaway ledger, the
# side listener on a free port, and a working directory without a paylink.toml.
unset_vars=()
for v in $(compgen -e); do
  case $v in PAYLINK_* | FLOW_*) unset_vars+=(-u "$v") ;; esac
done
mkdir -p "$work/run"
(
  cd "$work/run"
  exec env "${unset_vars[@]}" PAYLINK_DATA_DIR="$work/ledger" PAYLINK_LISTEN=127.0.0.1:0 \
    "$paylink_bin" serve --http 127.0.0.1:0
) 2>"$OUT/paylink-server.log" &
server_pid=$!
url=$(wait_for_server "$OUT/paylink-server.log")
echo "paylink at $url"

product_status=0
passed=0
failed=0
for scenario in "${GENERIC_SCENARIOS[@]}"; do
  log="$OUT/paylink-$scenario.log"
  status=0
  timeout "$SUITE_TIMEOUT" "${SUITE[@]}" server --url "$url" --scenario "$scenario" \
    -o "$OUT/paylink" >"$log" 2>&1 || status=$?
  result=$(grep -m1 'Passed:' "$log" || echo "no result")
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "✓ $scenario: $result"
  else
    failed=$((failed + 1))
    product_status=$status
    echo "✗ $scenario: $result (exit status $status)"
    sed -n '/=== Failed Checks ===/,$p' "$log"
  fi
done
stop_server
echo "paylink: ${passed} scenarios passed, ${failed} failed"

echo
echo "conformance: done in $((SECONDS - started))s (logs and checks.json in $OUT)"
if [ "$fixtures_status" -ne 0 ]; then exit "$fixtures_status"; fi
exit "$product_status"
