#!/usr/bin/env bash
# Task pickup latency across nodes on PostgreSQL: submit on node A, claimed by an idle node B
# (woken by NOTIFY), against the same node's in-process wake, in the same run.
# Usage: bench/pickup.sh [--samples N] [--pg postgres://…] (or TASKGATE_TEST_PG_URL)
# BENCH_PROFILE=dev measures a debug build (no release build on a crowded disk).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-release}"
cargo build --profile "$profile" -p taskgate-engine --features testing --example pickup_bench
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
exec "${CARGO_TARGET_DIR:-target}/$dir/examples/pickup_bench" "$@"
