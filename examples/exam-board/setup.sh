#!/usr/bin/env bash
# The exam-board example on PostgreSQL: the board's `examboard` database with its
# `results` table and a read-only role, plus an empty `dlrepo` database for dlrepo's own
# tables. Then: dlrepo --config examples/exam-board/dlrepo.toml serve
set -euo pipefail
cd "$(dirname "$0")"
PG=${PG:-postgres://postgres@127.0.0.1:5432}
for db in examboard dlrepo; do
    psql "$PG/postgres" -v ON_ERROR_STOP=1 -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
        || psql "$PG/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db"
done
psql "$PG/examboard" -v ON_ERROR_STOP=1 -q -f results.sql
# The vault key of this example (kept apart from the database in production).
[ -f vault.key ] || (cd ../.. && cargo run -q --release -- vault keygen --out examples/exam-board/vault.key)
echo "ready: dlrepo --config $(pwd)/dlrepo.toml check-config && dlrepo --config $(pwd)/dlrepo.toml serve"
echo "try:   dlrepo --config $(pwd)/dlrepo.toml curl pull-uri RollNo=1100101 Year=2024"
