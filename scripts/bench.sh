#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md, in one command:
#
#   bash scripts/bench.sh            # all benchmarks + the long crash and fuzz variants
#   QUICK=1 bash scripts/bench.sh    # benchmarks only
#
# Each benchmark's output is kept in target/bench-results/<name>.txt, with the machine and
# date in target/bench-results/machine.txt. Every load is sent on loopback only and is
# bounded in count and time. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-results
mkdir -p "$out"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
  echo "memory: $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "rustc: $(rustc --version)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

run() {
  local name=$1; shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$out/$name.txt"
}

run gateway cargo bench --bench gateway -- --noplot
run ledger  cargo bench --bench ledger -- --noplot
run webhook cargo bench --bench webhook
run mcp     cargo bench --bench mcp
run load    cargo bench --bench load
run replicas cargo bench --bench replicas
# Side by side with the official Python and TypeScript SDK servers, measured with the
# official Python SDK client and a plain HTTP/1.1 keep-alive / plain stdio client.
cargo build --release --bin paylink
bash benches/peers/setup.sh
run peers   benches/peers/.venv/bin/python benches/peers/drive.py --json "$out/peers.json"

if [ -z "${QUICK:-}" ]; then
  # The long variants of the robustness tests.
  run crash-long env PAYLINK_CRASH_ROUNDS=100 cargo test --release --test it crash_server:: -- --nocapture
  run fuzz-long  env PROPTEST_CASES=20000 cargo test --release --test it fuzz:: -- --nocapture
fi
echo "results in $out/"
