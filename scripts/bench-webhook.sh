#!/usr/bin/env bash
# The webhook benchmark: for each backend and rate, RUNS runs on a fresh database and a fresh
# release server, each driven by `pytake-load webhook`; prints one Markdown row per configuration
# with the median of the runs. Raw JSON results go to docs/bench/raw/ (not committed).
#
#   scripts/bench-webhook.sh                       # sqlite and postgres at 1000, 2000, 3000/s
#   BACKENDS=postgres RATES="3000" RUNS=5 scripts/bench-webhook.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
RATES="${RATES:-1000 2000 3000}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-8765}"
. scripts/bench-lib.sh

for backend in $BACKENDS; do
  for rate in $RATES; do
    for run in $(seq 1 "$RUNS"); do
      start "$backend"
      ./target/release/pytake-load webhook --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret \
        --rate "$rate" --duration "$DURATION" --conversations 1000 --email admin@pytake.local --password bench-password-1 \
        --label "$backend" --json "$OUT/webhook-$backend-$rate-$run.json" | tail -1
    done
  done
done
stop
python3 - "$OUT" "$BACKENDS" "$RATES" "$RUNS" <<'PY'
import json, sys, statistics
out, backends, rates, runs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
print("\n| backend | target/s | acks/s | ack p50 ms | ack p99 ms | ack p99.9 ms | drain s | item p50 ms | item p99 ms | lost | double |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for b in backends:
    for r in rates:
        rs = [json.load(open(f"{out}/webhook-{b}-{r}-{i}.json")) for i in range(1, runs + 1)]
        m = lambda f: statistics.median(f(x) for x in rs)
        print(f"| {b} | {r} | {m(lambda x: x['acks_per_sec']):.0f} | {m(lambda x: x['ack_latency']['p50_ms']):.1f} | "
              f"{m(lambda x: x['ack_latency']['p99_ms']):.1f} | {m(lambda x: x['ack_latency']['p999_ms']):.1f} | "
              f"{m(lambda x: x['drain_secs']):.1f} | {m(lambda x: x['server_item_latency_ms']['p50']):.0f} | "
              f"{m(lambda x: x['server_item_latency_ms']['p99']):.0f} | {sum(x['lost'] for x in rs)} | {sum(x['double_processed'] for x in rs)} |")
PY
