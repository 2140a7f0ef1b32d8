#!/usr/bin/env bash
# Fault tests: the server under signed webhook load while something breaks. Each scenario prints
# one verdict line with its figures (docs/RELIABILITY.md records them):
#
#   scripts/fault.sh kill9      kill -9 at ~70 % of capacity, restart: every acknowledged delivery
#                               stored and processed exactly once (Meta-style redelivery of the rest);
#                               20 consoles reconnect, resync and get live events again
#   scripts/fault.sh postgres   PostgreSQL stopped for 20 s: 503s (never a 200 unstored), readiness
#                               says so, full service within 5 s of its return, nothing lost
#   scripts/fault.sh redis      Redis stopped for 30 s: delivery goes on, ack p99 within 2x baseline,
#                               readiness degraded then ready again; consoles on a second node are
#                               told to resync when Redis returns, then get node A's events again
#   scripts/fault.sh storm      Graph API storm (503, 130429, 131000, and the fake's own rate limit):
#                               every reply arrives exactly once, the per-number limiter holds
#   scripts/fault.sh all
#
# It runs its own PostgreSQL cluster (initdb, port 25432) and Redis (port 26379) in a temporary
# folder, so stopping them never touches the machine's shared services. BUILD=debug uses the debug
# binaries (lower rates: set KILL_RATE); the default is release.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-release}
PORT=${PORT:-18180}
PG_PORT=25432  # below the ephemeral range (32768+): a client socket could hold a port in it
REDIS_PORT=26379
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
KILL_RATE=${KILL_RATE:-2000}   # ~70 % of the measured 2,992 acks/s on PostgreSQL (docs/BENCHMARKS.md)
SECRET=fault-app-secret
EMAIL=admin@pytake.local
PASSWORD=fault-password-1

