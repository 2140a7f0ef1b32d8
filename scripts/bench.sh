#!/usr/bin/env bash
# The benchmark suite on one machine: each scenario on a fresh database and a fresh release server,
# its JSON result in docs/bench/raw/ (not committed) and, where the scenario draws one, an SVG chart
# of latency percentiles and throughput per second in docs/bench/ (linked from docs/BENCHMARKS.md).
# Prints a summary table at the end. The deeper per-scenario scripts (several runs, medians, more
# rates) are scripts/bench-webhook.sh, bench-flow.sh and bench-agents.sh.
#
#   scripts/bench.sh              # the whole suite (about 6 minutes after the release build)
#   SOAK_SECS=600 scripts/bench.sh soak   # the 10-minute soak alone (scripts/bench.sh flow: the flow alone)
#   DENSITY=20000 scripts/bench.sh density     # N conversation actors woken by messages, then 10k cold touches
#   ACTORS=1000000 scripts/bench.sh million     # N idle actors woken by the prewarm, then cold deliveries beside them
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

million() { # ACTORS idle conversation actors woken by the prewarm after a restart, then cold touches
  local n=${ACTORS:-1000000} cold=10000 base="http://127.0.0.1:$PORT"
  EXTRA_ENV="PYTAKE__ACTORS__PREWARM_WINDOW_SECS=0" start postgres
  local token
  token=$(curl -fs -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@pytake.local","password":"bench-password-1"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  curl -fs -X POST "$base/api/v1/whatsapp/numbers" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"phone_number_id":"7000000001","app_secret":"bench-app-secret"}' >/dev/null
  # n + 10,000 contacts with an open conversation each: the first 10,000 quiet for 2 hours (outside
  # the prewarm window: cold), the rest with a message in the last 50 minutes.
  echo "inserting $((n + cold)) contacts and conversations"
  psql "$PG_URL/pytake_bench" -v ON_ERROR_STOP=1 -q <<SQL
CREATE TEMP TABLE bench_number AS SELECT id AS number_id, organization_id FROM whatsapp_numbers WHERE phone_number_id = '7000000001';
INSERT INTO contacts (id, organization_id, wa_id, attributes, is_blocked, is_vip, opt_in, created_at, updated_at)
SELECT gen_random_uuid(), b.organization_id, '5511' || lpad(i::text, 9, '0'), '{}', false, false, false, now(), now()
FROM bench_number b, generate_series(0, $((n + cold - 1))) i;
INSERT INTO conversations (id, organization_id, contact_id, number_id, status, is_bot_active, priority, last_message_at,
    unread_count, flow_state, version, created_at, updated_at)
SELECT gen_random_uuid(), c.organization_id, c.id, b.number_id, 'open', false, 0,
    CASE WHEN substr(c.wa_id, 5)::bigint < $cold THEN now() - interval '2 hours' ELSE now() - random() * interval '50 minutes' END,
    0, '{}', 1, now(), now()
FROM contacts c JOIN bench_number b ON b.organization_id = c.organization_id;
ANALYZE contacts; ANALYZE conversations;
SQL
  # The resting server (prewarm off), then the same database with the prewarm on.
  EXTRA_ENV="PYTAKE__ACTORS__PREWARM_WINDOW_SECS=0" launch
  sleep 3
  local rss_rest; rss_rest=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  local t0; t0=$(date +%s%3N)
  EXTRA_ENV="PYTAKE__ACTORS__PREWARM_WINDOW_SECS=3600 PYTAKE__ACTORS__PREWARM_MAX=$n PYTAKE__ACTORS__IDLE_TTL_SECS=7200" launch
  local woken=0
  while [ "$woken" -lt "$n" ]; do
    sleep 1
    woken=$(curl -fs "$base/health/actors" | python3 -c 'import json,sys;print(json.load(sys.stdin)["actors"]["prewarmed"])')
    if [ $(( $(date +%s%3N) - t0 )) -gt 1800000 ]; then echo "prewarm did not finish: $woken"; break; fi
  done
  local secs; secs=$(python3 -c "print(round(($(date +%s%3N) - $t0) / 1000, 1))")
  sleep 5
  local rss_warm; rss_warm=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  echo "prewarm: $woken actors in $secs s; server RSS $((rss_rest / 1024)) MiB at rest -> $((rss_warm / 1024)) MiB with them"
  $LOAD webhook --url "$base" --app-secret bench-app-secret --phone-number-id 7000000001 --rate 1000 --duration 10 \
    --conversations "$cold" "${login[@]}" --label million --json "$OUT/suite-million.json" --chart "$CHARTS/million-cold.svg" | tail -1
  local active; active=$(curl -fs "$base/health/actors" | python3 -c 'import json,sys;print(json.load(sys.stdin)["actors"]["conversation_actors"])')
  row "$(python3 - "$OUT/suite-million.json" "$woken" "$secs" "$rss_rest" "$rss_warm" "$active" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); woken, secs, rest, warm, active = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
item = r["server_item_latency_ms"]
print(f"| {woken:,} idle conversation actors (postgres, prewarmed in {secs} s) | RSS {rest // 1024} -> {warm // 1024} MiB: "
      f"{(warm - rest) * 1024 / max(woken, 1):,.0f} bytes per actor | 10,000 deliveries at 1,000/s to cold conversations beside them: "
      f"ack p50 {r['ack_latency']['p50_ms']} ms, p99 {r['ack_latency']['p99_ms']} ms; stored p50 {item['p50']} ms, p99 {item['p99']} ms; "
      f"{active} actors after | lost {r['lost']}, double {r['double_processed']} |")
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
  million) million ;;
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
