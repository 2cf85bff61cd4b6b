#!/usr/bin/env bash
# Pull URI against the bare actix ceiling, in turn (A B A B ...), so that the ratio holds
# while a shared machine's speed drifts. Usage, after bench/run.sh has made its data:
#   bench/ratio.sh [DIR] [BODY_KB] [ROUNDS]     # defaults: bench-data/sqlite 41 5
# DIR is a `bench gen` folder with an imported database and requests.txt; BODY_KB the
# ceiling's body (41 for ~30 KiB PDFs, 0 for the bare "hello"). DLREPO_DATABASE_URL is
# honoured (PostgreSQL). With VS_DATABASE_URL set, the second server is not the ceiling
# but dlrepo again on that database (PostgreSQL against SQLite: the ratio is A/B with A
# on VS_DATABASE_URL). Prints each round's two rates and ratio, then the median ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-bench-data/sqlite}
BODY_KB=${2:-41}
ROUNDS=${3:-5}
SECS=${SECS:-10}
BIN=${BIN:-$PWD/target/release/dlrepo}
export RUST_LOG=warn
cargo build --release -q
# Fresh requests: their ts must be inside digilocker.ts_window_minutes, or every answer
# is a quick Status 0 and the "rate" means nothing.
ROWS=$(($(wc -l < "$DIR/rows.csv") - 1))
(cd "$DIR" && "$BIN" -c dlrepo.toml bench requests --rows "$ROWS" --count 20000 --out requests.txt >/dev/null)
if [ -n "${VS_DATABASE_URL:-}" ]; then
    (cd "$DIR" && DLREPO_DATABASE_URL=$VS_DATABASE_URL exec "$BIN" -c dlrepo.toml serve) & SERVE=$!
    (cd "$DIR" && DLREPO_BIND=127.0.0.1:8089 exec "$BIN" -c dlrepo.toml serve) & HELLO=$!
    B_PATH=/pulluri B_NAME="dlrepo on ${DLREPO_DATABASE_URL:-its configured database}"
else
    (cd "$DIR" && exec "$BIN" -c dlrepo.toml serve) & SERVE=$!
    "$BIN" bench hello --bind 127.0.0.1:8089 --body-kb "$BODY_KB" 2>/dev/null & HELLO=$!
    B_PATH=/ B_NAME="ceiling ($BODY_KB KiB)"
fi
trap 'kill $SERVE $HELLO 2>/dev/null || true' EXIT
for port in 8088 8089; do
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
rate() {
    local out
    out=$(WRK_REQUESTS="$DIR/requests.txt" WRK_PATH=$1 wrk -t2 -c32 -d"${SECS}s" -s bench/pulluri.lua "$2")
    if ! grep -q "answers that were not Status 1: 0$" <<<"$out"; then
        echo "$2$1 answered other than Status 1: not a rate to compare" >&2
        grep "not Status 1" <<<"$out" >&2
        exit 1
    fi
    awk '/^Requests\/sec/ {print int($2)}' <<<"$out"
}
# Warm both (page caches, pools) before anything is counted.
SECS=5 rate /pulluri http://127.0.0.1:8088 >/dev/null
SECS=5 rate "$B_PATH" http://127.0.0.1:8089 >/dev/null
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    a=$(rate /pulluri http://127.0.0.1:8088)
    b=$(rate "$B_PATH" http://127.0.0.1:8089)
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}')
    ratios+=("$ratio")
    echo "round $r: Pull URI $a req/s, $B_NAME $b req/s, ratio $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {print "median ratio " v[int((NR+1)/2)] " of " NR " rounds"}'
echo "serve peak RSS: $(grep VmHWM /proc/$SERVE/status)"
