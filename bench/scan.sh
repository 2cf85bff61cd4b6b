#!/usr/bin/env bash
# `dlrepo push scan` over a department table of N rows (SQLite), for BENCHMARKS.md:
# time and peak memory of the first scan (every row new: DocId, vault, A row) and of a
# second one (nothing changed). Usage: bench/scan.sh   (SIZES overrides; BIN=another build)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000"}
BIN=${BIN:-target/release/dlrepo}
cargo build --release -q
echo "## machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; date -u
for n in $SIZES; do
    dir=bench-data/scan-$n
    rm -rf "$dir"; mkdir -p "$dir"
    python3 - "$dir/dlrepo.sqlite3" "$n" <<'PY'
import sqlite3, sys
D = [[0,1,2,3,4,5,6,7,8,9],[1,2,3,4,0,6,7,8,9,5],[2,3,4,0,1,7,8,9,5,6],[3,4,0,1,2,8,9,5,6,7],
     [4,0,1,2,3,9,5,6,7,8],[5,9,8,7,6,0,4,3,2,1],[6,5,9,8,7,1,0,4,3,2],[7,6,5,9,8,2,1,0,4,3],
     [8,7,6,5,9,3,2,1,0,4],[9,8,7,6,5,4,3,2,1,0]]
P = [[0,1,2,3,4,5,6,7,8,9],[1,5,7,6,2,8,3,0,9,4],[5,8,0,3,7,9,6,1,4,2],[8,9,1,6,0,4,3,5,2,7],
     [9,4,5,3,1,2,6,8,7,0],[4,2,8,6,5,7,3,9,0,1],[2,7,9,3,8,0,6,4,1,5],[7,0,4,6,9,1,3,2,5,8]]
INV = [0,4,3,2,1,5,6,7,8,9]
def verhoeff(num):
    c = 0
    for i, d in enumerate(reversed(num)):
        c = D[c][P[(i + 1) % 8][int(d)]]
    return str(INV[c])
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("CREATE TABLE marks (roll_no INTEGER PRIMARY KEY, student_name TEXT, total_marks INTEGER, aadhaar TEXT, cancelled INTEGER NOT NULL DEFAULT 0)")
rows = []
for i in range(n):
    base = str(26000000000 + i)
    rows.append((100000 + i, f"Student {i}", 300 + i % 200, base + verhoeff(base)))
db.executemany("INSERT INTO marks (roll_no, student_name, total_marks, aadhaar) VALUES (?,?,?,?)", rows)
db.commit()
PY
    cat > "$dir/dlrepo.toml" <<TOML
[issuer]
id = "in.gov.bench.board"
[database]
url = "dlrepo.sqlite3"
[digilocker]
org_id = "BENCH"
api_key = "bench-key-0123456789abcdef"
[vault]
key_file = "vault.key"
[push]
org_id = "in.gov.bench.board"
[[doctypes]]
code = "BOARD"
name = "Board Mark Sheet"
expected_count = $((n * 10))
udfs = [ { name = "Roll", pattern = "[0-9]{6,7}" } ]
[doctypes.source]
table = "marks"
udf_columns = { Roll = "roll_no" }
holder_name = "student_name"
aadhaar = "aadhaar"
revoked_column = "cancelled"
fields = [ ["Total marks", "total_marks"] ]
TOML
    $BIN vault keygen --out "$dir/vault.key" > /dev/null
    echo "## push scan of $n rows: first (all new)"
    /usr/bin/time -f "wall %e s, max RSS %M KiB" $BIN -c "$dir/dlrepo.toml" push scan --doctype BOARD
    echo "## push scan of $n rows: again (nothing changed)"
    /usr/bin/time -f "wall %e s, max RSS %M KiB" $BIN -c "$dir/dlrepo.toml" push scan --doctype BOARD
done
