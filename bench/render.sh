#!/usr/bin/env bash
# Rendering benchmark for BENCHMARKS.md: certificates/s of the demo's bilingual mark sheet
# (embedded Hindi + English fonts, shaping, logo, marks table, PDF/A-2b) against the
# Latin-1 one (the 14 standard fonts), rendered only, and rendered then signed (ECDSA
# P-256 and RSA-2048), on 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=bench-data/render
BIN=target/release/dlrepo
SECONDS_EACH=${SECONDS_EACH:-10}
export RUST_LOG=warn
cargo build --release -q
mkdir -p "$DIR"
cat > "$DIR/row.json" <<'JSON'
{"RollNo": "2024100", "Year": "2024", "holder_name": "Aarav Sharma", "holder_name_hi": "आरव शर्मा",
 "doc_name": "Class X Mark Sheet 2024", "issued_on": "15/05/2024", "Hindi": "75", "English": "64",
 "Maths": "80", "Science": "96", "Social": "58", "TotalMarks": "373"}
JSON
for algo in ec rsa; do $BIN keygen --dir "$DIR/$algo" --algo $algo >/dev/null; done
for t in templates/marksheet.toml templates/marksheet-bilingual.toml; do
    for threads in 1 2; do
        echo -n "$t, render only, $threads thread(s): "
        $BIN bench render --template "$t" --row "$DIR/row.json" --threads $threads --seconds "$SECONDS_EACH"
        for algo in ec rsa; do
            echo -n "$t, render + sign ($algo), $threads thread(s): "
            $BIN bench render --template "$t" --row "$DIR/row.json" --sign \
                --key "$DIR/$algo/signer.key" --chain "$DIR/$algo/signer-chain.pem" \
                --threads $threads --seconds "$SECONDS_EACH"
        done
    done
done
