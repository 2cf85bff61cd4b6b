#!/usr/bin/env bash
# What the audit writer spends counting the audit trail (`audit_counts`, the usage
# report's and the console's running counts): a copy of DIR's SQLite database with its
# counts emptied, `serve` started on it with no load, and its CPU once every sealed row
# is counted again. Each BIN in turn, ROUNDS times.
# Usage, after bench/cpu.sh or bench/ratio.sh has left audit rows in DIR:
#   bench/recount.sh DIR [ROUNDS] [BIN ...]     # defaults: 2, target/release/dlrepo
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(realpath "${1:?bench-data folder}")
ROUNDS=${2:-2}
shift $(($# < 2 ? $# : 2))
BINS=("${@:-target/release/dlrepo}")
WORK=$(mktemp -d)
trap 'pkill -f "$WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT
DB=$(awk -F'"' '/^url/ {print $2; exit}' "$DIR/dlrepo.toml")
for r in $(seq 1 "$ROUNDS"); do
    for bin in "${BINS[@]}"; do
        bin=$(realpath "$bin")
        rm -rf "$WORK/d" && mkdir "$WORK/d" && cp "$DIR/dlrepo.toml" "$WORK/d/"
        python3 - "$DIR/$DB" "$WORK/d/$DB" <<'PY'
import sqlite3, sys
src = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.execute("DELETE FROM audit_counts")
dst.execute("DELETE FROM audit_latencies")
dst.execute("UPDATE audit_counted SET last_id = 0")
dst.commit()
PY
        sealed=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT coalesce(max(last_id), 0) FROM audit_segments').fetchone()[0])" "$WORK/d/$DB")
        (cd "$WORK/d" && RUST_LOG=warn DLREPO_BIND=127.0.0.1:8097 exec "$bin" -c "$WORK/d/dlrepo.toml" serve >/dev/null 2>&1) &
        pid=$!
        counted=0
        for _ in $(seq 1 1200); do
            counted=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True).execute('SELECT last_id FROM audit_counted').fetchone()[0])" "$WORK/d/$DB" 2>/dev/null || echo 0)
            [ "$counted" = "$sealed" ] && break
            sleep 0.2
        done
        cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$pid/stat)
        kill $pid; wait $pid 2>/dev/null || true
        echo "round $r: $(basename "$bin"): $counted of $sealed sealed rows counted, serve CPU ${cpu} s"
    done
done
