#!/usr/bin/env bash
# One server and two servers on one PostgreSQL database, for BENCHMARKS.md.
# Usage: bench/servers.sh   (ROWS, DURATION, CONNECTIONS override)
# Needs wrk and a PostgreSQL at 127.0.0.1:5432. Sends traffic to 127.0.0.1 only.
# Two servers get one wrk each (half the connections each); their rates add up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-200000}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
DIR=bench-data/servers
BIN=target/release/dlrepo
CFG=$DIR/dlrepo.toml
PGDB=dlrepo_bench_servers
export RUST_LOG=warn

cargo build --release -q
echo "## machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; date -u
if [ ! -f "$DIR/rows.csv" ] || [ "$(($(wc -l < "$DIR/rows.csv") - 1))" != "$ROWS" ]; then
    $BIN bench gen --dir "$DIR" --rows "$ROWS" --bind 127.0.0.1:8091
fi
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PGDB"
export DLREPO_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB"
$BIN -c "$CFG" import --doctype MARKS "$DIR/rows.csv" > /dev/null
$BIN -c "$CFG" bench requests --rows "$ROWS" --count 20000 --out "$DIR/requests.txt"

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server did not start"; exit 1; }
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"' EXIT

echo "## one server, $CONNECTIONS connections"
DLREPO_BIND=127.0.0.1:8091 $BIN -c "$CFG" serve & PIDS+=($!)
wait_up http://127.0.0.1:8091/healthz
WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s bench/pulluri.lua http://127.0.0.1:8091

echo "## two servers, $((CONNECTIONS / 2)) connections each (add the two rates)"
DLREPO_BIND=127.0.0.1:8092 $BIN -c "$CFG" serve & PIDS+=($!)
wait_up http://127.0.0.1:8092/healthz
WRKS=()
for port in 8091 8092; do
    WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri wrk -t1 -c"$((CONNECTIONS / 2))" -d"$DURATION" --latency \
        -s bench/pulluri.lua "http://127.0.0.1:$port" > "$DIR/wrk-$port.txt" & WRKS+=($!)
done
wait "${WRKS[@]}"
for port in 8091 8092; do echo "### server on $port"; cat "$DIR/wrk-$port.txt"; done
