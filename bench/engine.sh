#!/usr/bin/env bash
# Engine throughput: no-op tasks created and finished per second on SQLite, and on
# PostgreSQL when TASKGATE_TEST_PG_URL or `--pg URL` is given, against plain inserts.
# Usage: bench/engine.sh [--tasks N] [--pg postgres://…]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p taskgate-engine --example engine_bench
exec "${CARGO_TARGET_DIR:-target}/release/examples/engine_bench" "$@"
