"""Bounds of tiw rooms and tasks (issue #12): ids outside int64, paged log reads, room and
request quotas, picture bombs, snapshot work limits, and SIGTERM during a render."""

from __future__ import annotations

import json
import signal
import time

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tiw.v20190919 import models

from callback_receiver import CallbackReceiver
from conftest import Sdk
from room_client import Room, stroke, usersig
from support import MAIN_SDK_APP, USERSIG_KEY
from test_tiw_snapshot import create, describe, fetch, wait_finished

# Small limits, so each is reached with a few requests.
TIGHT = {"room_max_ops": 12, "room_max_bytes": 4096, "room_max_request_bytes": 2048, "room_max_ops_per_request": 5,
         "room_log_page_ops": 2, "room_log_page_max_ops": 3, "snapshot_max_marks": 3,
         "picture_max_pixels": 1000 * 1000}
# The engine's grace period for running tasks at SIGTERM (app.rs SHUTDOWN_GRACE).
SHUTDOWN_GRACE = 10.0
_rooms = iter(range(200_000, 300_000))


@pytest.fixture(scope="module")
def tight(start_server):
    return start_server(tiw=TIGHT)


@pytest.fixture
def room(tight) -> Room:
    return Room(tight.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY)


def socket_url(server, room: Room, user: str = "alice") -> str:
    base = f"{server.base_url.replace('http', 'ws')}/whiteboard/v1/rooms/{room.sdk_app_id}/{room.room_id}/ws"
    return f"{base}?user_id={user}&user_sig={usersig(USERSIG_KEY, room.sdk_app_id, user)}"


# ---- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("room_id", [9223372036854775808, 18446744073709551615, 0])
def test_room_ids_above_i64_max_are_refused(tight, room_id):
    big = Room(tight.base_url, MAIN_SDK_APP, room_id, USERSIG_KEY)
    for response in (big.post(stroke("s", 0.5)), requests.get(big.url + "/ops", headers=big.headers, timeout=30)):
        assert response.status_code == 400
        assert "RoomId must be an integer between 1 and 9223372036854775807" in response.json()["error"]


def test_room_ids_on_both_sides_of_i64_max_keep_separate_logs(tight):
    top = Room(tight.base_url, MAIN_SDK_APP, 9223372036854775807, USERSIG_KEY)
    before = len(top.log())
    assert Room(tight.base_url, MAIN_SDK_APP, 9223372036854775808, USERSIG_KEY).post(stroke("s", 0.5)).status_code == 400
    assert len(top.log()) == before


def test_sdk_app_id_above_i64_max_is_invalid_parameter_naming_it(tight):
    request = models.DescribeSnapshotTaskRequest()
    request.TaskID, request.SdkAppId = "t", 9223372036854775808
    with pytest.raises(TencentCloudSDKException) as error:
        Sdk(tight).tiw().DescribeSnapshotTask(request)
    assert error.value.code == "InvalidParameter" and "SdkAppId" in error.value.message


# ---- log reads and quotas ---------------------------------------------------------------------------


def test_log_reads_are_paged(room):
    room.send(*(stroke(f"s{i}", 0.1 * i) for i in range(5)))
    first = room.page()
    assert ([op["seq"] for op in first["ops"]], first["next_after"], first["more"]) == ([1, 2], 2, True)
    last = room.page(after=3, limit=100)
    assert ([op["seq"] for op in last["ops"]], last["next_after"], last["more"]) == ([4, 5], 5, False), \
        "a limit above room_log_page_max_ops is lowered to it"
    assert [op["id"] for op in room.log()] == [f"s{i}" for i in range(5)]


