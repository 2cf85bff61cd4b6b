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
ls -la "$DIR/cert.pdf"
for algo in rsa ec; do
    $BIN keygen --dir "$DIR/$algo" --algo $algo >/dev/null
    for t in 1 2; do
        echo -n "$algo, $t thread(s): "
        $BIN bench sign --pdf "$DIR/cert.pdf" --key "$DIR/$algo/signer.key" --chain "$DIR/$algo/signer-chain.pem" \
            --threads $t --seconds "$SECONDS_EACH"
    done
done
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
