#!/usr/bin/env bash
# The end-to-end flow benchmark: signed inbound webhooks -> conversation actor -> echo flow ->
# outbox -> an in-process fake Graph API, measured from the inbound message's intended send time to
# its reply's arrival at the fake. For each backend and rate, RUNS runs on a fresh database and a
# fresh release server; prints one Markdown row per configuration with the median of the runs.
# Raw JSON results go to docs/bench/raw/ (not committed).
#
#   scripts/bench-flow.sh                                  # postgres at 1000/s, no status webhooks
#   BACKENDS="sqlite postgres" RATES="500 1000" scripts/bench-flow.sh
#   STATUSES=1 RATES=500 scripts/bench-flow.sh             # plus sent/delivered/read webhooks per reply
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-postgres}"
RATES="${RATES:-1000}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-20}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-8765}"
GRAPH="${GRAPH:-127.0.0.1:9900}"
STATUSES="${STATUSES:-}"
EXTRA_ENV="PYTAKE__META__GRAPH_BASE_URL=http://$GRAPH"
. scripts/bench-lib.sh
tag=$([ -n "$STATUSES" ] && echo "-statuses" || true)

for backend in $BACKENDS; do
  for rate in $RATES; do
    for run in $(seq 1 "$RUNS"); do
      start "$backend"
      ./target/release/pytake-load flow --url "http://127.0.0.1:$PORT" --graph-listen "$GRAPH" --app-secret bench-app-secret \
        --rate "$rate" --duration "$DURATION" --conversations 1000 --email admin@pytake.local --password bench-password-1 \
        ${STATUSES:+--statuses} --label "$backend" --json "$OUT/flow$tag-$backend-$rate-$run.json" | tail -1
    done
  done
done
stop
python3 - "$OUT" "$BACKENDS" "$RATES" "$RUNS" "$tag" <<'PY'
import json, sys, statistics
out, backends, rates, runs, tag = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5]
print(f"\n| backend | inbound/s | statuses | replies/s | reply p50 ms | p90 ms | p99 ms | max ms | ack p50 ms | ack p99 ms | missing | duplicated | read |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for b in backends:
    for r in rates:
        rs = [json.load(open(f"{out}/flow{tag}-{b}-{r}-{i}.json")) for i in range(1, runs + 1)]
        m = lambda f: statistics.median(f(x) for x in rs)
        read = "-" if rs[0]["messages_read"] is None else f"{m(lambda x: x['messages_read']):.0f}/{m(lambda x: x['replies']):.0f}"
        print(f"| {b} | {r} | {'yes' if tag else 'no'} | {m(lambda x: x['replies_per_sec']):.0f} | "
              f"{m(lambda x: x['reply_latency']['p50_ms']):.1f} | {m(lambda x: x['reply_latency']['p90_ms']):.1f} | "
              f"{m(lambda x: x['reply_latency']['p99_ms']):.1f} | {m(lambda x: x['reply_latency']['max_ms']):.0f} | "
              f"{m(lambda x: x['ack_latency']['p50_ms']):.1f} | {m(lambda x: x['ack_latency']['p99_ms']):.1f} | "
              f"{sum(x['missing'] for x in rs)} | {sum(x['duplicated'] for x in rs)} | {read} |")
PY
