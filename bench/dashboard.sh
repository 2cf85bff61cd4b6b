#!/usr/bin/env bash
# The console's dashboard and /metrics on a long audit trail and outbox. Usage:
#   bench/dashboard.sh DIR [ROWS] [BIN ...]
# DIR: a `bench gen` folder (its dlrepo.toml and database; DLREPO_DATABASE_URL is
# honoured). Adds ROWS (default 3,000,000) audit rows of today and as many pushed outbox
# rows to its database, once (a marker row says so), then for each BIN (default this
# build): starts `serve`, waits until its audit writer has counted every row (builds
# that keep running counts), and times three views of the dashboard, three scrapes of
# /metrics and `dlrepo report` of today. A build without running counts reads the
# rows each time: give it a copy of the data (SQLite), or run it first (PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(realpath "${1:?a bench gen folder}")
ROWS=${2:-3000000}
shift $(( $# > 1 ? 2 : 1 ))
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=("$PWD/target/release/dlrepo")
export RUST_LOG=warn
PASSWORD=bench-dashboard-password
CFG=$DIR/dashboard.toml
if [ ! -f "$CFG" ]; then
    HASH=$(echo "$PASSWORD" | "${BINS[0]}" console hash-password)
    { cat "$DIR/dlrepo.toml"; printf '\n[console]\nenabled = true\nuser = "admin"\npassword_hash = "%s"\n' "$HASH"; } > "$CFG"
    chmod 600 "$CFG"
fi
URL=${DLREPO_DATABASE_URL:-}
# Runs SQL on the bench database, SQLite or PostgreSQL.
sql() {
    if [ -n "$URL" ]; then psql "${URL%%\?*}" -qAtc "$1"; else
        python3 -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); r=d.execute(sys.argv[2]).fetchall(); d.commit(); print("\n".join("|".join(map(str,x)) for x in r))' "$DIR/bench.sqlite3" "$1"; fi
}
# Migrations first (an import of nothing would do; `serve` for a moment does).
(cd "$DIR" && timeout 3 "${BINS[0]}" -c "$CFG" serve >/dev/null 2>&1 || true)
if [ "$(sql "SELECT COUNT(*) FROM push_files WHERE file_name = 'bench-dashboard'")" = 0 ]; then
    echo "adding $ROWS audit rows of today and $ROWS pushed outbox rows..."
    series="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)"
    from_n="FROM n"
    day=$(date -u +%F)
    # A row every 14 ms from midnight on (3M rows: 11.7 hours), written as diesel
    # writes a time of the audit writer's (microseconds, six digits).
    at="strftime('%Y-%m-%d %H:%M:%S', '$day', '+' || (i * 14 / 1000) || ' seconds') || printf('.%06d', i * 14 % 1000 * 1000 + 1)"
    if [ -n "$URL" ]; then
        series=""; from_n="FROM generate_series(1::bigint, $ROWS) AS n(i)"
        at="'$day'::timestamp + i * interval '14 milliseconds'"
    fi
    sql "$series INSERT INTO audit_pulls (at, caller, endpoint, api, ver, doctype, uri, search, status, http, reason, latency_us)
         SELECT $at, '127.0.0.1', CASE WHEN i % 20 = 0 THEN 'pulldoc' ELSE 'pulluri' END, '1.0', '1.0', 'MARKS',
           CASE WHEN i % 20 = 1 THEN NULL ELSE 'in.gov.bench-MARKS-' || (i * 7919 % 400000) END, 'abc',
           CASE WHEN i % 20 = 1 THEN 0 ELSE 1 END, 200, CASE WHEN i % 20 = 1 THEN 'not_found' END, 200 + (i * 104729 % 16384)
         $from_n" >/dev/null
    sql "INSERT INTO push_files (file_name, status, row_count, attempts, created_at, updated_at)
         VALUES ('bench-dashboard', 'pushed', $ROWS, 1, '$day 00:00:00', '$day 00:00:00')" >/dev/null
    sql "$series INSERT INTO push_outbox (file_id, aadhaar, uri, doc_type, doc_name, doc_id, action, time_stamp)
         SELECT (SELECT id FROM push_files WHERE file_name = 'bench-dashboard'), 'vault:x:0000',
           'in.gov.bench-MARKS-P' || i, 'MARKS', 'Marks', 'P' || i, 'A', '$day 00:00:00' $from_n" >/dev/null
    # Statistics, as autovacuum would have them by now.
    [ -n "$URL" ] && sql "ANALYZE" >/dev/null
fi
PORT=$(sed -n 's/^bind = "127.0.0.1:\([0-9]*\)"/\1/p' "$CFG" | head -1)
BASE=http://127.0.0.1:${PORT:-8088}
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT
for bin in "${BINS[@]}"; do
    echo "== $bin"
    (cd "$DIR" && exec "$bin" -c "$CFG" serve >/dev/null 2>&1) & SERVE=$!
    for _ in $(seq 100); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
    started=$(date +%s)
    if [ -n "$(sql "SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_counted'" 2>/dev/null || true)" ] \
        || [ -n "$(sql "SELECT 1 FROM sqlite_master WHERE name = 'audit_counted'" 2>/dev/null || true)" ]; then
        until [ "$(sql "SELECT last_id FROM audit_counted")" -ge "$(sql "SELECT COALESCE(MAX(last_id), 0) FROM audit_segments")" ] \
            && [ "$(sql "SELECT COALESCE(MAX(last_id), 0) FROM audit_segments")" -gt 0 ]; do sleep 0.5; done
        echo "rows counted after $(( $(date +%s) - started )) s"
    fi
    curl -s -c "$JAR" -o /dev/null -d "user=admin&password=$PASSWORD" "$BASE/console/login"
    for _ in 1 2 3; do curl -s -b "$JAR" -o /dev/null -w 'dashboard %{http_code} %{time_total} s\n' "$BASE/console"; done
    for _ in 1 2 3; do curl -s -o /dev/null -w '/metrics %{http_code} %{time_total} s\n' "$BASE/metrics"; done
    kill $SERVE; wait $SERVE 2>/dev/null || true
    /usr/bin/time -f 'report of today: %e s, %M KiB' "$bin" -c "$CFG" report --from "$(date -u +%F)" --to "$(date -u +%F)" >/dev/null
done
