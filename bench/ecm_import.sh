#!/usr/bin/env bash
# ecm image import throughput against curl of the same URL, and peak RSS; see bench/README.md.
# Needs the test venv (scripts/test creates .venv-test). BENCH_IMAGE_SIZE (default 2G) sets the image.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p taskgate
export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
exec .venv-test/bin/python bench/ecm_import.py
