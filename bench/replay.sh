#!/usr/bin/env bash
# Whiteboard replay at classroom scale (issue #20); see bench/README.md.
# 1. Replay throughput at 10,000, 100,000 and 1,000,000 operations, and the per-operation cost
#    at each size against 10,000's (target ≤ 1.5 at 1,000,000), on a log whose pages grow and
#    on a classroom-shaped one: crates/whiteboard/examples/replay_bench.rs.
# 2. Snapshot latency through the official Python SDK (release server, SQLite) of a mark after
#    10,000 and 200,000 operations, against the same render of the final page alone in a room
#    holding nothing else (the floor), in the same run (target < 1 s at 200,000): bench/replay.py.
# Knobs: BENCH_RUNS (timed replays per size, snapshots and push starts per room; default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiteboard --example replay_bench
cargo build --release -p taskgate
"${CARGO_TARGET_DIR:-target}/release/examples/replay_bench"
export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
exec .venv-test/bin/python bench/replay.py
