#!/usr/bin/env bash
# Import speed of two builds, run in turn so that a drifting machine drifts for both.
# Usage: bench/import.sh DIR ROUNDS [OTHER_BIN]
#   DIR: a folder from `dlrepo bench gen --dir DIR --rows N` (rows.csv, dlrepo.toml).
#   OTHER_BIN: a second dlrepo binary (an older build) to compare with; none: this one.
#   IMPORT_DATABASE_URL=postgres://...?sslmode=disable: import into that PostgreSQL
#   database instead of SQLite (dropped and made again before every import).
# Each import starts from an empty database; prints rows/s, dlrepo's CPU and peak RSS,
# and the CPU time of the whole machine over the import (PostgreSQL's included), per run.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?bench-data folder}
ROUNDS=${2:-3}
OTHER=${3:-}
BIN=target/release/dlrepo
export RUST_LOG=warn
cargo build --release -q

fresh() {
    if [ -n "${IMPORT_DATABASE_URL:-}" ]; then
        local db=${IMPORT_DATABASE_URL##*/}; db=${db%%\?*}
        psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
        psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
    else
        rm -f "$DIR"/bench.sqlite3*
    fi
}

# CPU time the whole machine spent (all processes: on PostgreSQL the server's backends
# too, which /usr/bin/time does not see), in clock ticks.
busy_ticks() {
    awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat
}

one() {
    local bin label=$2 out before
    bin=$(realpath "$1")
    fresh
    [ -n "${IMPORT_DATABASE_URL:-}" ] && export DLREPO_DATABASE_URL=$IMPORT_DATABASE_URL
    before=$(busy_ticks)
    out=$( (cd "$DIR" && /usr/bin/time -f "user %U s, sys %S s, max RSS %M KiB" \
        "$bin" -c dlrepo.toml import --doctype MARKS rows.csv) 2>&1)
    local machine
    machine=$(awk -v t=$(( $(busy_ticks) - before )) -v hz="$(getconf CLK_TCK)" \
        'BEGIN{printf "%.1f", t / hz}')
    echo "$label: $(grep -o '[0-9]* rows/s' <<<"$out"), $(tail -1 <<<"$out"), machine CPU $machine s"
}

for r in $(seq 1 "$ROUNDS"); do
    one "$BIN" "round $r, this build"
    [ -n "$OTHER" ] && one "$OTHER" "round $r, $OTHER"
done
