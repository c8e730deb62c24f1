#!/usr/bin/env bash
# Gateway throughput: signed tiw DescribeSnapshotTask requests per second through the release
# taskgate server (parse, TC3 verification, account and SdkAppId checks, rate limiter, the task
# lookup, the envelope), against an axum hello-world (crates/taskgate/examples/hello_baseline.rs)
# measured in the same run with the same load, on loopback. Two taskgate runs: a finished task
# (the target's figure; after the first request the engine answers it from memory) and an unknown
# task (a database read every request).
#
# Usage: bench/gateway.sh            knobs: BENCH_DURATION (10s), BENCH_CONNECTIONS (32),
#                                           BENCH_THREADS (2), BENCH_WARMUP (2s)
# Needs wrk (apt-get installed when missing, as root).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
# shellcheck source=../scripts/lib/common.sh
source scripts/lib/common.sh

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}

command -v wrk >/dev/null || { log "apt-get install wrk"; apt_install wrk; }
log "cargo build --release (taskgate, hello_baseline)"
cargo build --release -p taskgate --bin taskgate --example hello_baseline
BIN_DIR="${CARGO_TARGET_DIR:-$REPO/target}/release"

TMP=$(mktemp -d /tmp/taskgate-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME CMD...: start a server in the background (in this shell, so cleanup can stop it).
start() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!)
}

# port_of NAME PID: the port from its "... listening on http://H:P" line, waiting up to 60 s.
port_of() {
  local name=$1 pid=$2 deadline=$((SECONDS + 60)) port=""
  until port=$(sed -n 's#.* listening on http://[^ ]*:\([0-9][0-9]*\)$#\1#p' "$TMP/$name.out" | head -1) && [[ -n $port ]]; do
    ((SECONDS < deadline)) || { cat "$TMP/$name.err" >&2; die "$name did not start"; }
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2; die "$name exited"; }
    sleep 0.05
  done
  echo "$port"
}

mkdir -p "$TMP/data"
cat >"$TMP/taskgate.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "$TMP/data"
database_url = "sqlite://$TMP/data/taskgate.db"
public_url = "http://127.0.0.1:8080"
regions = ["ap-guangzhou", "ap-singapore"]
[rate_limit]
per_second = 1000000000
[[accounts]]
uin = "100000000001"
services = ["tiw", "tcss", "ecm"]
[[accounts.credentials]]
secret_id = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
secret_key = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
[[accounts.sdk_apps]]
sdk_app_id = 1400127230
secret_key = "usersig-signing-key"
EOF

log "starting servers"
start taskgate env RUST_LOG=warn "$BIN_DIR/taskgate" serve --config "$TMP/taskgate.toml"
TG_PORT=$(port_of taskgate "${PIDS[-1]}")
start hello "$BIN_DIR/examples/hello_baseline" 127.0.0.1:0
HELLO_PORT=$(port_of hello "${PIDS[-1]}")

# Two TC3-signed DescribeSnapshotTask requests as wrk scripts, each signed once and valid for
# 300 s from now (the whole run fits in that window): one of a finished task, created here with
# CreateSnapshotTask on an empty room and polled until Finished, one of an unknown task. Each is
# checked to authenticate and to get the expected answer, or we'd measure a rejection. The
# signer is the test suite's (tests/integration/tc_sign.py, stdlib only).
python3 - "$TG_PORT" "$TMP" <<'PY'
import json, re, sys, time, urllib.request
sys.path.insert(0, "tests/integration")
import tc_sign
port, out = sys.argv[1], sys.argv[2]
SDK_APP = 1400127230

def signed(action, params):
    body = tc_sign.json_body(params)
    headers = tc_sign.tc3_headers(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="tiw", host=f"127.0.0.1:{port}", action=action, version="2019-09-19",
        timestamp=int(time.time()), payload=body, region="ap-singapore")
    return body, headers

def call(body, headers):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers=headers, method="POST")
    return json.load(urllib.request.urlopen(req, timeout=10))["Response"]

