"""Snapshot latency and push start time on long whiteboard rooms (issue #20), through the
official Python SDK against a release `taskgate serve` on SQLite; run by bench/replay.sh.

Rooms: N - 22 strokes all over the board, a `clear`, the final scene (20 strokes), a `mark`,
for N = 10,000 and 200,000; the floor is a room holding only the final scene and the mark, so
every snapshot renders the same page. Snapshot latency is CreateSnapshotTask until
DescribeSnapshotTask says Finished (polled every 5 ms), the median of BENCH_RUNS; push start is
StartWhiteboardPush until DescribeWhiteboardPush says PUSHING (the median of BENCH_RUNS, the
rooms taken in turn): on an empty room, on the 200,000 room (whose `clear` an `undo` could still
revert, so the board holds the 199,978 strokes it removed) and on a 200,000 room whose `clear`
is followed by 100 more strokes of its user (UNDO_LIMIT: the `clear` is beyond `undo`, so the
board holds only what is visible)."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from room_client import Room, usersig  # noqa: E402
from tiw_server import tiw_server  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.tiw.v20190919 import models, tiw_client  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# Seconds to let the checkpoint writer catch up after seeding (a debug server needs more).
SETTLE = float(os.environ.get("BENCH_SETTLE", "3"))
SDK_APP, APP_KEY = 1400000098, "bench-replay-usersig-key"
SECRET_ID, SECRET_KEY = "AKIDbenchReplay00000000000000000000001", "bench-replay-secret"
CONFIG = "[tiw]\nroom_max_ops = 300000\nroom_max_bytes = 268435456\n[rate_limit]\nper_second = 100000\n"


def stroke(i: int, x: float, y: float, color: str = "#1F3A93") -> dict:
    return {"op": "stroke", "id": f"s{i}", "points": [[x, y], [x + 0.05, y + 0.02], [x + 0.1, y]],
            "color": color, "width": 0.004}


def final_scene() -> list[dict]:
    return [stroke(1_000_000 + i, 0.1 + (i % 5) * 0.15, 0.1 + (i // 5) * 0.2, "#C02020") for i in range(20)]


# The whiteboard crate's UNDO_LIMIT: edits of a user's that `undo` can reach.
UNDO_LIMIT = 100


def seed(room: Room, n: int, settled: bool = False):
    """N operations; with `settled`, UNDO_LIMIT more strokes after the clear, so `undo` cannot reach it."""
    after = [stroke(2_000_000 + i, 0.9, 0.9) for i in range(UNDO_LIMIT)] if settled else []
    ops = [stroke(i, (i * 37 % 90) / 100, (i * 53 % 90) / 100) for i in range(n - 22 - len(after))]
    ops += [{"op": "clear"}, *after, *final_scene(), {"op": "mark"}]
    for first in range(0, len(ops), 1000):
        room.send(*ops[first:first + 1000])


def snapshot_seconds(client, room: Room) -> float:
    request = models.CreateSnapshotTaskRequest()
    request.SdkAppId, request.RoomId = SDK_APP, room.room_id
    board = models.SnapshotWhiteboard()
    board.Width, board.Height, board.InitParams = 1280, 720, '{"ratio":"16:9"}'
    request.Whiteboard = board
    started = time.monotonic()
    task_id = client.CreateSnapshotTask(request).TaskID
    describe = models.DescribeSnapshotTaskRequest()
    describe.SdkAppId, describe.TaskID = SDK_APP, task_id
    while (answer := client.DescribeSnapshotTask(describe)).Status != "Finished":
        time.sleep(0.005)
    took = time.monotonic() - started
    assert answer.Result.ErrorCode == "OK", answer.Result.ErrorMessage
    assert answer.Result.Total == 1, answer.Result.Total
    return took


_push_users = itertools.count()


def push_start_seconds(client, room: Room) -> float:
    request = models.StartWhiteboardPushRequest()
    request.SdkAppId, request.RoomId = SDK_APP, room.room_id
    # A user of its own each time: the previous push may still be stopping.
    request.PushUserId = f"push_{room.room_id}_{next(_push_users)}"
    request.PushUserSig = usersig(APP_KEY, SDK_APP, request.PushUserId)
    board = models.Whiteboard()
    board.Width, board.Height, board.InitParam = 1280, 720, '{"ratio":"16:9"}'
    request.Whiteboard = board
    started = time.monotonic()
    task_id = client.StartWhiteboardPush(request).TaskId
    describe = models.DescribeWhiteboardPushRequest()
    describe.SdkAppId, describe.TaskId = SDK_APP, task_id
    while client.DescribeWhiteboardPush(describe).Status != "PUSHING":
        time.sleep(0.005)
    took = time.monotonic() - started
    stop = models.StopWhiteboardPushRequest()
    stop.SdkAppId, stop.TaskId = SDK_APP, task_id
    client.StopWhiteboardPush(stop)
    return took


def main():
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-replay-"))
    try:
        measure(work)
    finally:
        # The 200,000-operation room is about 170 MB of SQLite.
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path):
    with tiw_server(work, uin="100000000011", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app=SDK_APP,
                    app_key=APP_KEY, extra_toml=CONFIG) as (_proc, base):
        client = tiw_client.TiwClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-singapore",
                                      ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=base[7:])))
        floor = Room(base, SDK_APP, 1, APP_KEY)
        floor.send(*final_scene(), {"op": "mark"})
        rooms = {}
        for n in (10_000, 200_000):
            rooms[n] = Room(base, SDK_APP, n, APP_KEY)
            began = time.monotonic()
            seed(rooms[n], n)
            print(f"seeded {n} operations in {time.monotonic() - began:.1f} s", flush=True)
        settled = Room(base, SDK_APP, 3, APP_KEY)
        seed(settled, 200_000, settled=True)
        # The checkpoint writer runs after the append that crosses a boundary: let it finish.
        time.sleep(SETTLE)
        print("| room | snapshot p50 | snapshot max | ratio to the floor (p50) |")
        print("|---|---|---|---|")
        floor_runs = [snapshot_seconds(client, floor) for _ in range(RUNS)]
        floor_p50 = statistics.median(floor_runs)
        print(f"| final page alone (floor) | {floor_p50 * 1e3:.0f} ms | {max(floor_runs) * 1e3:.0f} ms | 1.00 |")
        for n, room in rooms.items():
            runs = [snapshot_seconds(client, room) for _ in range(RUNS)]
            p50 = statistics.median(runs)
            print(f"| mark after {n:,} operations | {p50 * 1e3:.0f} ms | {max(runs) * 1e3:.0f} ms | {p50 / floor_p50:.2f} |")
        push_rooms = {
            "empty": Room(base, SDK_APP, 2, APP_KEY),
            "200,000 operations, the clear within undo": rooms[200_000],
            "200,000 operations, the clear beyond undo": settled,
        }
        starts = {name: [] for name in push_rooms}
        for _ in range(RUNS):
            for name, room in push_rooms.items():
                starts[name].append(push_start_seconds(client, room))
        empty_p50 = statistics.median(starts["empty"])
        print("| push room | StartWhiteboardPush → PUSHING p50 | max | ratio to empty (p50) |")
        print("|---|---|---|---|")
        for name, runs in starts.items():
            p50 = statistics.median(runs)
            print(f"| {name} | {p50 * 1e3:.0f} ms | {max(runs) * 1e3:.0f} ms | {p50 / empty_p50:.2f} |", flush=True)


if __name__ == "__main__":
    main()
