#!/usr/bin/env bash
# What PostgreSQL itself takes to insert an import's rows, with no client at all: the
# rows of an imported `documents` table copied by INSERT ... SELECT into a new table
# like it, 50,000 rows a statement (as an import's batches), timed in turn:
#   - no indexes, no trigger (the heap and the WAL only);
#   - the indexes of `documents` (no trigger);
#   - the indexes and the blob check trigger (what an import's COPY pays);
#   - the same split over two backends at once (odd and even batches).
# Usage, after `IMPORT_DATABASE_URL=... bench/import.sh DIR 1` left its database:
#   bench/pg_ceiling.sh [DB] [ROUNDS]        # defaults: dlrepo_imp 2
set -euo pipefail
DB=${1:-dlrepo_imp}
ROUNDS=${2:-2}
P=(psql -h 127.0.0.1 -U postgres -qAtX -v ON_ERROR_STOP=1 "$DB")

"${P[@]}" <<'SQL'
CREATE OR REPLACE PROCEDURE ceiling_fill(part int, parts int) LANGUAGE plpgsql AS $$
DECLARE lo bigint; n bigint;
BEGIN
  SELECT min(id), count(*) INTO lo, n FROM documents;
  FOR i IN 0..(n / 50000) LOOP
    IF i % parts = part THEN
      INSERT INTO ceiling SELECT * FROM documents
      WHERE id >= lo + i * 50000 AND id < lo + (i + 1) * 50000;
    END IF;
  END LOOP;
END $$;
SQL
ROWS=$("${P[@]}" -c "SELECT count(*) FROM documents")

fresh() {
    "${P[@]}" -c "DROP TABLE IF EXISTS ceiling" -c "CREATE TABLE ceiling (LIKE documents $1)"
    [ -z "${2:-}" ] || "${P[@]}" -c "CREATE TRIGGER ceiling_blobs AFTER INSERT ON ceiling \
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION documents_blobs_present()"
    "${P[@]}" -c CHECKPOINT
}

timed() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" -v n="$ROWS" 'BEGIN{printf "%.2f s (%.0f rows/s)", e - s, n / (e - s)}'
}

for r in $(seq 1 "$ROUNDS"); do
    fresh "INCLUDING DEFAULTS"
    echo "round $r, no indexes: $(timed "${P[@]}" -c "CALL ceiling_fill(0, 1)")"
    fresh "INCLUDING ALL"
    echo "round $r, the indexes of documents: $(timed "${P[@]}" -c "CALL ceiling_fill(0, 1)")"
    fresh "INCLUDING ALL" trigger
    echo "round $r, indexes and blob check: $(timed "${P[@]}" -c "CALL ceiling_fill(0, 1)")"
    fresh "INCLUDING ALL" trigger
    both() { "${P[@]}" -c "CALL ceiling_fill(0, 2)" & "${P[@]}" -c "CALL ceiling_fill(1, 2)"; wait; }
    echo "round $r, the same on two backends: $(timed both)"
done
"${P[@]}" -c "DROP TABLE ceiling" -c "DROP PROCEDURE ceiling_fill(int, int)"
