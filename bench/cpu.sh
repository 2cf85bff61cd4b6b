#!/usr/bin/env bash
# What one Pull URI run costs the server: req/s and p99, serve's CPU per pull (µs, all
# its threads), the bytes it wrote to disk, its audit writer's share of its CPU, and its
# peak RSS. For comparing configs or builds whose req/s alone drifts with the machine.
# Usage, after `bench gen` + import made DIR:
#   bench/cpu.sh DIR [CONFIG] [BIN]     # defaults: dlrepo.toml, target/release/dlrepo
# CONFIG is a file in DIR (a copy of dlrepo.toml with a setting changed, say).
# DLREPO_DATABASE_URL is honoured (PostgreSQL; its backends' CPU is not counted).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?bench-data folder}
CFG=${2:-dlrepo.toml}
BIN=$(realpath "${3:-target/release/dlrepo}")
SECS=${SECS:-8}
export RUST_LOG=warn
ROWS=$(($(wc -l < "$DIR/rows.csv") - 1))
(cd "$DIR" && "$BIN" -c "$CFG" bench requests --rows "$ROWS" --count 20000 --out requests.txt >/dev/null)
(cd "$DIR" && exec "$BIN" -c "$CFG" serve 2>/dev/null) & S=$!
trap 'kill $S 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8088/healthz && break; sleep 0.1; done
# Warm the page cache and the pool first (the first seconds after an import or a
# restart ran at a tenth of the rate), uncounted.
WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri \
    wrk -t2 -c32 -d3s -s bench/pulluri.lua http://127.0.0.1:8088 >/dev/null
ticks() { awk '{print $14 + $15}' "$1"; }
writer=$(grep -l audit-writer /proc/$S/task/*/comm 2>/dev/null | head -1 | xargs -r dirname)
w0=$(awk '/^write_bytes/ {print $2}' /proc/$S/io)
p0=$(ticks /proc/$S/stat)
a0=0; [ -n "$writer" ] && a0=$(ticks "$writer/stat")
out=$(WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=/pulluri \
    wrk -t2 -c32 -d"${SECS}s" --latency -s bench/pulluri.lua http://127.0.0.1:8088)
p1=$(ticks /proc/$S/stat)
a1=0; [ -n "$writer" ] && a1=$(ticks "$writer/stat")
w1=$(awk '/^write_bytes/ {print $2}' /proc/$S/io)
rss=$(awk '/^VmHWM/ {print $2}' /proc/$S/status)
if ! grep -q "answers that were not Status 1: 0$" <<<"$out"; then
    echo "answers other than Status 1: not a rate to compare" >&2
    exit 1
fi
rate=$(awk '/^Requests\/sec/ {print int($2)}' <<<"$out")
hz=$(getconf CLK_TCK)
awk -v r="$rate" -v s="$SECS" -v p=$((p1 - p0)) -v a=$((a1 - a0)) -v hz="$hz" \
    -v w=$((w1 - w0)) -v rss="$rss" -v p99="$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    -v name="$(basename "$BIN") $CFG" 'BEGIN {
        printf "%s: %d req/s, p99 %s, serve CPU %.0f us a pull, audit writer %.0f%% of it, wrote %.0f MiB, peak RSS %d MiB\n",
            name, r, p99, p * 1e6 / hz / (r * s), (p ? 100 * a / p : 0), w / 1048576, rss / 1024 }'