def test_websocket_sends_the_log_in_pages_then_live_operations(tight, room):
    import websocket

    room.send(*(stroke(f"s{i}", 0.1 * i) for i in range(5)))
    client = websocket.create_connection(socket_url(tight, room), timeout=30)
    try:
        frames = []
        while not frames or frames[-1]["more"]:
            frames.append(json.loads(client.recv()))
        assert [f["type"] for f in frames] == ["log"] * 3
        assert [[op["seq"] for op in f["ops"]] for f in frames] == [[1, 2], [3, 4], [5]]
        room.send(stroke("live", 0.9))
        live = json.loads(client.recv())
        assert live["type"] == "ops" and [op["seq"] for op in live["ops"]] == [6]
    finally:
        client.close()


def test_request_over_the_byte_limit_is_refused_with_413(room):
    response = room.post({"op": "text", "id": "t", "at": [0.1, 0.1], "text": "x" * 3000, "size": 0.05, "color": "#000000"})
    assert response.status_code == 413
    assert "tiw.room_max_request_bytes" in response.json()["error"]


def test_request_over_the_operation_limit_is_refused_with_413(room):
    response = room.post(*({"op": "clear"} for _ in range(6)))
    assert response.status_code == 413
    assert "tiw.room_max_ops_per_request" in response.json()["error"]
    assert room.log() == []


def test_room_at_its_operation_quota_refuses_appends_with_429(room):
    for _ in range(2):
        room.send(*({"op": "clear"} for _ in range(5)))
    response = room.post(*({"op": "clear"} for _ in range(3)))
    assert response.status_code == 429
    assert "tiw.room_max_ops" in response.json()["error"]
    assert len(room.log()) == 10, "a refused batch stores nothing"
    room.send({"op": "clear"}, {"op": "clear"})


def test_room_at_its_byte_quota_refuses_appends_with_429(room):
    text = {"op": "text", "id": "t", "at": [0.1, 0.1], "text": "y" * 1500, "size": 0.05, "color": "#000000"}
    room.send(text)
    room.send(dict(text, id="u"))
    response = room.post(dict(text, id="v"))
    assert response.status_code == 429
    assert "tiw.room_max_bytes" in response.json()["error"]


def test_websocket_refusals_are_error_frames_naming_the_limit(tight, room):
    import websocket

    client = websocket.create_connection(socket_url(tight, room), timeout=30)
    try:
        assert json.loads(client.recv())["type"] == "log"
        client.send(json.dumps([{"op": "clear"}] * 6))
        error = json.loads(client.recv())
        assert error["type"] == "error" and "tiw.room_max_ops_per_request" in error["message"]
    finally:
        client.close()


def test_websocket_message_over_the_byte_limit_closes_the_socket(tight, room):
    import websocket

    client = websocket.create_connection(socket_url(tight, room), timeout=30)
    try:
        assert json.loads(client.recv())["type"] == "log"
        client.send("x" * 4096)
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                if client.recv() in ("", b""):
                    raise websocket.WebSocketConnectionClosedException("closed")
    finally:
        client.close()
    assert room.log() == []


# ---- snapshots -------------------------------------------------------------------------------------


def test_snapshot_with_too_many_marks_is_refused(tight, room):
    room.send(*({"op": "mark"} for _ in range(4)))
    with pytest.raises(TencentCloudSDKException) as error:
        create(Sdk(tight), room)
    assert error.value.code == "InvalidParameter" and "at most 3" in error.value.message


def test_latest_marks_only_over_the_mark_limit_ends_failed(tight, room):
    room.send(*({"op": "mark", "page": f"p{i}"} for i in range(4)))
    sdk = Sdk(tight)
    answer = wait_finished(sdk, create(sdk, room, SnapshotMode="LatestMarksOnly"))
    assert answer.Result.ErrorCode == "InternalErr" and "more than 3 marks" in answer.Result.ErrorMessage


