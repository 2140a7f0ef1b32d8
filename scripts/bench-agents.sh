#!/usr/bin/env bash
# The agent socket benchmark: memory per idle socket (server RSS at each of SOCKETS), webhook ->
# agent frame latency at RATE deliveries/s, and fan-out frames/s to WATCHERS sockets, on a fresh
# database and release server per run (RUNS runs; medians printed). Raw JSON in docs/bench/raw/.
#
#   scripts/bench-agents.sh                           # postgres, 5000,15000 sockets, 1000/s, 1000 watchers
#   BACKEND=sqlite SOCKETS=2000,8000 scripts/bench-agents.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${BACKEND:-postgres}"
SOCKETS="${SOCKETS:-5000,15000}"
RATE="${RATE:-1000}"
WATCHERS="${WATCHERS:-1000}"
FANOUT_RATE="${FANOUT_RATE:-100}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-8765}"
ulimit -n "$(ulimit -Hn)"
. scripts/bench-lib.sh

for run in $(seq 1 "$RUNS"); do
  start "$BACKEND"
  ./target/release/pytake-load agents --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret \
    --email admin@pytake.local --password bench-password-1 --server-pid "$server_pid" --sockets "$SOCKETS" \
    --rate "$RATE" --duration "$DURATION" --watchers "$WATCHERS" --fanout-rate "$FANOUT_RATE" \
    --label "$BACKEND" --json "$OUT/agents-$BACKEND-$run.json" | tail -1
done
stop
python3 - "$OUT" "$BACKEND" "$RUNS" <<'PY'
import json, sys, statistics
out, backend, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = [json.load(open(f"{out}/agents-{backend}-{i}.json")) for i in range(1, runs + 1)]
m = lambda f: statistics.median(f(x) for x in rs)
mem = " / ".join(f"{n}: {statistics.median(x['memory'][i][1] for x in rs) / 1024:.0f} MiB" for i, (n, _) in enumerate(rs[0]["memory"]))
print("\n| backend | RSS by open sockets | bytes per idle socket | frame p50 ms | frame p99 ms | frame p99 after warm-up ms | ack p99 ms | server stored p99 ms | frames timed | fan-out frames/s | watchers | closed early |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
print(f"| {backend} | {mem} | {m(lambda x: x['bytes_per_socket'] or 0):.0f} | {m(lambda x: x['frame_latency']['p50_ms']):.1f} | "
      f"{m(lambda x: x['frame_latency']['p99_ms']):.1f} | {m(lambda x: x['frame_latency_after_warmup']['p99_ms']):.1f} | "
      f"{m(lambda x: x['ack_latency']['p99_ms']):.1f} | {m(lambda x: (x['server_item_latency_ms'] or {}).get('p99', 0)):.1f} | {m(lambda x: x['frames_timed']):.0f} | {m(lambda x: x['fanout_frames_per_sec']):.0f} | "
      f"{rs[0]['watchers']} | {sum(x['fanout_closed_early'] for x in rs)} |")
PY
