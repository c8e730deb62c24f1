"""tiw whiteboard pushes through the official Python SDK: a room's board as a live HLS stream
checked with ffprobe/ffmpeg, stopped by the user, by idleness or by failures, resumed after a
SIGKILL (its stream in the node-local or the S3 public bucket), announced to a real callback receiver."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tiw.v20190919 import models

import definitions
import support
from callback_receiver import CallbackReceiver
from conftest import Sdk
from room_client import Room, stroke, usersig
from support import MAIN_SDK_APP, USERSIG_KEY, segments

CALLBACK_KEY = "push-callback-key"
DEADLINE = 60.0
WIDTH, HEIGHT, FPS = 640, 360, 15
# Tests lower Tencent's 300 s minimum of AutoStopTimeout.
PUSH_CONFIG = {"push_min_auto_stop_timeout": 2, "push_max_exceptions": 2, "push_max_concurrent": 4}

_rooms = iter(range(5000, 100_000))
_users = iter(range(1, 100_000))


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(tiw=PUSH_CONFIG, engine={"lease_secs": 2, "reap_interval_secs": 1})


@pytest.fixture(scope="module")
def sdk(server, receiver) -> Sdk:
    client = Sdk(server)
    set_callback(client, receiver.url, CALLBACK_KEY)
    return client


@pytest.fixture
def room(server) -> Room:
    return Room(server.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY)


def set_callback(sdk: Sdk, url: str, key: str):
    request = models.SetWhiteboardPushCallbackRequest()
    request.SdkAppId, request.Callback = MAIN_SDK_APP, url
    sdk.tiw().SetWhiteboardPushCallback(request)
    request = models.SetWhiteboardPushCallbackKeyRequest()
    request.SdkAppId, request.CallbackKey = MAIN_SDK_APP, key
    sdk.tiw().SetWhiteboardPushCallbackKey(request)


def start_request(room: Room, **fields) -> models.StartWhiteboardPushRequest:
    user = fields.pop("PushUserId", f"tic_push_user_{room.room_id}_{next(_users)}")
    request = models.StartWhiteboardPushRequest()
    request.SdkAppId, request.RoomId, request.PushUserId = room.sdk_app_id, room.room_id, user
    request.PushUserSig = fields.pop("PushUserSig", usersig(USERSIG_KEY, room.sdk_app_id, user))
    board = models.Whiteboard()
    board.Width, board.Height, board.InitParam = WIDTH, HEIGHT, '{"ratio":"16:9"}'
    request.Whiteboard = board
    request.VideoFPS = FPS
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def start(sdk: Sdk, room: Room, **fields) -> str:
    return sdk.tiw().StartWhiteboardPush(start_request(room, **fields)).TaskId


def describe_raw(server, task_id: str) -> dict:
    api = support.Api(server.base_url)
    try:
        return support.ok(api.tc3("DescribeWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": task_id}))
    finally:
        api.close()


def describe_answer(server, task_id: str) -> dict:
    """The `Response` object, success or error."""
    api = support.Api(server.base_url)
    try:
        return support._envelope(api.tc3("DescribeWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": task_id}))
    finally:
        api.close()


def describe(sdk: Sdk, task_id: str):
    request = models.DescribeWhiteboardPushRequest()
    request.SdkAppId, request.TaskId = MAIN_SDK_APP, task_id
    return sdk.tiw().DescribeWhiteboardPush(request)


def stop(sdk: Sdk, task_id: str):
    request = models.StopWhiteboardPushRequest()
    request.SdkAppId, request.TaskId = MAIN_SDK_APP, task_id
    return sdk.tiw().StopWhiteboardPush(request)


def finish(sdk: Sdk, task_id: str):
    """Stops a push and waits until it has stopped, so it no longer counts as active."""
    stop(sdk, task_id)
    wait_status(sdk, task_id, "STOPPED")


def wait_status(sdk: Sdk, task_id: str, status: str, deadline: float = DEADLINE):
    until = time.monotonic() + deadline
    while (answer := describe(sdk, task_id)).Status != status:
        assert answer.Status in ("PREPARED", "PUSHING"), f"{task_id} is {answer.Status}, not {status}"
        assert time.monotonic() < until, f"{task_id} still {answer.Status}, not {status}"
        time.sleep(0.1)
    return answer


def stream_url(server, task_id: str) -> str:
    """The folder of a push's stream as the node serves it, under the public prefix if any."""
    public = (server.config.get("objects") or {}).get("public")
    prefix = f"{public['prefix']}/" if public else ""
    return f"{server.base_url}/files/{prefix}whiteboard-push/{task_id}"


