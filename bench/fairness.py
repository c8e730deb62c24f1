"""Account B's task start latency and callback delivery latency with account A idle and with A
flooding, from the server's own timestamps (`/_taskgate/tasks`, `/_taskgate/callbacks`). Run by
bench/fairness.sh."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from callback_receiver import CallbackReceiver, HangingReceiver  # noqa: E402
from room_client import Room, stroke  # noqa: E402
from list_latency import database_url  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.tiw.v20190919 import models, tiw_client  # noqa: E402

BIN = Path(os.environ["TASKGATE_BIN"])
TOKEN = "bench-fairness-control-token"
ACCOUNTS = {  # name: (uin, secret id, secret key, SdkAppId, UserSig key)
    "A": ("100000000031", "AKIDbenchFairnessFlooder0000000000031", "bench-fairness-a-secret", 1400031031, "key-a"),
    "B": ("100000000032", "AKIDbenchFairnessNeighbour000000000032", "bench-fairness-b-secret", 1400032032, "key-b"),
}
SAMPLES = 20          # B's snapshots per phase, one at a time
FLOOD_TASKS = 200     # A's snapshots queued at the start of the flood, and as many again during it
HANGING = 8           # destinations of A's callbacks, each accepting and never answering
SNAPSHOT_CONCURRENCY, SNAPSHOT_CAP = 4, 3


def config(work: Path, url: str) -> str:
    text = f"""listen = "127.0.0.1:0"
data_dir = "{work / 'data'}"
database_url = "{url}"
allow_private_callback_targets = true
[rate_limit]
per_second = 100000
[control]
token = "{TOKEN}"
[concurrency.tiw]
snapshot = {SNAPSHOT_CONCURRENCY}
[max_running_per_account.tiw]
snapshot = {SNAPSHOT_CAP}
"""
    for uin, secret_id, secret_key, sdk_app, key in ACCOUNTS.values():
        text += f"""[[accounts]]
uin = "{uin}"
services = ["tiw"]
credentials = [{{ secret_id = "{secret_id}", secret_key = "{secret_key}" }}]
sdk_apps = [{{ sdk_app_id = {sdk_app}, secret_key = "{key}" }}]
"""
    return text


class Account:
    def __init__(self, endpoint: str, name: str, room_id: int):
        uin, secret_id, secret_key, self.sdk_app, key = ACCOUNTS[name]
        self.client = tiw_client.TiwClient(credential.Credential(secret_id, secret_key), "ap-singapore",
                                           ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint)))
        self.room = Room(f"http://{endpoint}", self.sdk_app, room_id, key)
        self.room.send(stroke("s1", 0.3), {"op": "mark"})

    def snapshot(self, callback_url: str) -> str:
        request = models.CreateSnapshotTaskRequest()
        request.SdkAppId, request.RoomId, request.CallbackURL = self.sdk_app, self.room.room_id, callback_url
        board = models.SnapshotWhiteboard()
        board.Width, board.Height, board.InitParams = 320, 180, '{"ratio":"16:9"}'
        request.Whiteboard = board
        return self.client.CreateSnapshotTask(request).TaskID


def control(base: str, path: str, **params) -> dict:
    response = requests.get(f"{base}/_taskgate/{path}", params=params, timeout=30,
                            headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return response.json()


def measure(base: str, b: Account, receiver: CallbackReceiver) -> tuple[list[int], list[int]]:
    """B's task start latencies and callback delivery latencies, in ms, over SAMPLES snapshots."""
    starts, deliveries = [], []
    for _ in range(SAMPLES):
        task_id = b.snapshot(receiver.url)
        receiver.wait_until(lambda body: body["EventData"]["TaskID"] == task_id, "of B", deadline=120)
        (task,) = [t for t in control(base, "tasks", service="tiw", account=ACCOUNTS["B"][0])["tasks"]
                   if t["ids"].get("TaskID") == task_id]
        starts.append(task["started_at_ms"] - task["created_at_ms"])
        while True:  # the receiver may have the body before the outbox recorded its answer
            (callback,) = control(base, "callbacks", task_id=task["id"])["callbacks"]
            if callback["delivered_at_ms"] is not None:
                break
            time.sleep(0.01)
        deliveries.append(callback["delivered_at_ms"] - callback["created_at_ms"])
    return starts, deliveries


def p(values: list[int], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def run(backend: str):
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-fairness-"))
    (work / "data").mkdir()
    url = database_url(backend, work)
    (work / "taskgate.toml").write_text(config(work, url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(work / "taskgate.toml")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    hanging = [HangingReceiver() for _ in range(HANGING)]
    receiver = CallbackReceiver()
    stop = threading.Event()
    try:
        line = proc.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"taskgate did not start: {line}")
        endpoint = re.search(r"http://(\S+)", line).group(1)
        base = f"http://{endpoint}"
        a, b = Account(endpoint, "A", 1), Account(endpoint, "B", 2)

        idle = measure(base, b, receiver)

        for n in range(FLOOD_TASKS):
            a.snapshot(hanging[n % HANGING].url)

        def keep_flooding():
            n = 0
            while not stop.is_set() and n < FLOOD_TASKS:
                a.snapshot(hanging[n % HANGING].url)
                n += 1

        flooder = threading.Thread(target=keep_flooding, daemon=True)
        flooder.start()
        flood = measure(base, b, receiver)
        stop.set()
        flooder.join(60)
        queued = len(control(base, "tasks", service="tiw", account=ACCOUNTS["A"][0], state="queued")["tasks"])
        held = sum(len(h.held) for h in hanging)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)
        for h in hanging:
            h.close()
        receiver.close()
        subprocess.run(["rm", "-rf", str(work)], check=False)
        if backend == "postgres":
            subprocess.run(["psql", os.environ["TASKGATE_TEST_PG_URL"], "-qc",
                            f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'], check=True, capture_output=True)

    print(f"\n{backend}, binary {BIN}")
    print(f"tiw.snapshot: concurrency {SNAPSHOT_CONCURRENCY}, max_running_per_account {SNAPSHOT_CAP}; "
          f"A: {2 * FLOOD_TASKS} snapshots whose callbacks go to {HANGING} hanging receivers "
          f"({held} connections held, {queued} of A's tasks still queued at the end)")
    print(f"{'B, ms':<28} {'idle p50':>9} {'idle p95':>9} {'flood p50':>10} {'flood p95':>10} {'ratio p95':>10}")
    for label, i, f in (("task start latency", idle[0], flood[0]), ("callback delivery latency", idle[1], flood[1])):
        ratio = p(f, 95) / max(p(i, 95), 1)
        print(f"{label:<28} {p(i, 50):>9.0f} {p(i, 95):>9.0f} {p(f, 50):>10.0f} {p(f, 95):>10.0f} {ratio:>10.2f}")


def main():
    for backend in ["sqlite"] + (["postgres"] if os.environ.get("TASKGATE_TEST_PG_URL") else []):
        run(backend)
    print("target: ratio <= 2 (a p95 under 1 ms counts as 1 ms)")


if __name__ == "__main__":
    main()
