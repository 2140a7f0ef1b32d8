#!/usr/bin/env bash
# Idle sockets beyond one process's open-file limit: NODES release servers sharing one PostgreSQL
# database and one Redis (the multi-node mode), each holding PER_NODE authenticated idle sockets
# opened by its own `pytake-load agents --memory-only` process, all open at the same time. Prints
# each node's RSS slope, the total held at once (the nodes' `agent_sessions`, summed while every
# generator holds its sockets) and the cluster's bytes per idle socket.
#
#   scripts/bench-sockets.sh                        # 3 nodes x 16,667 = 50,001 sockets
#   NODES=6 scripts/bench-sockets.sh                # 100,002 sockets
#
# Why several nodes: this container's hard limit on open files is 20,000 per process (`ulimit -Hn`,
# not raisable without CAP_SYS_RESOURCE), so one server process cannot hold 50,000 sockets here.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${NODES:-3}"
PER_NODE="${PER_NODE:-16667}"
FIRST="${FIRST:-5000}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
PORT="${PORT:-8765}"
HOLD="${HOLD:-20}"
DB_CONNS="${DB_CONNS:-16}"  # per node; keep NODES x DB_CONNS under PostgreSQL's max_connections
ulimit -n "$(ulimit -Hn)"
OUT=docs/bench/raw
mkdir -p "$OUT"
cargo build --release -q -p pytake -p pytake-load
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

psql "$PG_URL/postgres" -qc "drop database if exists pytake_sockets with (force)" >/dev/null 2>&1 || true
psql "$PG_URL/postgres" -qc "create database pytake_sockets" >/dev/null
key=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')
jwt=$(head -c 48 /dev/urandom | base64 | tr -d '+/=')
for i in $(seq 0 $((NODES - 1))); do
  port=$((PORT + i))
  PYTAKE__SERVER__LISTEN="127.0.0.1:$port" PYTAKE__STORAGE__DATA_DIR="$work/data-$i" \
    PYTAKE__DATABASE__URL="$PG_URL/pytake_sockets" PYTAKE__DATABASE__MAX_CONNECTIONS="$DB_CONNS" \
    PYTAKE__REDIS__URL="$REDIS_URL" PYTAKE__AUTH__JWT_SECRET="$jwt" PYTAKE__SECURITY__ENCRYPTION_KEY="$key" \
    PYTAKE__LOG__LEVEL=warn PYTAKE__BOOTSTRAP__ADMIN_PASSWORD=bench-password-1 \
    ./target/release/pytake >>"$OUT/sockets-server-$i.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
done
echo "$NODES nodes up; opening $PER_NODE sockets on each"

gens=()
for i in $(seq 0 $((NODES - 1))); do
  ./target/release/pytake-load agents --url "http://127.0.0.1:$((PORT + i))" --app-secret bench-app-secret \
    --email admin@pytake.local --password bench-password-1 --server-pid "${pids[$i]}" \
    --sockets "$FIRST,$PER_NODE" --memory-only --hold "$HOLD" --label "node-$i" \
    --json "$OUT/sockets-$NODES-$i.json" >"$OUT/sockets-gen-$i.log" 2>&1 &
  gens+=($!)
done

# While the generators hold their last count, sum what the nodes report as open.
peak=0
for _ in $(seq 1 600); do
  total=0
  for i in $(seq 0 $((NODES - 1))); do
    n=$(curl -fs "http://127.0.0.1:$((PORT + i))/health/actors" | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent_sessions"])' 2>/dev/null || echo 0)
    total=$((total + n))
  done
  [ "$total" -gt "$peak" ] && peak=$total
  [ "$peak" -ge $((NODES * PER_NODE)) ] && break
  running=0
  for g in "${gens[@]}"; do kill -0 "$g" 2>/dev/null && running=1; done
  [ "$running" = 0 ] && break
  sleep 1
done
failed=0
for g in "${gens[@]}"; do wait "$g" || failed=1; done
for i in $(seq 0 $((NODES - 1))); do tail -1 "$OUT/sockets-gen-$i.log"; done
python3 - "$OUT" "$NODES" "$PER_NODE" "$peak" "$failed" <<'PY'
import json, sys
out, nodes, per_node, peak, failed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
rs = [json.load(open(f"{out}/sockets-{nodes}-{i}.json")) for i in range(nodes)]
grown = sum(r["memory"][-1][0] - r["memory"][1][0] for r in rs)
kib = sum(r["memory"][-1][1] - r["memory"][1][1] for r in rs)
at_peak = sum(r["memory"][-1][1] for r in rs) / 1024
print("\n| nodes | sockets per node | open at once (agent_sessions) | RSS of all nodes at the peak | bytes per idle socket (slope) | per node |")
print("|---|---|---|---|---|---|")
print(f"| {nodes} | {per_node:,} | {peak:,} | {at_peak:,.0f} MiB | {kib * 1024 / grown:,.0f} | "
      + " / ".join(f"{r['bytes_per_socket']:,.0f}" for r in rs) + " |")
ok = not failed and peak >= nodes * per_node
print("PASS" if ok else "FAIL: not every socket was open at once")
sys.exit(0 if ok else 1)
PY
