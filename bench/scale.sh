#!/usr/bin/env bash
# Pull URI on a small and a large database, in turn (S L S L ...), so that the ratio holds
# while a shared machine's speed drifts. Usage, once both folders are imported:
#   bench/scale.sh SMALL_DIR LARGE_DIR [ROUNDS]      # e.g. 1M and 10M rows; ROUNDS=5
# Each DIR is a `bench gen` folder with an imported database. SMALL_URL and LARGE_URL,
# when set, are the DLREPO_DATABASE_URL of each (PostgreSQL); unset, each folder's SQLite
# file. Requests are drawn at random over all rows of each, so the large one reads pages
# all over its indexes. Prints each round's rate and p99, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=$1
LARGE=$2
ROUNDS=${3:-5}
SECS=${SECS:-10}
BIN=${BIN:-$PWD/target/release/dlrepo}
export RUST_LOG=warn
start() { # dir port url
    local rows
    rows=$(($(wc -l < "$1/rows.csv") - 1))
    # Fresh requests: older than ts_window_minutes they would all be a quick Status 0.
    (cd "$1" && "$BIN" -c dlrepo.toml bench requests --rows "$rows" --count 20000 --out requests.txt >/dev/null)
    (cd "$1" && exec env DLREPO_BIND=127.0.0.1:"$2" ${3:+DLREPO_DATABASE_URL="$3"} "$BIN" -c dlrepo.toml serve) &
}
start "$SMALL" 8088 "${SMALL_URL:-}"; S_PID=$!
start "$LARGE" 8089 "${LARGE_URL:-}"; L_PID=$!
trap 'kill $S_PID $L_PID 2>/dev/null || true' EXIT
for port in 8088 8089; do
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
run() { # dir port -> "rate p99_ms"
    local out
    out=$(WRK_REQUESTS="$1/requests.txt" WRK_PATH=/pulluri wrk -t2 -c32 -d"${SECS}s" --latency \
        -s bench/pulluri.lua "http://127.0.0.1:$2")
    if ! grep -q "answers that were not Status 1: 0$" <<<"$out"; then
        echo "$1 answered other than Status 1: not a rate to compare" >&2
        grep "not Status 1" <<<"$out" >&2
        exit 1
    fi
    awk '/^Requests\/sec/ {r=int($2)}
         /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p=v}
         END {printf "%d %.1f\n", r, p}' <<<"$out"
}
# Warm both: the first pass over a cold file is a disk benchmark, not this one.
SECS=10 run "$SMALL" 8088 >/dev/null
SECS=10 run "$LARGE" 8089 >/dev/null
ratios=(); sp=(); lp=()
for r in $(seq 1 "$ROUNDS"); do
    read -r s s99 < <(run "$SMALL" 8088)
    read -r l l99 < <(run "$LARGE" 8089)
    ratio=$(awk -v a="$l" -v b="$s" 'BEGIN {printf "%.3f", a / b}')
    ratios+=("$ratio"); sp+=("$s99"); lp+=("$l99")
    echo "round $r: $SMALL $s req/s p99 $s99 ms, $LARGE $l req/s p99 $l99 ms, ratio $ratio"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median ratio (large/small) $(median "${ratios[@]}") of $ROUNDS rounds; median p99 $(median "${sp[@]}") ms vs $(median "${lp[@]}") ms"
echo "serve peak RSS: small $(grep VmHWM /proc/$S_PID/status | awk '{print $2, $3}'), large $(grep VmHWM /proc/$L_PID/status | awk '{print $2, $3}')"
