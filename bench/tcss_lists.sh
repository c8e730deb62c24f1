#!/usr/bin/env bash
# p50/p95 of the filtered tcss asset lists with inventories of 100 and 50,000 containers in one
# account; see bench/README.md.
# Needs the test venv (scripts/test creates .venv-test). TASKGATE_BIN picks a built server (else a
# release build); BENCH_SIZES (default 100,50000) and BENCH_CALLS (default 200) set the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TASKGATE_BIN:-}" ]; then
    cargo build --release -p taskgate
    export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
fi
exec .venv-test/bin/python bench/tcss_lists.py
