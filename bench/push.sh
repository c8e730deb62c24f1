#!/usr/bin/env bash
# Concurrent 1280x720@15 whiteboard pushes in real time, against the encoder alone; see
# bench/README.md. Needs the test venv (scripts/test creates .venv-test) and ffmpeg.
# Knobs: BENCH_PUSHES (6), BENCH_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p taskgate
export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
exec .venv-test/bin/python bench/push.py
