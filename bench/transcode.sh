#!/usr/bin/env bash
# tiw document transcoding in pages per second (a 50-page PDF, a 20-slide PPTX static and dynamic)
# against soffice and pdftoppm run by hand on the same files; see bench/README.md. Needs the test
# venv (scripts/test creates .venv-test), LibreOffice and poppler-utils. TASKGATE_BIN picks a built
# server (else a release build); BENCH_RUNS (default 3) sets the runs the medians are taken over.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TASKGATE_BIN:-}" ]; then
    cargo build --release -p taskgate
    export TASKGATE_BIN="${CARGO_TARGET_DIR:-target}/release/taskgate"
fi
exec .venv-test/bin/python bench/transcode.py
