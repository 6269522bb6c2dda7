#!/usr/bin/env bash
# Webhook benchmark: a signed Messenger FAQ question through the whole bot (signature, dedupe,
# NLU, policy, outbox, delivery to a fake Graph API on loopback), an empty component and a
# small SQLite probe, on the local host and under real Spin (SPIN_BIN, spin on PATH, or
# ../shared/tools/spin/spin) side by side, in alternating rounds at concurrency 1 and 32.
# Figures: throughput, client round trip, time until the reply reaches the Graph API, and
# server-side times where the runtime logs them (tests/examples/webhook_bench.rs).
#
#   bench/webhook.sh [requests-per-row]   (default 3200; results in bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
cargo build --release -p host
target/release/host build -f spin.toml >/dev/null
target/release/host build -f tests/fixtures/spin.toml >/dev/null
mkdir -p bench/results
out=bench/results/webhook-$(date -u +%Y%m%dT%H%M%SZ).txt
cargo run --release -q -p e2e --example webhook_bench -- "${1:-3200}" | tee "$out"
echo "results: $out"
