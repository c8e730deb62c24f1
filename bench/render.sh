#!/usr/bin/env bash
# Whiteboard rendering throughput: snapshot pipeline vs raw tiny-skia + png baseline, and
# parallel marks. Usage: bench/render.sh   (BENCH_MS=per-measurement budget, default 3000;
# BENCH_PNG=path to also write the rendered scene)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiteboard --example render_bench
exec "${CARGO_TARGET_DIR:-target}/release/examples/render_bench"
