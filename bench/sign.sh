#!/usr/bin/env bash
# Signing benchmark for BENCHMARKS.md: signatures/s of a 100 KiB certificate with RSA-2048
# and ECDSA P-256 on 1 and 2 threads, beside `openssl speed` and pyHanko on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=bench-data/sign
BIN=target/release/dlrepo
SECONDS_EACH=${SECONDS_EACH:-10}
export RUST_LOG=warn
cargo build --release -q
mkdir -p "$DIR"
$BIN bench pdf --kb 100 --out "$DIR/cert.pdf"
# A real certificate too: the demo's Hindi + English mark sheet (krilla, subset fonts).
$BIN demo --dir "$DIR/demo" --no-serve >/dev/null
cat > "$DIR/row.json" <<'ROW'
{"RollNo":"1001","Year":"2024","holder_name":"Asha Kumari","holder_name_hi":"आशा कुमारी","doc_name":"Mark Sheet","issued_on":"15/05/2024","Hindi":"88","English":"91","Maths":"95","Science":"90","Social":"85","TotalMarks":"449"}
ROW
$BIN --config "$DIR/demo/dlrepo.toml" render --doctype MARKS --row "$DIR/row.json" --out "$DIR/bilingual.pdf"
ls -la "$DIR/cert.pdf" "$DIR/bilingual.pdf"
for algo in rsa ec; do
    $BIN keygen --dir "$DIR/$algo" --algo $algo >/dev/null
    for pdf in cert bilingual; do
        for t in 1 2; do
            echo -n "$algo, $pdf, $t thread(s): "
            $BIN bench sign --pdf "$DIR/$pdf.pdf" --key "$DIR/$algo/signer.key" --chain "$DIR/$algo/signer-chain.pem" \
                --threads $t --seconds "$SECONDS_EACH"
        done
    done
done
echo "## openssl speed sha256 over the two files' sizes (the signed ranges are hashed whole)"
openssl speed -seconds "$SECONDS_EACH" -bytes 102400 sha256 2>/dev/null | tail -1
openssl speed -seconds "$SECONDS_EACH" -bytes 53248 sha256 2>/dev/null | tail -1
echo "## openssl speed (raw signing limit), 1 and 2 processes"
openssl speed -seconds "$SECONDS_EACH" rsa2048 ecdsap256 2>/dev/null | grep -E "^(rsa 2048|[ ]*256 bits ecdsa)" || true
openssl speed -multi 2 -seconds "$SECONDS_EACH" rsa2048 ecdsap256 2>/dev/null | grep -E "^(rsa 2048|[ ]*256 bits ecdsa)" || true
if command -v pyhanko >/dev/null; then
    echo "## pyHanko signing the same file, one process, $SECONDS_EACH s"
    n=0; end=$((SECONDS + SECONDS_EACH))
    while [ $SECONDS -lt $end ]; do
        pyhanko sign addsig --field Sig1 pemder --key "$DIR/rsa/signer.key" --cert "$DIR/rsa/signer.crt" \
            --chain "$DIR/rsa/ca.crt" --no-pass "$DIR/cert.pdf" "$DIR/pyhanko-out.pdf" >/dev/null 2>&1
        n=$((n + 1))
    done
    echo "pyHanko (CLI, RSA-2048): $n signatures in $SECONDS_EACH s"
fi