def describe(task_id):
    return signed("DescribeSnapshotTask", {"TaskID": task_id, "SdkAppId": SDK_APP})

created = call(*signed("CreateSnapshotTask", {"Whiteboard": {"Width": 1280, "Height": 720}, "SdkAppId": SDK_APP, "RoomId": 1}))
task_id = created.get("TaskID") or sys.exit(f"CreateSnapshotTask failed: {created}")
deadline = time.monotonic() + 30
while (answer := call(*describe(task_id))).get("Status") != "Finished":
    if "Error" in answer or time.monotonic() > deadline:
        sys.exit(f"the snapshot task did not finish: {answer}")
    time.sleep(0.05)

for name, task, check in [
    ("finished", task_id, lambda a: a.get("Status") == "Finished"),
    ("unknown", "f2e1728c-6e87-4481-abe1-cde8542a5a10", lambda a: a.get("Error", {}).get("Code") == "InvalidParameter"),
]:
    body, headers = describe(task)
    answer = call(body, headers)
    if not check(answer):
        sys.exit(f"bench request ({name} task) does not get the expected answer: {answer}")
    lua = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lua += [f"wrk.headers[ [==[{k}]==] ] = [==[{v}]==]" for k, v in headers.items()]
    open(f"{out}/{name}.lua", "w").write("\n".join(lua) + "\n")
PY

# run_wrk NAME PORT SCRIPT -> prints "RPS P99_MS"
run_wrk() {
  local name=$1 port=$2 script=$TMP/$3.lua
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$script" "http://127.0.0.1:$port/" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "http://127.0.0.1:$port/" \
    >"$TMP/$name.wrk"
  cat "$TMP/$name.wrk" >&2
  python3 - "$TMP/$name.wrk" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
if re.search(r"Non-2xx or 3xx responses", text) or re.search(r"Socket errors", text):
    sys.exit("wrk saw errors:\n" + text)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
print(f"{rps:.0f} {p99_ms:.3f}")
PY
}

log "baseline: axum hello-world, POST / ($DURATION, $CONNECTIONS connections, $THREADS wrk threads)"
read -r BASE_RPS BASE_P99 < <(run_wrk hello "$HELLO_PORT" finished)
log "taskgate: signed DescribeSnapshotTask of a finished task ($DURATION, $CONNECTIONS connections, $THREADS wrk threads)"
read -r TG_RPS TG_P99 < <(run_wrk taskgate "$TG_PORT" finished)
log "taskgate: signed DescribeSnapshotTask of an unknown task ($DURATION, $CONNECTIONS connections, $THREADS wrk threads)"
read -r UNKNOWN_RPS UNKNOWN_P99 < <(run_wrk taskgate-unknown "$TG_PORT" unknown)

# Every answer should have been OK (the finished task) or the authenticated InvalidParameter
# (the unknown one), none rate-limited or failed.
CODES=$(python3 - "$TG_PORT" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
for line in text.splitlines():
    if line.startswith("taskgate_requests_total{") and "DescribeSnapshotTask" in line:
        code = re.search(r'code="([^"]*)"', line)
        print(f"  {code.group(1) if code else '?'}: {line.rsplit(None, 1)[1]}")
PY
)

ratio() { python3 -c "print(f'{$1 / $BASE_RPS:.2f}')"; }
cat <<EOF

gateway benchmark (loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, after a $WARMUP warm-up)
  hello_baseline   $BASE_RPS req/s   p99 $BASE_P99 ms
  taskgate         $TG_RPS req/s   p99 $TG_P99 ms   (signed DescribeSnapshotTask of a finished task, SQLite)
  ratio            $(ratio "$TG_RPS") of the baseline's rate (target >= 0.50)
  taskgate         $UNKNOWN_RPS req/s   p99 $UNKNOWN_P99 ms   (the same for an unknown task: a database read each)
  ratio            $(ratio "$UNKNOWN_RPS") of the baseline's rate
taskgate answers by code (from /metrics):
$CODES
EOF