def playlist_url(server, task_id: str) -> str:
    return f"{stream_url(server, task_id)}/index.m3u8"


def playlist(server, task_id: str) -> str:
    response = requests.get(playlist_url(server, task_id), timeout=10)
    return response.text if response.status_code == 200 else ""


def streamed_seconds(text: str) -> float:
    """Stream time so far: segments already deleted from the live window count too."""
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)) if "MEDIA-SEQUENCE" in text else 0
    listed = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", text)]
    return first * 2.0 + sum(listed)


def wait_segments(server, task_id: str, count: int) -> str:
    until = time.monotonic() + DEADLINE
    while len(segments(text := playlist(server, task_id))) < count:
        assert time.monotonic() < until, f"no {count} segments for {task_id}: {text!r}"
        time.sleep(0.2)
    return text


def last_frame_rgb(server, task_id: str) -> bytes:
    """The newest segment's last frame, decoded by ffmpeg to packed RGB."""
    name = segments(playlist(server, task_id))[-1]
    url = f"{stream_url(server, task_id)}/{name}"
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", url, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, timeout=60, check=True,
    )
    size = WIDTH * HEIGHT * 3
    assert out.stdout and len(out.stdout) % size == 0, len(out.stdout)
    return out.stdout[-size:]


def pixel(rgb: bytes, x: float, y: float) -> tuple[int, int, int]:
    at = (int(y * HEIGHT) * WIDTH + int(x * WIDTH)) * 3
    return rgb[at], rgb[at + 1], rgb[at + 2]


def is_red(p) -> bool:
    return p[0] > 180 and p[1] < 90 and p[2] < 90


def is_white(p) -> bool:
    return min(p) > 220


def events(receiver: CallbackReceiver, task_id: str, event_type: str) -> dict:
    return receiver.wait_until(
        lambda b: b["EventType"] == event_type and b["EventData"]["TaskId"] == task_id, f"{event_type} for {task_id}"
    )


def thick_red_line(op_id: str, y: float) -> dict:
    return {"op": "stroke", "id": op_id, "points": [[0.2, y], [0.8, y]], "color": "#FF0000", "width": 0.05}


# ---- the stream ---------------------------------------------------------------------------------


def test_push_streams_hls_of_the_requested_size_and_rate(sdk, server, room):
    task_id = start(sdk, room)
    assert re.fullmatch(r"[0-9a-v]{20}", task_id), task_id
    wait_status(sdk, task_id, "PUSHING")
    wait_segments(server, task_id, 1)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,r_frame_rate", "-of", "json", playlist_url(server, task_id)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"], stream["r_frame_rate"]) == ("h264", WIDTH, HEIGHT, f"{FPS}/1")
    finish(sdk, task_id)


def test_stream_time_keeps_up_with_the_clock(sdk, server, room):
    task_id = start(sdk, room)
    first = streamed_seconds(wait_segments(server, task_id, 1))
    began = time.monotonic()
    time.sleep(6)
    grown = streamed_seconds(playlist(server, task_id)) - first
    elapsed = time.monotonic() - began
    assert elapsed - 2.5 <= grown <= elapsed + 2.5, f"{grown}s of stream in {elapsed:.1f}s"
    finish(sdk, task_id)


def test_a_stroke_drawn_in_the_room_appears_in_the_video(sdk, server, room):
    task_id = start(sdk, room)
    wait_status(sdk, task_id, "PUSHING")
    wait_segments(server, task_id, 1)
    before = last_frame_rgb(server, task_id)
    assert is_white(pixel(before, 0.5, 0.5)), pixel(before, 0.5, 0.5)
    room.send(thick_red_line("red", 0.5))
    count = len(segments(playlist(server, task_id)))
    wait_segments(server, task_id, count + 2)
    after = last_frame_rgb(server, task_id)
    assert is_red(pixel(after, 0.5, 0.5)), pixel(after, 0.5, 0.5)
    assert is_white(pixel(after, 0.5, 0.2)), "only where the stroke is"
    finish(sdk, task_id)


