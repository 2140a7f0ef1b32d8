#!/usr/bin/env bash
# The benchmark suite on one machine: each scenario on a fresh database and a fresh release server,
# its JSON result in docs/bench/raw/ (not committed) and, where the scenario draws one, an SVG chart
# of latency percentiles and throughput per second in docs/bench/ (linked from docs/BENCHMARKS.md).
# Prints a summary table at the end. The deeper per-scenario scripts (several runs, medians, more
# rates) are scripts/bench-webhook.sh, bench-flow.sh and bench-agents.sh.
#
#   scripts/bench.sh              # the whole suite (about 6 minutes after the release build)
#   SOAK_SECS=600 scripts/bench.sh soak   # the 10-minute soak alone (scripts/bench.sh flow: the flow alone)
#   DENSITY=1000000 scripts/bench.sh density   # N conversation actors woken, then 10k cold touches
#                                   (not in `all`: see docs/BENCHMARKS.md, it overloads this box today)
set -euo pipefail
cd "$(dirname "$0")/.."
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
PORT="${PORT:-8765}"
SOAK_SECS="${SOAK_SECS:-120}"
. scripts/bench-lib.sh
CHARTS=docs/bench
LOAD=./target/release/pytake-load
login=(--email admin@pytake.local --password bench-password-1)
rows=()

row() { rows+=("$1"); echo "$1"; }

http_floor() {
  start sqlite
  $LOAD http --url "http://127.0.0.1:$PORT" --connections 64 --duration 10 --label sqlite \
    --json "$OUT/suite-http.json" --chart "$CHARTS/http-floor.svg" | tail -1
  row "$(python3 -c "import json;r=json.load(open('$OUT/suite-http.json'));print(f\"| HTTP floor (GET /health/live, 64 clients) | {r['requests_per_sec']:.0f} req/s | p50 {r['latency']['p50_ms']} ms, p99 {r['latency']['p99_ms']} ms | errors {r['errors']} |\")")"
}

webhook() { # backend rate duration name
  start "$1"
  $LOAD webhook --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret --rate "$2" --duration "$3" \
    --conversations 1000 "${login[@]}" --label "$1" --json "$OUT/suite-$4.json" --chart "$CHARTS/$4.svg" | tail -1
  row "$(python3 -c "import json;r=json.load(open('$OUT/suite-$4.json'));print(f\"| webhook $4 ($1, $2/s x $3 s) | {r['acks_per_sec']:.0f} acks/s | p50 {r['ack_latency']['p50_ms']} ms, p99 {r['ack_latency']['p99_ms']} ms | lost {r['lost']}, double {r['double_processed']} |\")")"
}

flow() {
  EXTRA_ENV="PYTAKE__META__GRAPH_BASE_URL=http://127.0.0.1:9911" start postgres
  $LOAD flow --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret --graph-listen 127.0.0.1:9911 --rate 1000 \
    --duration 10 --conversations 1000 "${login[@]}" --label postgres --json "$OUT/suite-flow.json" | tail -1
  row "$(python3 -c "import json;r=json.load(open('$OUT/suite-flow.json'));print(f\"| end-to-end flow (postgres, 1000/s x 10 s) | {r['replies_per_sec']:.0f} replies/s | p50 {r['reply_latency']['p50_ms']} ms, p99 {r['reply_latency']['p99_ms']} ms | missing {r['missing']}, dup {r['duplicated']} |\")")"
}

density() { # conversations: actor density, then 10k cold rehydrations (one per contact)
  local n=${DENSITY:-60000}
  EXTRA_ENV="PYTAKE__META__GRAPH_BASE_URL=http://127.0.0.1:9911 PYTAKE__ACTORS__IDLE_TTL_SECS=${IDLE_TTL:-150}" start postgres
  $LOAD flow --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret --graph-listen 127.0.0.1:9911 --rate 1000 \
    --duration 10 --conversations "$n" --activate --activate-rate "${ACTIVATE_RATE:-400}" --server-pid "$server_pid" --cold-wait 300 \
    --drain-timeout 600 "${login[@]}" --label density --json "$OUT/suite-density.json" | tail -1
  row "$(python3 - "$OUT/suite-density.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); d = r["density"]
print(f"| actor density + cold rehydration (postgres, {d['activated']} conversations) | {d['actors_active']} actors active, "
      f"{d['bytes_per_active_actor']:.0f} bytes each (RSS {d['rss_before_mib']} -> {d['rss_active_mib']} MiB); "
      f"{d['actors_after_wait']} left after passivation | 10,000 cold touches: reply p50 {r['reply_latency']['p50_ms']} ms, "
      f"p99 {r['reply_latency']['p99_ms']} ms | missing {r['missing']}, dup {r['duplicated']} |")
PY
)"
}

soak() {
  start postgres
  local rss_before rss_after
  rss_before=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  $LOAD webhook --url "http://127.0.0.1:$PORT" --app-secret bench-app-secret --rate 500 --duration "$SOAK_SECS" \
    --conversations 5000 "${login[@]}" --label soak --json "$OUT/suite-soak.json" --chart "$CHARTS/soak.svg" | tail -1
  rss_after=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  row "$(python3 - "$OUT/suite-soak.json" "$rss_before" "$rss_after" "$SOAK_SECS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); before, after, secs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"| soak (postgres, 500/s x {secs} s) | {r['acks_per_sec']:.0f} acks/s | p99 {r['ack_latency']['p99_ms']} ms (drift: see soak.svg) | RSS {before // 1024} -> {after // 1024} MiB, lost {r['lost']} |")
PY
)"
}

case "${1:-all}" in
  soak) soak ;;
  flow) flow ;;
  density) density ;;
  all)
    http_floor
    webhook sqlite 1000 10 webhook-steady-sqlite
    webhook postgres 1000 10 webhook-steady-postgres
    webhook postgres 3000 5 webhook-burst-postgres
    flow
    soak
    ;;
  *) echo "usage: $0 [all|flow|density|soak]"; exit 2 ;;
esac
stop
echo
echo "| scenario | throughput | latency | correctness |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
