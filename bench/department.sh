#!/usr/bin/env bash
# Pull URI of documents served from a department's own table (SQLite, the board's ~31 KiB
# PDFs in a BLOB column), this build against another, in turn. Usage:
#   bench/department.sh ROUNDS OTHER_BIN        (ROWS=100000, SECS=8 by default)
# Makes bench-data/dept once: a `results` table of ROWS rows (3.3 GB at 100,000) in the
# database dlrepo uses, and a config that maps it. Each run starts with no row linked
# (dlrepo's own rows deleted), then times two passes of the same requests:
#   first: most pulls mint and link the row's DocId (a write each), as on result day;
#   again: every row linked already, so each pull reads the row and its link;
#   pull doc: Pull Doc of 20,000 rows linked by then, drawn at random.
# Prints req/s, p99 and how many answers were not Status 1, per pass.
# DEPT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB?sslmode=disable: the same on
# PostgreSQL (DB made anew with the table, dlrepo's own tables beside it; the database
# server reads the 4 PDFs from /tmp, so run as a user whose /tmp it can read).
# DELAY_US=250 (with DEPT_DATABASE_URL on port 5432): the servers reach PostgreSQL through
# `dlrepo bench delay`, which holds every chunk 250 µs each way, as a database on another
# host would (a 0.5 ms round trip).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
OTHER=$(realpath "${2:?a second dlrepo binary}")
ROWS=${ROWS:-100000}
SECS=${SECS:-8}
DIR=bench-data/dept
BIN=$PWD/target/release/dlrepo
export RUST_LOG=warn
cargo build --release -q

PG=${DEPT_DATABASE_URL:-}
sql() { psql -h 127.0.0.1 -U postgres -qAt "$@"; }

if [ ! -f "$DIR/dlrepo.toml" ] || { [ -z "$PG" ] && [ ! -f "$DIR/bench.sqlite3" ]; }; then
    mkdir -p "$DIR"
    "$BIN" bench gen --dir "$DIR" --rows 1 --pdfs 4 >/dev/null
    [ -z "$PG" ] && python3 - "$DIR" "$ROWS" <<'PY'
import sqlite3, sys
d, n = sys.argv[1], int(sys.argv[2])
pdfs = [open(f"{d}/doc{i}.pdf", "rb").read() for i in range(4)]
db = sqlite3.connect(f"{d}/bench.sqlite3")
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE results (roll_no TEXT NOT NULL, exam_year TEXT NOT NULL, student_name TEXT, "
           "total_marks INTEGER, certificate_pdf BLOB, PRIMARY KEY (roll_no, exam_year))")
# The rows `dlrepo bench requests` asks for: RollNo 10000000 + i, Year 2000 + i % 25.
db.executemany("INSERT INTO results VALUES (?,?,?,?,?)",
               ((str(10_000_000 + i), str(2000 + i % 25), f"Student {i}", 300 + i % 200, pdfs[i % 4])
                for i in range(n)))
db.commit()
PY
    cat >> "$DIR/dlrepo.toml" <<'TOML'
[doctypes.source]
table = "results"
udf_columns = { RollNo = "roll_no", Year = "exam_year" }
holder_name = "student_name"
document_column = "certificate_pdf"
fields = [ ["Total marks", "total_marks"] ]
TOML
    chmod 600 "$DIR/dlrepo.toml"
    [ -f "$DIR/bench.sqlite3" ] && chmod 600 "$DIR/bench.sqlite3"
    rm -f "$DIR/rows.csv"
fi

if [ -n "$PG" ]; then
    DB=${PG##*/}; DB=${DB%%\?*}
    export DLREPO_DATABASE_URL=$PG
    if [ -z "$(sql -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
        for i in 0 1 2 3; do install -m 644 "$DIR/doc$i.pdf" "/tmp/dlrepo-dept-doc$i.pdf"; done
        sql -c "CREATE DATABASE $DB"
        sql -d "$DB" -c "CREATE TABLE results (roll_no TEXT NOT NULL, exam_year TEXT NOT NULL, \
            student_name TEXT, total_marks INTEGER, certificate_pdf BYTEA, PRIMARY KEY (roll_no, exam_year))" \
            -c "INSERT INTO results SELECT (10000000 + i)::text, (2000 + i % 25)::text, 'Student ' || i, \
                300 + i % 200, pg_read_binary_file('/tmp/dlrepo-dept-doc' || (i % 4) || '.pdf') \
                FROM generate_series(0, $ROWS - 1) AS i" -c "ANALYZE results"
        (cd "$DIR" && "$BIN" -c dlrepo.toml migrate >/dev/null)
    fi
    if [ -n "${DELAY_US:-}" ]; then
        "$BIN" bench delay --listen 127.0.0.1:6432 --to 127.0.0.1:5432 --micros "$DELAY_US" & DELAY=$!
        trap 'kill $DELAY 2>/dev/null || true' EXIT
        export DLREPO_DATABASE_URL=${PG/:5432\//:6432\/}
    fi
fi

pass() {
    local label=$1 requests=${2:-requests.txt} path=${3:-/pulluri} out
    out=$(WRK_REQUESTS="$DIR/$requests" WRK_PATH=$path \
        wrk -t2 -c32 -d"${SECS}s" --latency -s bench/pulluri.lua http://127.0.0.1:8088)
    echo "$label: $(awk '/^Requests\/sec/ {print int($2)}' <<<"$out") req/s, p99 $(awk '$1 == "99%" {print $2}' <<<"$out"), $(grep -o 'not Status 1: [0-9]*' <<<"$out")"
}

run() {
    local bin=$1 label=$2 server
    if [ -n "$PG" ]; then
        # As a new deployment's: empty and never analysed.
        sql -d "$DB" -c "TRUNCATE documents, push_outbox CASCADE"
    else
        python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM documents'); c.execute('DELETE FROM push_outbox'); c.commit()" "$DIR/bench.sqlite3" 2>/dev/null || true
    fi
    (cd "$DIR" && "$BIN" -c dlrepo.toml bench requests --rows "$ROWS" --count 20000 --out requests.txt >/dev/null)
    (cd "$DIR" && exec "$bin" -c dlrepo.toml serve 2>/dev/null) & server=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8088/healthz && break; sleep 0.1; done
    pass "$label, first"
    pass "$label, again"
    (cd "$DIR" && "$BIN" -c dlrepo.toml bench requests --rows "$ROWS" --pull-doc --count 20000 --out requests-doc.txt >/dev/null)
    pass "$label, pull doc" requests-doc.txt /pulldoc
    kill $server; wait $server 2>/dev/null || true
}

for r in $(seq 1 "$ROUNDS"); do
    run "$OTHER" "round $r, other build"
    run "$BIN" "round $r, this build"
done