def test_a_push_on_a_room_with_a_long_log_reaches_pushing_showing_its_final_state(sdk, server, room):
    # 50,000 operations (room checkpoints every 5,000 by default, so the push replays only the
    # tail after the newest): strokes all over the board, then a clear and one red line.
    ops = [stroke(f"s{n}", (n % 90) / 100, "#2040C0") for n in range(49_998)]
    for first in range(0, len(ops), 1000):
        room.send(*ops[first:first + 1000])
    room.send({"op": "clear"}, thick_red_line("red", 0.5))
    assert room.page(after=49_999)["ops"][0]["id"] == "red"
    task_id = start(sdk, room)
    wait_status(sdk, task_id, "PUSHING")
    wait_segments(server, task_id, 1)
    frame = last_frame_rgb(server, task_id)
    assert is_red(pixel(frame, 0.5, 0.5)), pixel(frame, 0.5, 0.5)
    assert is_white(pixel(frame, 0.5, 0.2)), "the clear is replayed: nothing else is drawn"
    finish(sdk, task_id)


# ---- how a push ends ------------------------------------------------------------------------------


def test_stop_ends_the_push_with_user_call_and_calls_back(sdk, server, room, receiver):
    task_id = start(sdk, room)
    pushing = wait_status(sdk, task_id, "PUSHING")
    started = events(receiver, task_id, "WhiteboardPushStarted")
    assert started["Sign"] == hashlib.md5(f"{CALLBACK_KEY}{started['ExpireTime']}".encode()).hexdigest()
    assert started["EventData"]["PushStartTime"] == pushing.PushStartTime > 0
    stop(sdk, task_id)
    answer = wait_status(sdk, task_id, "STOPPED")
    assert (answer.FinishReason, answer.ExceptionCnt, answer.RoomId, answer.GroupId) == ("USER_CALL", 0, room.room_id, str(room.room_id))
    assert answer.PushStopTime >= answer.PushStartTime > 0
    assert answer.IMSyncTime // 1000 in (answer.PushStartTime, answer.PushStartTime + 1)
    assert playlist(server, task_id).rstrip().endswith("#EXT-X-ENDLIST")
    stopped = events(receiver, task_id, "WhiteboardPushStopped")["EventData"]
    assert (stopped["FinishReason"], stopped["PushStopTime"], stopped["ExceptionCnt"]) == ("USER_CALL", answer.PushStopTime, 0)


def test_a_push_stopped_before_any_node_ran_it_is_stopped_user_call_and_calls_back(start_server, receiver):
    one_at_a_time = start_server(tiw=PUSH_CONFIG, concurrency={"tiw.push": 1})
    client = Sdk(one_at_a_time)
    set_callback(client, receiver.url, CALLBACK_KEY)
    first, second = (Room(one_at_a_time.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY) for _ in range(2))
    running = start(client, first)
    wait_status(client, running, "PUSHING")
    waiting = start(client, second)
    assert describe(client, waiting).Status == "PREPARED"
    stop(client, waiting)
    answer = describe(client, waiting)
    assert (answer.Status, answer.FinishReason, answer.PushStartTime) == ("STOPPED", "USER_CALL", 0)
    stopped = events(receiver, waiting, "WhiteboardPushStopped")
    assert stopped["Sign"] == hashlib.md5(f"{CALLBACK_KEY}{stopped['ExpireTime']}".encode()).hexdigest()
    data = stopped["EventData"]
    assert (data["FinishReason"], data["PushStopTime"], data["PushStartTime"]) == ("USER_CALL", answer.PushStopTime, 0)
    finish(client, running)
    assert not receiver.matching(lambda b: b["EventType"] == "WhiteboardPushStarted" and b["EventData"]["TaskId"] == waiting)


def test_describe_returns_exactly_the_seeds_fields(server, sdk, room):
    task_id = start(sdk, room)
    wait_status(sdk, task_id, "PUSHING")
    stop(sdk, task_id)
    wait_status(sdk, task_id, "STOPPED")
    fields = set(describe_raw(server, task_id))
    assert fields == {"FinishReason", "TaskId", "Status", "RoomId", "GroupId", "PushUserId", "PushStartTime",
                      "PushStopTime", "ExceptionCnt", "IMSyncTime", "Backup", "RequestId"}


