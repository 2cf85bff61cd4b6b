#!/usr/bin/env bash
# Push benchmark for BENCHMARKS.md: ROWS queued rows pushed to the local stand-in of the
# central API (a separate process), on SQLite. Usage: ROWS=1000000 bench/push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
DIR=bench-data/push-$ROWS
BIN=target/release/dlrepo
KEY=bench-push-key-not-a-secret-0123
export RUST_LOG=warn
cargo build --release -q
rm -rf "$DIR"; mkdir -p "$DIR"
$BIN bench gen --dir "$DIR" --rows 1 >/dev/null
cat >> "$DIR/dlrepo.toml" <<TOML
[push]
endpoint = "http://127.0.0.1:9099/public/issuer/api/csvupload/1/xml"
org_id = "in.gov.bench.board"
api_key = "$KEY"
rows_per_file = 10000
TOML
$BIN -c "$DIR/dlrepo.toml" bench queue --rows "$ROWS"
$BIN central-standin --bind 127.0.0.1:9099 --org-id in.gov.bench.board --key "$KEY" > "$DIR/standin.log" & STANDIN=$!
trap 'kill $STANDIN 2>/dev/null || true' EXIT
sleep 0.5
echo "## push of $ROWS rows, 10,000 per file"
/usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KiB" $BIN -c "$DIR/dlrepo.toml" push
$BIN -c "$DIR/dlrepo.toml" push status
sleep 1
echo "stand-in accepted $(grep -c 'accepted=true' "$DIR/standin.log") files, $(awk -F'rows=' '/accepted=true/{split($2,a," "); s+=a[1]} END{print s}' "$DIR/standin.log") rows"
