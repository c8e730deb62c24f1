#!/usr/bin/env bash
# Peak RSS of the server for a room filled to its quota read by 4 paged GET readers and 4
# WebSocket joiners at once, and for a snapshot of five 10000x10000 PNG bombs, against the idle
# server in the same run; see bench/README.md. Needs the test venv (scripts/test creates
# .venv-test).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p taskgate
export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
exec .venv-test/bin/python bench/room_flood.py