def test_push_answers_have_the_declared_shape(server, room):
    api = support.Api(server.base_url)
    start_params = json.loads(start_request(room).to_json_string())
    started = support.ok(api.tc3("StartWhiteboardPush", start_params))
    assert definitions.shape_errors("tiw", "StartWhiteboardPush", started) == []
    params = {"SdkAppId": room.sdk_app_id, "TaskId": started["TaskId"]}
    assert definitions.shape_errors("tiw", "DescribeWhiteboardPush", support.ok(api.tc3("DescribeWhiteboardPush", params))) == []
    assert definitions.shape_errors("tiw", "StopWhiteboardPush", support.ok(api.tc3("StopWhiteboardPush", params))) == []


def test_an_idle_room_stops_automatically(sdk, room):
    task_id = start(sdk, room, AutoStopTimeout=2)
    answer = wait_status(sdk, task_id, "STOPPED", deadline=20)
    assert answer.FinishReason == "AUTO"


def test_operations_keep_an_auto_stopping_push_alive(sdk, room):
    task_id = start(sdk, room, AutoStopTimeout=3)
    wait_status(sdk, task_id, "PUSHING")
    for i in range(5):
        room.send(thick_red_line(f"keep{i}", 0.1 + i * 0.1))
        time.sleep(1)
    assert describe(sdk, task_id).Status == "PUSHING", "operations count as activity"
    assert wait_status(sdk, task_id, "STOPPED", deadline=20).FinishReason == "AUTO"


def test_a_killed_encoder_restarts_and_counts_an_exception(sdk, server, room):
    task_id = start(sdk, room)
    wait_status(sdk, task_id, "PUSHING")
    wait_segments(server, task_id, 1)
    subprocess.run(["pkill", "-KILL", "-f", f"whiteboard-push/{task_id}/"], check=True)
    until = time.monotonic() + DEADLINE
    while describe(sdk, task_id).ExceptionCnt < 1:
        assert time.monotonic() < until, "the exception was not counted"
        time.sleep(0.1)
    text = playlist(server, task_id)
    count = len(segments(text))
    wait_segments(server, task_id, count + 1)
    assert "#EXT-X-DISCONTINUITY" in playlist(server, task_id), "the stream continues after a discontinuity"
    answer = describe(sdk, task_id)
    assert (answer.Status, answer.ExceptionCnt) == ("PUSHING", 1)
    finish(sdk, task_id)


def test_a_broken_output_stops_the_push_with_exception(start_server, receiver, room):
    with socket_that_refuses() as port:
        broken = start_server(tiw={**PUSH_CONFIG, "push_rtmp_url": f"rtmp://127.0.0.1:{port}/live/{{stream_id}}"})
        client = Sdk(broken)
        set_callback(client, receiver.url, CALLBACK_KEY)
        room = Room(broken.base_url, MAIN_SDK_APP, room.room_id, USERSIG_KEY)
        task_id = start(client, room)
        answer = wait_status(client, task_id, "STOPPED")
    assert (answer.FinishReason, answer.ExceptionCnt) == ("EXCEPTION", PUSH_CONFIG["push_max_exceptions"])
    stopped = events(receiver, task_id, "WhiteboardPushStopped")["EventData"]
    assert stopped["FinishReason"] == "EXCEPTION" and stopped["Error"]["Code"] == "FailedOperation.Record"
    assert "rtmp" in stopped["Error"]["Message"].lower() or "encoder" in stopped["Error"]["Message"]


def test_an_rtmp_target_receives_the_same_stream(start_server, room, tmp_path):
    with socket_that_refuses() as port:
        received = tmp_path / "received.flv"
        listener = subprocess.Popen(["ffmpeg", "-v", "error", "-listen", "1", "-i", f"rtmp://127.0.0.1:{port}/live/board_1",
                                     "-c", "copy", "-y", str(received)], stdin=subprocess.DEVNULL)
        try:
            relay = start_server(tiw={**PUSH_CONFIG, "push_rtmp_url": f"rtmp://127.0.0.1:{port}/live/{{stream_id}}"})
            client = Sdk(relay)
            room = Room(relay.base_url, MAIN_SDK_APP, room.room_id, USERSIG_KEY)
            task_id = start(client, room, UserDefinedStreamId="board_1")
            wait_status(client, task_id, "PUSHING")
            wait_segments(relay, task_id, 2)
            finish(client, task_id)
            listener.wait(30)
        finally:
            listener.kill()
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,width,height", "-of", "csv=p=0", str(received)],
                           capture_output=True, text=True, timeout=60, check=True)
    assert probe.stdout.strip() == f"h264,{WIDTH},{HEIGHT}"


