"""Memory of a room user's worst case. Run by bench/room_flood.sh.

1. Flood: one room filled to its quota (`room_max_bytes`, 64 MiB of 10000-point strokes), then
   4 readers of `GET …/ops` page by page and 4 WebSocket joiners reading every `log` frame,
   all at once.
2. Picture bomb: a snapshot of a room showing five 10000x10000 PNGs (a few KB each, 400 MB
   each once decoded).

Peak RSS is the server's VmHWM from /proc; it is reset (clear_refs 5, down to the current RSS)
before each phase. The bomb runs first: memory the allocator keeps after the flood would count
as its peak. The baseline is the idle server's peak in the same run."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import png_pixels  # noqa: E402
import websocket  # noqa: E402
from image_server import ImageServer  # noqa: E402
from room_client import Room, usersig  # noqa: E402
from tiw_server import tiw_server  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.tiw.v20190919 import models, tiw_client  # noqa: E402

BIN = Path(os.environ["TASKGATE_BIN"])
SDK_APP, APP_KEY = 1400000098, "bench-flood-usersig-key"
SECRET_ID, SECRET_KEY = "AKIDbenchFlood00000000000000000000001", "bench-flood-secret"
READERS = JOINERS = 4
MIB = 1 << 20
# What the defaults allow: 8 readers each holding one page of at most 4 MiB of stored JSON about
# five times over (rows, parsed operations, the serialised answer with its buffer growth); the
# pictures are refused from their headers, leaving a render's frames.
FLOOD_BOUND_MIB = 8 * 5 * 4
BOMB_BOUND_MIB = 64


def hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def reset_hwm(pid: int):
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def fill(room: Room, quota: int) -> int:
    """Sends 10000-point strokes, 5 per request (under 1 MiB), until the room refuses; returns
    the operations stored."""
    stored, n = 0, 0
    while True:
        ops = []
        for _ in range(5):
            points = [[round((i % 997) / 997, 4), round(((i * 31 + n) % 991) / 991, 4)] for i in range(10000)]
            ops.append({"op": "stroke", "id": f"s{n}", "points": points, "color": "#203040", "width": 0.004})
            n += 1
        response = room.post(*ops)
        if response.status_code == 429:
            return stored
        assert response.status_code == 200, response.text
        stored += len(ops)
        assert stored * 100_000 < 4 * quota, "the room quota never answered"


def read_pages(room: Room, counts: list):
    counts.append(len(room.log()))


def join(base: str, room: Room, user: str, counts: list):
    url = f"{base.replace('http', 'ws')}/whiteboard/v1/rooms/{SDK_APP}/{room.room_id}/ws"
    client = websocket.create_connection(f"{url}?user_id={user}&user_sig={usersig(APP_KEY, SDK_APP, user)}", timeout=120)
    ops = 0
    try:
        while True:
            frame = json.loads(client.recv())
            ops += len(frame["ops"])
            if not frame.get("more"):
                break
    finally:
        client.close()
    counts.append(ops)


def main():
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-flood-"))
    with tiw_server(work, uin="100000000011", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app=SDK_APP,
                    app_key=APP_KEY, extra_toml="allow_private_callback_targets = true\n[rate_limit]\nper_second = 0") \
            as (proc, base):
        room = Room(base, SDK_APP, 1, APP_KEY)
        room.page(limit=1)
        time.sleep(1)
        baseline = hwm_kib(proc.pid)

        pictures_dir = work / "pictures"
        pictures_dir.mkdir()
        for i in range(5):
            (pictures_dir / f"bomb{i}.png").write_bytes(png_pixels.bomb(10000, 10000))
        size = (pictures_dir / "bomb0.png").stat().st_size
        pictures = ImageServer(pictures_dir).start()
        client = tiw_client.TiwClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-singapore",
                                      ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=base[7:])))
        bomb_room = Room(base, SDK_APP, 2, APP_KEY)
        bomb_room.send(*({"op": "image", "id": f"b{i}", "url": pictures.url(f"bomb{i}.png"),
                          "rect": [0.2 * i, 0.0, 0.2, 1.0]} for i in range(5)), {"op": "mark"})
        reset_hwm(proc.pid)
        request = models.CreateSnapshotTaskRequest()
        request.SdkAppId, request.RoomId = SDK_APP, bomb_room.room_id
        board = models.SnapshotWhiteboard()
        board.Width, board.Height = 1280, 720
        request.Whiteboard = board
        task_id = client.CreateSnapshotTask(request).TaskID
        describe = models.DescribeSnapshotTaskRequest()
        describe.TaskID, describe.SdkAppId = task_id, SDK_APP
        while (answer := client.DescribeSnapshotTask(describe)).Status != "Finished":
            time.sleep(0.1)
        pictures.stop()
        bomb = hwm_kib(proc.pid)
        assert answer.Result.ErrorCode == "OK", answer.Result
        print(f"picture bomb: five {size // 1024} KB PNGs of 10000x10000 (400 MB each decoded) drawn as placeholders")

        started = time.monotonic()
        stored = fill(room, 64 * MIB)
        print(f"flood: {stored} strokes of 10000 points stored before the room quota answered 429 "
              f"({time.monotonic() - started:.0f} s)")
        reset_hwm(proc.pid)
        counts: list[int] = []
        threads = [threading.Thread(target=read_pages, args=(room, counts)) for _ in range(READERS)]
        threads += [threading.Thread(target=join, args=(base, room, f"j{i}", counts)) for i in range(JOINERS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flood = hwm_kib(proc.pid)
        assert counts == [stored] * (READERS + JOINERS) or sorted(counts) == [stored] * (READERS + JOINERS), counts
        print(f"flood: {READERS} paged readers + {JOINERS} joiners read {stored} operations each in "
              f"{time.monotonic() - started:.1f} s")

        print(f"\nidle server peak RSS: {baseline / 1024:.0f} MiB")
        print(f"flood peak RSS:       {flood / 1024:.0f} MiB (+{(flood - baseline) / 1024:.0f} MiB; "
              f"stated bound +{FLOOD_BOUND_MIB} MiB)")
        print(f"picture bomb peak:    {bomb / 1024:.0f} MiB (+{(bomb - baseline) / 1024:.0f} MiB; "
              f"stated bound +{BOMB_BOUND_MIB} MiB)")
        ok = flood - baseline <= FLOOD_BOUND_MIB * 1024 and bomb - baseline <= BOMB_BOUND_MIB * 1024
        print("within bounds" if ok else "OVER BOUND")
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
