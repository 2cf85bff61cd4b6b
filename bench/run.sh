#!/usr/bin/env bash
# Benchmarks for BENCHMARKS.md. Usage: bench/run.sh   (ROWS, DURATION, CONNECTIONS override)
# Needs wrk (apt-get install wrk). Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
DIR=bench-data/sqlite
BIN=target/release/dlrepo
CFG=$DIR/dlrepo.toml
export RUST_LOG=warn

cargo build --release -q
echo "## machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; date -u

if [ ! -f "$DIR/rows.csv" ] || [ "$(($(wc -l < "$DIR/rows.csv") - 1))" != "$ROWS" ]; then
    $BIN bench gen --dir "$DIR" --rows "$ROWS" --bind 127.0.0.1:8088
fi
rm -f "$DIR"/bench.sqlite3*

echo "## import of $ROWS rows in random order"
/usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KiB" \
    $BIN -c "$CFG" import --doctype MARKS "$DIR/rows.csv"
ls -la "$DIR"/bench.sqlite3

echo "## minting"
$BIN bench mint --count 1000000
/usr/bin/time -f "dlrepo mint --count 100000 (reserved in the database): wall %e s" \
    $BIN -c "$CFG" mint --doctype MARKS --count 100000 > /dev/null

$BIN -c "$CFG" bench requests --rows "$ROWS" --count 20000 --out "$DIR/requests.txt"

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server did not start"; exit 1; }

echo "## Pull URI, SQLite, $ROWS documents, ~30 KiB PDF per answer"
$BIN -c "$CFG" serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_up http://127.0.0.1:8088/healthz
WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s bench/pulluri.lua http://127.0.0.1:8088
echo "serve peak RSS under the load: $(grep VmHWM /proc/$SERVER/status)"
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "## Pull URI, SQLite, replays refused (every request its own txn: one INSERT each)"
sed 's/^refuse_replays = false/refuse_replays = true/' "$CFG" > "$DIR/replay.toml"
$BIN -c "$DIR/replay.toml" serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_up http://127.0.0.1:8088/healthz
WRK_FRESH_TXN=1 WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s bench/pulluri.lua http://127.0.0.1:8088
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "## ceiling: bare actix-web hello, same bodies posted"
$BIN bench hello --bind 127.0.0.1:8089 & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 0.5
WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/ wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s bench/pulluri.lua http://127.0.0.1:8089
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "## ceiling with a Pull URI-sized answer: bare actix-web, 41 KiB static body"
$BIN bench hello --bind 127.0.0.1:8089 --body-kb 41 & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 0.5
WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/ wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s bench/pulluri.lua http://127.0.0.1:8089
kill $SERVER; wait $SERVER 2>/dev/null || true

if pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "## PostgreSQL: import of $ROWS rows and Pull URI, same data"
    PGDB=dlrepo_bench
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PGDB"
    # Loopback: no TLS (libpq's default would encrypt every PDF; see README, PostgreSQL).
    export DLREPO_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$PGDB?sslmode=disable"
    /usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KiB" \
        $BIN -c "$CFG" import --doctype MARKS "$DIR/rows.csv"
    DLREPO_BIND=127.0.0.1:8087 $BIN -c "$CFG" serve & SERVER=$!
    trap 'kill $SERVER 2>/dev/null || true' EXIT
    wait_up http://127.0.0.1:8087/healthz
    WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s bench/pulluri.lua http://127.0.0.1:8087
    echo "serve peak RSS under the load: $(grep VmHWM /proc/$SERVER/status)"
    kill $SERVER; wait $SERVER 2>/dev/null || true
    unset DLREPO_DATABASE_URL
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"
fi
