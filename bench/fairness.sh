#!/usr/bin/env bash
# Fairness between accounts: account B's snapshot task start latency and callback delivery latency
# (p50/p95) with account A idle and with A flooding (queued snapshots whose callbacks go to
# receivers that accept and never answer), in the same run, and their ratio (target <= 2), on SQLite
# and, when TASKGATE_TEST_PG_URL is set, on PostgreSQL.
# Needs the test venv (scripts/test creates .venv-test). TASKGATE_BIN, when set, is measured as it
# is (e.g. a debug build); otherwise the release build is made and measured.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TASKGATE_BIN:-}" ]; then
  cargo build --release -p taskgate
  export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
fi
exec .venv-test/bin/python bench/fairness.py