def test_oversized_picture_draws_placeholder(tight, room, tmp_path):
    import png_pixels
    from image_server import ImageServer

    (tmp_path / "bomb.png").write_bytes(png_pixels.bomb(10000, 10000))
    (tmp_path / "red.png").write_bytes(png_pixels.solid(8, 8, (255, 0, 0)))
    pictures = ImageServer(tmp_path).start()
    try:
        room.send({"op": "image", "id": "i", "url": pictures.url("red.png"), "rect": [0.0, 0.0, 0.5, 1.0]},
                  {"op": "image", "id": "j", "url": pictures.url("bomb.png"), "rect": [0.5, 0.0, 0.5, 1.0]},
                  {"op": "mark"})
        sdk = Sdk(tight)
        task_id = create(sdk, room, Whiteboard={"Width": 160, "Height": 90})
        answer = wait_finished(sdk, task_id)
    finally:
        pictures.stop()
    assert answer.Result.ErrorCode == "OK"
    image = png_pixels.decode(fetch(tight, answer.Result.Snapshots[0]))
    assert png_pixels.pixel(image, 40, 45)[:3] == (255, 0, 0), "a picture within the limits is drawn"
    assert png_pixels.pixel(image, 120, 45)[:3] != (0, 0, 0), "the bomb is a placeholder, not decoded"
    log = tight.log_path.read_text(errors="replace")
    assert task_id in log and "10000x10000 pixels exceed" in log


# ---- heavy rooms: time budget and SIGTERM ------------------------------------------------------------


def heavy_room(server, room_id: int, strokes: int = 24, marks: int = 8) -> Room:
    """Strokes of 10000 points each (the per-stroke maximum) under several marks: seconds of
    rendering at 2560x1440."""
    room = Room(server.base_url, MAIN_SDK_APP, room_id, USERSIG_KEY)
    for s in range(strokes):
        points = [[(i % 1000) / 1000, ((i * 7 + s * 13) % 1000) / 1000] for i in range(10000)]
        room.send({"op": "stroke", "id": f"h{s}", "points": points, "color": "#203040", "width": 0.02},
                  *([{"op": "mark"}] if s % (strokes // marks) == 0 else []))
    return room


def test_snapshot_over_its_time_budget_ends_failed(start_server):
    server = start_server(tiw={"snapshot_time_budget_secs": 1})
    room = heavy_room(server, next(_rooms))
    sdk = Sdk(server)
    started = time.monotonic()
    answer = wait_finished(sdk, create(sdk, room, Whiteboard={"Width": 2560, "Height": 1440}))
    assert answer.Result.ErrorCode == "InternalErr"
    assert "time budget of 1 seconds" in answer.Result.ErrorMessage
    assert time.monotonic() - started < 15


def test_sigterm_during_render_stops_within_grace_and_task_resumes(start_server):
    receiver = CallbackReceiver()
    try:
        first = start_server()
        # About three times the grace period of rendering on a debug build.
        room = heavy_room(first, next(_rooms), marks=24)
        sdk = Sdk(first)
        task_id = create(sdk, room, Whiteboard={"Width": 2560, "Height": 1440}, CallbackURL=receiver.url)
        time.sleep(1.0)
        assert describe(sdk, task_id).Status == "Running", "the render is still going when SIGTERM comes"
        started = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        status = first.proc.wait(SHUTDOWN_GRACE + 10)
        stopped_in = time.monotonic() - started
        assert status == 0 and stopped_in < SHUTDOWN_GRACE + 5, f"exited {status} after {stopped_in:.1f}s"
        assert not receiver.matching(lambda b: b["EventData"]["TaskID"] == task_id), "no callback before it finished"
        second = start_server(config=first.config, workdir=first.workdir)
        answer = wait_finished(Sdk(second), task_id)
        assert answer.Result.ErrorCode == "OK" and answer.Result.Total == 24
        receiver.wait_until(lambda b: b["EventData"]["TaskID"] == task_id, f"for {task_id}")
        time.sleep(1.0)
        assert len(receiver.matching(lambda b: b["EventData"]["TaskID"] == task_id)) == 1
    finally:
        receiver.close()
