#!/usr/bin/env bash
# Load figures against the separate-process deployment: builds `kisum` in release mode, starts
# `kisum core`, `kisum auth` and `kisum module --name finance` on PostgreSQL and Redis (fresh
# databases), seeds the demo data (scripts/seed-demo.sh) and runs scripts/load.sh against it.
# Needs KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (the local servers), curl, jq.
#
#   KISUM_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#   KISUM_TEST_REDIS_URL=redis://127.0.0.1:6379 scripts/load-separate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KISUM_TEST_DATABASE_URL:?set KISUM_TEST_DATABASE_URL}"
: "${KISUM_TEST_REDIS_URL:?set KISUM_TEST_REDIS_URL}"

cargo build -q --release -p kisum-servers --bin kisum
KISUM=${CARGO_TARGET_DIR:-$PWD/target}/release/kisum
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh
separate_workspace load

start_separate load
KISUM_INTERNAL_API_KEY=$KEY scripts/seed-demo.sh "http://127.0.0.1:$A" "http://127.0.0.1:$C"
scripts/load.sh "http://127.0.0.1:$A" "http://127.0.0.1:$M"