if [ "$BUILD" = release ]; then cargo build --release -q -p pytake -p pytake-load; else cargo build -q -p pytake -p pytake-load; fi
BIN=target/$BUILD
work=$(mktemp -d /tmp/pytake-fault.XXXXXX)
chmod 777 "$work"
server_pid=""
node_b_pid=""

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  # After an immediate stop the old postmaster may hold the port a moment longer: try a few times.
  for attempt in 1 2 3 4 5; do
    as_postgres "$PG_BIN/pg_ctl" -D "$work/pg" status >/dev/null 2>&1 && return
    as_postgres "$PG_BIN/pg_ctl" -D "$work/pg" -o "-p $PG_PORT -k $work" -l "$work/pg.log" -w start >/dev/null 2>&1 && return
    sleep "$attempt"
  done
  echo "PostgreSQL did not start:"; tail -20 "$work/pg.log"; return 1
}
pg_stop() { as_postgres "$PG_BIN/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true; }
redis_start() { redis-server --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes --pidfile "$work/redis.pid" >/dev/null; sleep 0.3; }
redis_stop() { redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }
server_stop() {
  for pid in $server_pid $node_b_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  server_pid=""; node_b_pid=""
}
watch_pid=""
cleanup() {
  if [ -n "$watch_pid" ]; then kill "$watch_pid" 2>/dev/null || true; fi
  server_stop; redis_stop; pg_stop; rm -rf "$work"
}
trap cleanup EXIT

setup_services() {
  if [ ! -d "$work/pg" ]; then
    as_postgres "$PG_BIN/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
    echo "max_connections = 200" >>"$work/pg/postgresql.conf"
  fi
  pg_start
  redis_stop
  psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -qc "drop database if exists pytake_fault with (force)" >/dev/null
  psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -qc "create database pytake_fault" >/dev/null
  redis_start
}

server_start() { # extra env...
  node_start "$PORT" "$work/data" "$@"; server_pid=$started_pid
}

started_pid=""
node_start() { # port data-dir extra env... ; sets started_pid once the node answers
  local port=$1 data=$2; shift 2
  env "$@" PYTAKE__SERVER__LISTEN="127.0.0.1:$port" PYTAKE__STORAGE__DATA_DIR="$data" \
    PYTAKE__DATABASE__URL="postgres://postgres@127.0.0.1:$PG_PORT/pytake_fault" \
    PYTAKE__REDIS__URL="redis://127.0.0.1:$REDIS_PORT" PYTAKE__META__APP_SECRET="$SECRET" \
    PYTAKE__AUTH__JWT_SECRET="fault-jwt-secret-of-at-least-32-characters" \
    PYTAKE__SECURITY__ENCRYPTION_KEY="$(cat "$work/key")" PYTAKE__LOG__LEVEL=warn \
    PYTAKE__BOOTSTRAP__ADMIN_PASSWORD="$PASSWORD" \
    "$BIN/pytake" >>"$work/server.log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "the server did not start"; tail -20 "$work/server.log"; exit 1
}

consoles() { # port seconds json
  PYTAKE_LOAD_EMAIL=$EMAIL PYTAKE_LOAD_PASSWORD=$PASSWORD "$BIN/pytake-load" consoles \
    --url "http://127.0.0.1:$1" --sockets 20 --duration "$2" --json "$3"
}

# Readiness every 100 ms into $work/ready.log: "<ms since epoch> <http status> <status field>".
watch_readiness() {
  set +e +o pipefail # a probe that finds nothing must not end the watcher
  while :; do
    body=$(curl -s -m 3 -w ' %{http_code}' "http://127.0.0.1:$PORT/health/ready" || echo " 000")
    code=${body##* }
    state=$(echo "$body" | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4)
    echo "$(date +%s%3N) $code ${state:-none}" >>"$work/ready.log"
    sleep 0.1
  done
}

load() { # extra args...
  PYTAKE_LOAD_EMAIL=$EMAIL PYTAKE_LOAD_PASSWORD=$PASSWORD "$BIN/pytake-load" webhook \
    --url "http://127.0.0.1:$PORT" --app-secret "$SECRET" --label fault "$@"
}

fresh() {
  server_stop
  rm -rf "$work/data" "$work/data-b" "$work/ready.log" "$work/server.log"
  setup_services
  server_start "$@"
}

scenario_kill9() {
  fresh
  consoles "$PORT" 30 "$work/consoles.json" >"$work/consoles.log" 2>&1 &
  local consoles_pid=$!
  sleep 2
  load --rate "$KILL_RATE" --duration 20 --conversations 2000 --redeliver-for 120 --json "$work/kill9.json" >"$work/load.log" 2>&1 &
  local load_pid=$!
  sleep 8
  kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  local killed_at; killed_at=$(date +%s%3N)
  sleep 1
  server_start
  local back_ms=$(( $(date +%s%3N) - killed_at ))
  local verdict=PASS; wait "$load_pid" || verdict=FAIL
  wait "$consoles_pid" || true
  python3 - "$work/kill9.json" "$verdict" "$back_ms" "$KILL_RATE" "$work/consoles.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); verdict, back, rate = sys.argv[2], sys.argv[3], sys.argv[4]
c = json.load(open(sys.argv[5]))
consoles_ok = c["disrupted"] == c["sockets"] and c["resumed"] == c["sockets"] and c["resyncs"] >= c["sockets"]
verdict = "PASS" if verdict == "PASS" and consoles_ok else "FAIL"
print(f"fault kill9: {verdict} - {rate}/s for 20 s, kill -9 at 8 s, serving again {back} ms later; "
      f"{r['acked']} acked before/around the kill, {r['redelivered']} redelivered, {r['never_acked']} never acked; "
      f"{r['messages_expected']} messages acknowledged, {r['messages_found']} stored, lost {r['lost']}, processed twice {r['double_processed']}; "
      f"consoles: {c['resumed']}/{c['sockets']} reconnected (longest gap {c['longest_gap_ms']} ms), were told to resync ({c['resyncs']} resyncs: "
      f"a restarted node numbers a new stream) and got live events again")
sys.exit(0 if verdict == "PASS" else 1)
EOF
}

scenario_postgres() {
  fresh
  watch_readiness & watch_pid=$!
  load --rate 200 --duration 40 --conversations 500 --redeliver-for 120 --json "$work/pg.json" >"$work/load.log" 2>&1 &
  local load_pid=$!
  sleep 10
  pg_stop; local down_at; down_at=$(date +%s%3N)
  sleep 20
  pg_start; local up_at; up_at=$(date +%s%3N)
  local verdict=PASS; wait "$load_pid" || verdict=FAIL
  kill "$watch_pid" 2>/dev/null || true
  python3 - "$work/pg.json" "$work/ready.log" "$verdict" "$down_at" "$up_at" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); verdict = sys.argv[3]; down, up = int(sys.argv[4]), int(sys.argv[5])
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
during = [x for x in rows if down + 1000 < int(x[0]) < up]
# Not ready: a 503, or no answer within the probe's 3 s (never a 200 while the database is down).
not_ready = sum(1 for x in during if x[1] != "200")
back = next((int(x[0]) - up for x in rows if int(x[0]) > up and x[1] == "200" and x[2] == "ready"), None)
codes = {int(k): v for k, v in r["status_counts"].items()}
ok = verdict == "PASS" and during and not_ready == len(during) and back is not None and back <= 5000 and codes.get(503, 0) > 0
print(f"fault postgres: {'PASS' if ok else 'FAIL'} - stopped 20 s under 200/s: {codes.get(503, 0)} deliveries answered 503 "
      f"(never 200 unstored: lost {r['lost']}, processed twice {r['double_processed']}, {r['never_acked']} never acked after redelivery); "
      f"readiness not ready (503 or no answer) in {not_ready}/{len(during)} probes while down; ready again {back} ms after PostgreSQL returned")
sys.exit(0 if ok else 1)
EOF
}

scenario_redis() {
  fresh
  # A second node on the same database and Redis holds the consoles; the webhooks go to node A.
  local port_b=$((PORT + 1))
  node_start "$port_b" "$work/data-b"; node_b_pid=$started_pid
  load --rate 500 --duration 15 --conversations 500 --json "$work/base.json" >"$work/load-base.log" 2>&1 || true
  consoles "$port_b" 75 "$work/consoles.json" >"$work/consoles.log" 2>&1 &
  local consoles_pid=$!
  sleep 3
  watch_readiness & watch_pid=$!
  redis_stop; local down_at; down_at=$(date +%s%3N)
  load --rate 500 --duration 15 --conversations 500 --redeliver-for 60 --json "$work/redis.json" >"$work/load-redis.log" 2>&1 || true
  sleep $(( 30 - 15 - 1 ))
  redis_start; local up_at; up_at=$(date +%s%3N)
  sleep 8
  kill "$watch_pid" 2>/dev/null || true
  # Node A's events must reach the consoles on node B again.
  load --rate 100 --duration 10 --conversations 100 --json "$work/after.json" >"$work/load-after.log" 2>&1 || true
  wait "$consoles_pid" || true
  python3 - "$work/base.json" "$work/redis.json" "$work/ready.log" "$down_at" "$up_at" "$work/consoles.json" <<'EOF'
import json, sys
base, out = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
down, up = int(sys.argv[4]), int(sys.argv[5])
c = json.load(open(sys.argv[6]))
rows = [l.split() for l in open(sys.argv[3]) if l.strip()]
degraded = sum(1 for x in rows if down + 2000 < int(x[0]) < up and x[2] == "degraded")
probes = sum(1 for x in rows if down + 2000 < int(x[0]) < up)
back = next((int(x[0]) - up for x in rows if int(x[0]) > up and x[2] == "ready"), None)
p_base, p_out = base["ack_latency"]["p99_ms"], out["ack_latency"]["p99_ms"]
consoles_ok = c["disrupted"] == c["sockets"] and c["resumed"] == c["sockets"] and c["reconnects"] == 0
ok = out["verdict"] == "PASS" and out["never_acked"] == 0 and p_out <= 2 * max(p_base, 1) and back is not None and degraded == probes > 0 and consoles_ok
print(f"fault redis: {'PASS' if ok else 'FAIL'} - 500/s, Redis stopped 30 s: ack p99 {p_out} ms vs {p_base} ms baseline "
      f"({p_out / max(p_base, 1):.2f}x), lost {out['lost']}, never acked {out['never_acked']}; readiness degraded in {degraded}/{probes} probes, "
      f"ready again {back} ms after Redis returned; consoles on node B: {c['resyncs']} resyncs for {c['sockets']} sockets "
      f"(none dropped: {c['reconnects']} reconnects), {c['resumed']}/{c['sockets']} got node A's events again")
sys.exit(0 if ok else 1)
EOF
}

scenario_storm() {
  fresh PYTAKE__META__GRAPH_BASE_URL=http://127.0.0.1:19911
  PYTAKE_LOAD_EMAIL=$EMAIL PYTAKE_LOAD_PASSWORD=$PASSWORD "$BIN/pytake-load" flow --url "http://127.0.0.1:$PORT" \
    --app-secret "$SECRET" --graph-listen 127.0.0.1:19911 --rate 100 --duration 20 --conversations 300 \
    --number-mps 80 --storm 200 --drain-timeout 240 --json "$work/storm.json" >"$work/load.log" 2>&1 || true
  python3 - "$work/storm.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
ok = r["verdict"] == "PASS" and r["busiest_5s_per_sec"] <= 80 * 1.2
print(f"fault storm: {'PASS' if ok else 'FAIL'} - 100 msgs/s for 20 s to a number limited to 80/s; the fake failed {r['graph_failures']} "
      f"of {r['graph_requests']} sends (600 injected: 503, 130429, 131000; the rest its own limit); {r['replies']} of {r['replies_expected']} "
      f"replies, missing {r['missing']}, duplicated {r['duplicated']}; busiest second {r['busiest_second']} requests, busiest 5 s {r['busiest_5s_per_sec']}/s (limit 80/s with a burst of 80); "
      f"reply p50 {r['reply_latency']['p50_ms']} ms, p99 {r['reply_latency']['p99_ms']} ms")
sys.exit(0 if ok else 1)
EOF
}

head -c 32 /dev/urandom | base64 | tr '+/' '-_' >"$work/key"
case "${1:-all}" in
  kill9) scenario_kill9 ;;
  postgres) scenario_postgres ;;
  redis) scenario_redis ;;
  storm) scenario_storm ;;
  all) scenario_kill9; scenario_postgres; scenario_redis; scenario_storm ;;
  *) echo "usage: $0 kill9|postgres|redis|storm|all"; exit 2 ;;
esac
