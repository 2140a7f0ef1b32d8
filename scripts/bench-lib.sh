# Shared by the benchmark scripts: build, a fresh database and release server per run, cleanup.
# Source it after setting PORT, PG_URL and (optionally) EXTRA_ENV (space-separated KEY=VALUE).
OUT=docs/bench/raw
mkdir -p "$OUT"
cargo build --release -q -p pytake -p pytake-load
work=$(mktemp -d)
server_pid=""
stop() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi; server_pid=""; }
trap 'stop; rm -rf "$work"' EXIT

start() { # backend: a fresh database (and data folder) and a server on it
  stop
  rm -rf "$work/data"
  : >"$work/server.log"
  db_url="sqlite://$work/data/pytake.db"
  if [ "$1" = postgres ]; then
    psql "$PG_URL/postgres" -qc "drop database if exists pytake_bench with (force)" >/dev/null 2>&1 || true
    psql "$PG_URL/postgres" -qc "create database pytake_bench" >/dev/null
    db_url="$PG_URL/pytake_bench"
  fi
  launch
}

launch() { # the server on $db_url, keeping the data folder (EXTRA_ENV: space-separated KEY=VALUE)
  stop
  # shellcheck disable=SC2086
  env ${EXTRA_ENV:-} PYTAKE__SERVER__LISTEN="127.0.0.1:$PORT" PYTAKE__STORAGE__DATA_DIR="$work/data" \
    PYTAKE__DATABASE__URL="$db_url" PYTAKE__LOG__LEVEL=warn PYTAKE__BOOTSTRAP__ADMIN_PASSWORD=bench-password-1 \
    ./target/release/pytake >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "server did not start"; cat "$work/server.log"; exit 1
}
