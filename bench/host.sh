#!/usr/bin/env bash
# Host overhead benchmark: requests per second and p50/p99 latency at concurrency 1 and 32,
# through the local host, for an empty component (the baseline) and for the Messenger
# webhook verification route, plus a bare hyper server with no Wasm (the floor: loopback,
# oha and hyper), measured side by side in one run with oha.
#
#   bench/host.sh [seconds-per-run]      (default 10; results in bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
secs="${1:-10}"

# oha, a well-kept HTTP load generator, installed into .tools/ once.
OHA=.tools/bin/oha
if [ ! -x "$OHA" ]; then
  cargo install oha --locked --version 1.16.0 --root .tools
fi

cargo build --release -p host --example floor
target/release/host build -f tests/fixtures/spin.toml >/dev/null

state=$(mktemp -d)
SPIN_VARIABLE_FIXTURE_SECRET=bench target/release/host up -f tests/fixtures/spin.toml \
  --listen 127.0.0.1:0 --state-dir "$state" --cache-dir target/bench-cache >"$state/out" 2>"$state/log" &
host_pid=$!
trap 'kill $host_pid 2>/dev/null; rm -rf "$state"' EXIT
# The first start compiles the components (cached in target/bench-cache afterwards).
for _ in $(seq 1200); do grep -q '^Serving' "$state/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^Serving //p' "$state/out")
[ -n "$base" ] || { echo "host did not start:"; cat "$state/log"; exit 1; }

# The floor: a bare hyper server, no Wasm (host/examples/floor.rs).
target/release/examples/floor 127.0.0.1:0 >"$state/floor-out" &
floor_pid=$!
trap 'kill $host_pid $floor_pid 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do grep -q '^Serving' "$state/floor-out" 2>/dev/null && break; sleep 0.1; done
floor="$(sed -n 's/^Serving //p' "$state/floor-out")/"

empty="$base/empty"
verify="$base/webhooks/messenger?hub.mode=subscribe&hub.verify_token=bench-token&hub.challenge=42"
mkdir -p bench/results
out=bench/results/host-$(date -u +%Y%m%dT%H%M%SZ).json
echo "[" >"$out"
first=1
# Interleave the two targets so drifting machine load hits both alike.
for c in 1 32; do
  for target in floor empty verify; do
    url=${!target}
    "$OHA" -z "${secs}s" -c "$c" --no-tui --output-format json "$url" >"$state/r.json"
    [ $first -eq 1 ] || echo "," >>"$out"
    first=0
    python3 - "$target" "$c" "$state/r.json" >>"$out" <<'PY'
import json, sys
name, c, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = json.load(open(path))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
print(json.dumps({"target": name, "concurrency": c, "rps": s["requestsPerSec"],
                  "p50_us": p["p50"] * 1e6, "p99_us": p["p99"] * 1e6,
                  "status": codes}))
PY
  done
done
echo "]" >>"$out"

python3 - "$out" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
print(f"{'target':<8} {'c':>3} {'req/s':>10} {'p50 µs':>9} {'p99 µs':>9}  status")
by = {}
for r in rows:
    by[(r["target"], r["concurrency"])] = r
    print(f"{r['target']:<8} {r['concurrency']:>3} {r['rps']:>10.0f} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f}  {r['status']}")
for c in (1, 32):
    f, e, v = by[("floor", c)], by[("empty", c)], by[("verify", c)]
    print(f"c={c}: host overhead (empty - floor) p50 {e['p50_us'] - f['p50_us']:.0f} µs; "
          f"verify/empty p50 ratio {v['p50_us']/e['p50_us']:.2f}, rps ratio {v['rps']/e['rps']:.2f}")
print(f"results: {sys.argv[1]}")
PY