class socket_that_refuses:
    """A loopback port with nothing listening (bound, then closed)."""

    def __enter__(self) -> int:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


def test_an_invalid_push_usersig_fails_the_push_and_describe_is_failed_operation_whiteboard_push(
    sdk, server, room, receiver
):
    task_id = start(sdk, room, PushUserSig="not-a-usersig")
    until = time.monotonic() + DEADLINE
    while "Status" in (answer := describe_answer(server, task_id)):
        assert answer["Status"] == "PREPARED" and time.monotonic() < until
        time.sleep(0.1)
    # The second DescribeWhiteboardPush example of tccli's examples.json.
    assert answer["Error"]["Code"] == "FailedOperation.WhiteboardPush"
    assert task_id in answer["Error"]["Message"] and "login" in answer["Error"]["Message"]
    stopped = events(receiver, task_id, "WhiteboardPushStopped")["EventData"]
    assert stopped["FinishReason"] == "EXCEPTION" and "login" in stopped["Error"]["Message"]


# ---- resumption -----------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def bucket_objects(request) -> dict:
    """The `[objects]` table of a node: the node-local public bucket, or one in S3 that the node
    serves at `/files` (the test server refuses anonymous reads, so players read through it)."""
    if request.param == "local":
        return {}
    s3_endpoint = request.getfixturevalue("s3_endpoint")
    return support.s3_public_objects(s3_endpoint, base_url="http://127.0.0.1:8080/files")


def test_a_push_survives_sigkill_of_its_server_and_continues_the_same_playlist(
    start_server, room, receiver, bucket_objects
):
    first = start_server(tiw=PUSH_CONFIG, engine={"lease_secs": 2, "reap_interval_secs": 1}, objects=bucket_objects)
    client = Sdk(first)
    set_callback(client, receiver.url, CALLBACK_KEY)
    room = Room(first.base_url, MAIN_SDK_APP, room.room_id, USERSIG_KEY)
    task_id = start(client, room)
    wait_status(client, task_id, "PUSHING")
    before = segments(wait_segments(first, task_id, 2))
    first.kill()
    second = start_server(config=first.config, workdir=first.workdir)
    client = Sdk(second)
    until = time.monotonic() + DEADLINE
    while (answer := describe(client, task_id)).ExceptionCnt < 1 or answer.Status != "PUSHING":
        assert time.monotonic() < until, f"not resumed: {answer}"
        time.sleep(0.2)
    text = wait_segments(second, task_id, len(before) + 2)
    listed = segments(text)
    assert listed[:len(before)] == before, "the stored playlist goes on: its segments first"
    _, after = text.rsplit("#EXT-X-DISCONTINUITY", 1)
    assert segments(after) and not set(segments(after)) & set(before), "then new segments under new names"
    stop(client, task_id)
    assert wait_status(client, task_id, "STOPPED").FinishReason == "USER_CALL"
    stopped = events(receiver, task_id, "WhiteboardPushStopped")["EventData"]
    assert (stopped["FinishReason"], stopped["ExceptionCnt"]) == ("USER_CALL", 1)
    started = receiver.matching(lambda b: b["EventType"] == "WhiteboardPushStarted" and b["EventData"]["TaskId"] == task_id)
    assert len(started) == 1, "the resumed push is the same push: it started once"
    final = playlist(second, task_id)
    assert "#EXT-X-ENDLIST" in final
    listed_seconds = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", final))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", playlist_url(second, task_id)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    frames = int(probe.stdout.strip().splitlines()[0])
    assert frames >= 0.9 * listed_seconds * FPS, f"{frames} frames of {listed_seconds} s: not played through"


# ---- requests --------------------------------------------------------------------------------------


def test_a_user_already_pushing_is_resource_in_use(sdk, room):
    task_id = start(sdk, room, PushUserId="dedicated_user")
    with pytest.raises(TencentCloudSDKException) as error:
        start(sdk, room, PushUserId="dedicated_user")
    assert error.value.code == "ResourceInUse.RecordUserId" and task_id in error.value.message
    finish(sdk, task_id)
    finish(sdk, start(sdk, room, PushUserId="dedicated_user"))


