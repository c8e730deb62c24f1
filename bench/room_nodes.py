"""Room delivery across nodes. Run by bench/room_nodes.sh.

Two `taskgate serve` processes on one PostgreSQL database (a fresh one), a WebSocket client
joined on node B. Each sample posts one stroke over HTTP and times until B's WebSocket frame
carrying it arrives: posted on node A (NOTIFY after the append commits, B reads the operation
from the store) or on node B itself (the in-process fan-out, the baseline), alternating, in the
same run. Prints p50/p95/max per case and the ratio of the p95s."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import websocket  # noqa: E402
from room_client import Room, stroke, usersig  # noqa: E402
from tiw_server import tiw_server  # noqa: E402

SECRET_ID, SECRET_KEY = "AKIDbenchnodes0000000000000000000000", "benchnodessecret000000000000000000"
SDK_APP, APP_KEY = 1400000077, "bench-nodes-app-key"
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))


def fresh_database(admin_url: str) -> str:
    name = "tg_bench_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return name


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[round((len(sorted_ms) - 1) * p)]


def main():
    admin_url = os.environ.get("TASKGATE_TEST_PG_URL") or sys.exit("needs TASKGATE_TEST_PG_URL (PostgreSQL)")
    name = fresh_database(admin_url)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    account = dict(uin="100000000077", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app=SDK_APP, app_key=APP_KEY)
    extra = f'database_url = "{url}"\n[rate_limit]\nper_second = 0'
    try:
        with ExitStack() as stack:
            work = Path(tempfile.mkdtemp(prefix="tg-bench-nodes-"))
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            (work / "a").mkdir()
            (work / "b").mkdir()
            _, base_a = stack.enter_context(tiw_server(work / "a", **account, extra_toml=extra))
            _, base_b = stack.enter_context(tiw_server(work / "b", **account, extra_toml=extra))
            on_a, on_b = Room(base_a, SDK_APP, 1, APP_KEY), Room(base_b, SDK_APP, 1, APP_KEY)
            ws_url = f"{base_b.replace('http', 'ws')}/whiteboard/v1/rooms/{SDK_APP}/1/ws"
            client = websocket.create_connection(f"{ws_url}?user_id=bob&user_sig={usersig(APP_KEY, SDK_APP, 'bob')}",
                                                 timeout=30)
            json.loads(client.recv())  # the (empty) log
            cases = {"A -> WebSocket on B (NOTIFY)": (on_a, []), "B -> WebSocket on B (same node)": (on_b, [])}
            for i in range(SAMPLES):
                for case, (room, took) in cases.items():
                    op_id = f"s{i}-{len(took)}-{case[0]}"
                    time.sleep(0.01)
                    start = time.perf_counter()
                    room.send(stroke(op_id, 0.5))
                    while not any(op.get("id") == op_id for op in json.loads(client.recv())["ops"]):
                        pass
                    took.append((time.perf_counter() - start) * 1000)
            client.close()
            print(f"{'case':<34} {'samples':>8} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
            p95 = {}
            for case, (_, took) in cases.items():
                took.sort()
                p95[case] = percentile(took, 0.95)
                print(f"{case:<34} {len(took):>8} {percentile(took, 0.5):>9.2f} {p95[case]:>9.2f} {took[-1]:>9.2f}")
            cross, same = p95.values()
            print(f"ratio p95 cross/same: {cross / same:.2f} (the poll it replaces: 1000 ms for a push, none for a WebSocket)")
    finally:
        subprocess.run(["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)


if __name__ == "__main__":
    main()
