#!/usr/bin/env bash
# Room delivery latency across nodes: an operation posted on node A until a WebSocket client on
# node B receives it, against the same post on node B, in the same run; two nodes on one
# PostgreSQL (TASKGATE_TEST_PG_URL). Needs the test venv (scripts/test creates .venv-test).
# BENCH_PROFILE=dev measures a debug build; BENCH_SAMPLES (default 200) per case.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-release}"
cargo build --profile "$profile" -p taskgate
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/$dir/taskgate"
exec .venv-test/bin/python bench/room_nodes.py
