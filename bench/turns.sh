#!/usr/bin/env bash
# Pull URI rate of this build against another, in turn (A B A B ...), so that a drifting
# machine drifts for both. Usage, after bench/run.sh (or `bench gen` + import) made DIR:
#   bench/turns.sh DIR ROUNDS OTHER_BIN [replays]
# With `replays`, the servers refuse replays (`refuse_replays = true`, a department's
# default) and wrk gives every request a txn of its own, so every pull also writes its
# row in the replay memory; without it, the bench config as it is. DLREPO_DATABASE_URL
# is honoured (PostgreSQL). ENDPOINT=pulldoc times Pull Doc instead, on URIs of documents
# drawn from the database (`bench requests --pull-doc`, by this build). Prints each
# run's req/s and p99; stops if any answer was not Status 1. OTHER_DIR: the other build
# serves its own copy of the data (for builds whose migrations differ: a newer build
# would migrate the older one's database).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?bench-data folder}
ROUNDS=${2:-3}
OTHER=$(realpath "${3:?a second dlrepo binary}")
MODE=${4:-plain}
ENDPOINT=${ENDPOINT:-pulluri}
OTHER_DIR=${OTHER_DIR:-$DIR}
ASK=()
[ "$ENDPOINT" = pulldoc ] && ASK=(--pull-doc)
SECS=${SECS:-8}
BIN=$PWD/target/release/dlrepo
export RUST_LOG=warn
cargo build --release -q
ROWS=$(($(wc -l < "$DIR/rows.csv") - 1))
CFG=dlrepo.toml
FRESH=
if [ "$MODE" = replays ]; then
    for d in "$DIR" "$OTHER_DIR"; do
        sed 's/^refuse_replays = false/refuse_replays = true/' "$d/dlrepo.toml" > "$d/replays.toml"
        chmod 600 "$d/replays.toml"
    done
    CFG=replays.toml
    FRESH=1
fi
run() {
    local bin=$1 label=$2 dir=$3 server out
    # Fresh requests: their ts must be inside the window, or every answer is a Status 0.
    (cd "$dir" && "$BIN" -c dlrepo.toml bench requests --rows "$ROWS" --count 20000 "${ASK[@]}" --out requests.txt >/dev/null)
    (cd "$dir" && exec "$bin" -c "$CFG" serve 2>/dev/null) & server=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8088/healthz && break; sleep 0.1; done
    out=$(WRK_FRESH_TXN=$FRESH WRK_REQUESTS="$dir/requests.txt" WRK_PATH=/$ENDPOINT \
        wrk -t2 -c32 -d"${SECS}s" --latency -s bench/pulluri.lua http://127.0.0.1:8088)
    kill $server; wait $server 2>/dev/null || true
    if ! grep -q "answers that were not Status 1: 0$" <<<"$out"; then
        echo "$label answered other than Status 1: not a rate to compare" >&2
        exit 1
    fi
    echo "$label, $ENDPOINT: $(awk '/^Requests\/sec/ {print int($2)}' <<<"$out") req/s, p99 $(awk '$1 == "99%" {print $2}' <<<"$out")"
}
for r in $(seq 1 "$ROUNDS"); do
    run "$OTHER" "round $r, other build ($MODE)" "$OTHER_DIR"
    run "$BIN" "round $r, this build ($MODE)" "$DIR"
done