def test_pushes_beyond_the_limit_are_limit_exceeded(sdk, room):
    started = [start(sdk, room) for _ in range(PUSH_CONFIG["push_max_concurrent"])]
    try:
        with pytest.raises(TencentCloudSDKException) as error:
            start(sdk, room)
        assert error.value.code == "LimitExceeded.TaskConcurrency"
    finally:
        for task_id in started:
            stop(sdk, task_id)
    for task_id in started:
        wait_status(sdk, task_id, "STOPPED")


def test_a_backup_push_is_started_and_stopped_with_its_main(sdk, room):
    backup = models.WhiteboardPushBackupParam()
    backup.PushUserId = f"backup_{room.room_id}"
    backup.PushUserSig = usersig(USERSIG_KEY, MAIN_SDK_APP, backup.PushUserId)
    answer = sdk.tiw().StartWhiteboardPush(start_request(room, Backup=backup, AutoManageBackup=True))
    backup_id = json.loads(answer.Backup)["TaskId"]
    wait_status(sdk, backup_id, "PUSHING")
    main = wait_status(sdk, answer.TaskId, "PUSHING")
    assert json.loads(main.Backup)["PushUserId"] == backup.PushUserId
    assert json.loads(stop(sdk, answer.TaskId).Backup)["RequestId"]
    assert wait_status(sdk, backup_id, "STOPPED").FinishReason == "USER_CALL"
    assert wait_status(sdk, answer.TaskId, "STOPPED").FinishReason == "USER_CALL"


@pytest.mark.parametrize("fields, code, named", [
    ({"AutoStopTimeout": 1}, "InvalidParameter.RecordParameter", "AutoStopTimeout"),
    ({"AutoStopTimeout": 259201}, "InvalidParameter.RecordParameter", "AutoStopTimeout"),
    ({"VideoFPS": 31}, "InvalidParameter.RecordParameter", "VideoFPS"),
    ({"VideoBitrate": 2001}, "InvalidParameter.RecordParameter", "VideoBitrate"),
    ({"PushUserId": "u" * 61}, "InvalidParameter.RecordParameter", "PushUserId"),
    ({"UserDefinedStreamId": "bad id!"}, "InvalidParameter.RecordParameter", "UserDefinedStreamId"),
    ({"ExtraData": "anything"}, "InvalidParameter.InvalidExtra", "ExtraData"),
    ({"RoomId": 0}, "InvalidParameterValue", "RoomId"),
    ({"TRTCEnterRoomMode": "Party"}, "InvalidParameterValue", "TRTCEnterRoomMode"),
])
def test_bad_start_parameters_are_refused_naming_the_field(sdk, room, fields, code, named):
    with pytest.raises(TencentCloudSDKException) as error:
        start(sdk, room, **fields)
    assert error.value.code == code and named in error.value.message, (error.value.code, error.value.message)


def test_stopping_an_unknown_push_is_task_not_found(sdk):
    with pytest.raises(TencentCloudSDKException) as error:
        stop(sdk, "0c69baivvc3lp8t4f80b")
    assert error.value.code == "InvalidParameter.TaskNotFound"


def test_stopping_a_stopped_push_is_task_has_already_stopped(sdk, room):
    task_id = start(sdk, room)
    stop(sdk, task_id)
    wait_status(sdk, task_id, "STOPPED")
    with pytest.raises(TencentCloudSDKException) as error:
        stop(sdk, task_id)
    assert error.value.code == "UnsupportedOperation.TaskHasAlreadyStopped"


def test_push_callback_settings_round_trip_and_reject_non_http(sdk, receiver):
    request = models.DescribeWhiteboardPushCallbackRequest()
    request.SdkAppId = MAIN_SDK_APP
    answer = sdk.tiw().DescribeWhiteboardPushCallback(request)
    assert (answer.Callback, answer.CallbackKey) == (receiver.url, CALLBACK_KEY)
    bad = models.SetWhiteboardPushCallbackRequest()
    bad.SdkAppId, bad.Callback = MAIN_SDK_APP, "ftp://example.com/events"
    with pytest.raises(TencentCloudSDKException) as error:
        sdk.tiw().SetWhiteboardPushCallback(bad)
    assert error.value.code == "InvalidParameter.CallbackAddressFormatError"
    assert sdk.tiw().DescribeWhiteboardPushCallback(request).Callback == receiver.url, "nothing changed"
