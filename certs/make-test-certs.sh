#!/usr/bin/env bash
# A throwaway CA and signing certificate in this folder. Not for production.
# Usage: certs/make-test-certs.sh [rsa|ec]
set -euo pipefail
cd "$(dirname "$0")"
exec cargo run --release -q -- keygen --dir . --algo "${1:-rsa}"
