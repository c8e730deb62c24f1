"""tiw rooms and snapshot tasks through the official Python SDK: operations in, one PNG per
mark out, stored in the public bucket or an S3 bucket, announced by a signed callback."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import uuid

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tiw.v20190919 import models

import support
from room_client import Room, stroke, usersig
from support import MAIN_APP_ID, MAIN_SDK_APP, USERSIG_KEY, Cred

CALLBACK_KEY = "snapshot-callback-key"
S3_REGION = "ap-test"
DEADLINE = 60.0
OTHER = Cred("300000000001", "AKIDtiwOtherAccount0000000000000001", "tiw-other-account-secret-000000001")
OTHER_SDK_APP = 1400555555


# The module's server knows the S3 region when one is configured; the tests that use it ask for the
# `s3_endpoint` fixture, which fails or skips without one.
S3_ENDPOINT = os.environ.get("TASKGATE_TEST_S3_ENDPOINT")


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    config = support.base_config("unused", "unused")
    accounts = config["accounts"]
    accounts[0]["sdk_apps"][0]["callback_key"] = CALLBACK_KEY
    accounts.append({"uin": OTHER.uin, "services": ["tiw"],
                     "credentials": [{"secret_id": OTHER.secret_id, "secret_key": OTHER.secret_key}],
                     "sdk_apps": [{"sdk_app_id": OTHER_SDK_APP, "secret_key": "other-key"}]})
    overrides = {"accounts": accounts}
    if S3_ENDPOINT:
        overrides["objects"] = {"s3": [{"region": S3_REGION, "endpoint": S3_ENDPOINT, "access_key_id": "testing",
                                        "secret_access_key": "testing", "path_style": True, "allow_http": True}]}
    return start_server(**overrides)


_rooms = iter(range(1000, 100_000))


@pytest.fixture
def room(server) -> Room:
    return Room(server.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY)


def create(sdk, room: Room, **fields) -> str:
    request = models.CreateSnapshotTaskRequest()
    request.SdkAppId, request.RoomId = room.sdk_app_id, room.room_id
    board = models.SnapshotWhiteboard()
    board.Width, board.Height, board.InitParams = 1280, 720, '{"ratio":"16:9"}'
    for name, value in fields.pop("Whiteboard", {}).items():
        setattr(board, name, value)
    request.Whiteboard = board
    for name, value in fields.items():
        setattr(request, name, value)
    return sdk.tiw().CreateSnapshotTask(request).TaskID


def describe(sdk, task_id: str, sdk_app_id: int = MAIN_SDK_APP, cred=support.MAIN):
    request = models.DescribeSnapshotTaskRequest()
    request.TaskID, request.SdkAppId = task_id, sdk_app_id
    return sdk.tiw(cred=cred).DescribeSnapshotTask(request)


def wait_finished(sdk, task_id: str):
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = describe(sdk, task_id)
        if answer.Status == "Finished":
            return answer
        assert answer.Status == "Running" and answer.Result is None and answer.FinishTime is None
        assert time.monotonic() < deadline, f"task {task_id} still running"
        time.sleep(0.05)


def fetch(server, url: str) -> bytes:
    """Downloads a returned URL; the test config's `public_url` names no listening server, so
    its base is swapped for the real one (which also proves URLs are built on `public_url`)."""
    public = support.base_config("", "")["public_url"]
    if url.startswith(public):
        url = server.base_url + url[len(public):]
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    return response.content


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_room_operations_need_a_valid_usersig(server):
    room = Room(server.base_url, MAIN_SDK_APP, 1, "not-the-key")
    assert room.post(stroke("s", 0.5)).status_code == 401


def test_invalid_operation_is_rejected_naming_the_field(room):
    response = room.post({"op": "stroke", "id": "s", "points": [[0.1, 1.5]], "color": "#000000", "width": 0.01})
    assert response.status_code == 400
    assert "points" in response.json()["error"]


def test_room_log_returns_operations_in_order(room):
    first = room.send(stroke("a", 0.2), stroke("b", 0.4))
    assert [op["seq"] for op in first] == [1, 2]
    room.send({"op": "mark"})
    assert [(op["seq"], op["op"], op["user_id"]) for op in room.log(after=1)] == [(2, "stroke", "alice"), (3, "mark", "alice")]


def test_snapshot_renders_one_png_per_mark_and_calls_back(sdk, server, room, receiver):
    room.send(stroke("a", 0.3), {"op": "mark"}, {"op": "shape", "id": "r", "kind": "rect", "from": [0.2, 0.5],
                                                  "to": [0.6, 0.8], "color": "#1F3A93", "width": 0.005,
                                                  "fill": "#F5A623"}, {"op": "mark"})
    task_id = create(sdk, room, CallbackURL=receiver.url)
    assert uuid.UUID(task_id)
    answer = wait_finished(sdk, task_id)
    assert (answer.TaskID, answer.Result.ErrorCode, answer.Result.ErrorMessage, answer.Result.Total) == (task_id, "OK", "", 2)
    assert answer.FinishTime >= answer.CreateTime > 0
    pngs = [fetch(server, url) for url in answer.Result.Snapshots]
    assert [png_size(p) for p in pngs] == [(1280, 720), (1280, 720)]
    assert pngs[0] != pngs[1], "the second mark shows the rectangle too"
    event = receiver.wait_until(lambda b: b["EventData"]["TaskID"] == task_id, f"for {task_id}")
    assert event["EventType"] == "SnapshotTaskFinished" and event["SdkAppId"] == MAIN_SDK_APP
    assert event["Sign"] == hashlib.md5(f"{CALLBACK_KEY}{event['ExpireTime']}".encode()).hexdigest()
    assert event["EventData"]["Result"]["Snapshots"] == answer.Result.Snapshots


def test_the_finished_event_carries_describes_answer(sdk, room, receiver):
    room.send({"op": "mark"})
    task_id = create(sdk, room, CallbackURL=receiver.url)
    answer = wait_finished(sdk, task_id)
    event = receiver.wait_until(lambda b: b["EventData"]["TaskID"] == task_id, f"for {task_id}")
    data = event["EventData"]
    assert (data["TaskID"], data["Status"], data["CreateTime"], data["FinishTime"]) == (
        answer.TaskID, answer.Status, answer.CreateTime, answer.FinishTime)
    assert data["Result"] == json.loads(answer.Result.to_json_string())
    assert event["Timestamp"] == answer.FinishTime


def test_latest_marks_only_keeps_the_newest_mark_of_each_page(sdk, room):
    room.send({"op": "mark"}, stroke("a", 0.3), {"op": "mark"},
              {"op": "page", "action": "add", "target": "p2"}, {"op": "page", "action": "switch", "target": "p2"},
              {"op": "mark"})
    answer = wait_finished(sdk, create(sdk, room, SnapshotMode="LatestMarksOnly"))
    assert [url.rsplit("/", 1)[1] for url in answer.Result.Snapshots] == ["3.png", "6.png"]


def test_room_without_marks_finishes_with_total_0(sdk, room):
    room.send(stroke("a", 0.3))
    answer = wait_finished(sdk, create(sdk, room))
    assert (answer.Result.ErrorCode, answer.Result.Total, answer.Result.Snapshots) == ("OK", 0, [])


def test_marks_made_after_creation_are_not_part_of_the_task(sdk, room):
    room.send({"op": "mark"})
    task_id = create(sdk, room)
    room.send({"op": "mark"})
    assert wait_finished(sdk, task_id).Result.Total == 1


def test_ratio_letterboxes_the_board_into_the_output(sdk, server, room):
    room.send({"op": "mark"})
    answer = wait_finished(sdk, create(sdk, room, Whiteboard={"Width": 640, "Height": 640, "InitParams": '{"ratio":"4:3"}'}))
    assert png_size(fetch(server, answer.Result.Snapshots[0])) == (640, 640)


def test_unknown_task_is_invalid_parameter(sdk):
    with pytest.raises(TencentCloudSDKException) as raised:
        describe(sdk, str(uuid.uuid4()))
    assert raised.value.code == "InvalidParameter"


def test_another_accounts_task_looks_unknown(sdk, room):
    task_id = create(sdk, room)
    with pytest.raises(TencentCloudSDKException) as raised:
        describe(sdk, task_id, OTHER_SDK_APP, OTHER)
    assert raised.value.code == "InvalidParameter"


def test_sdk_app_of_another_account_is_unauthorized(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, Room(room.url.split("/whiteboard")[0], OTHER_SDK_APP, 5, "other-key"))
    assert raised.value.code == "UnauthorizedOperation.SdkAppId"


@pytest.mark.parametrize("whiteboard,field", [({"Width": 4000}, "Whiteboard.Width"),
                                              ({"InitParams": '{"ratio":"wide"}'}, "Whiteboard.InitParams"),
                                              ({"InitParams": "not json"}, "Whiteboard.InitParams")])
def test_bad_whiteboard_is_invalid_parameter_value(sdk, room, whiteboard, field):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, Whiteboard=whiteboard)
    assert raised.value.code == "InvalidParameterValue"
    assert field in raised.value.message


def test_unknown_snapshot_mode_is_invalid_parameter_value(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, SnapshotMode="SomeMarks")
    assert raised.value.code == "InvalidParameterValue"


def cos(bucket: str, target_dir: str | None = "snap", region: str = S3_REGION,
        uin: int = 100000000001) -> models.SnapshotCOS:
    target = models.SnapshotCOS()
    target.Uin, target.Region, target.Bucket, target.TargetDir = uin, region, bucket, target_dir
    return target


def s3_bucket(s3_endpoint: str) -> str:
    """A fresh bucket of the main account (its APPID suffix) on the S3 server."""
    return support.s3_bucket(s3_endpoint, "snap", MAIN_APP_ID)


def test_cos_uin_of_another_account_is_unauthorized_operation(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, COS=cos(f"snapbucket-{MAIN_APP_ID}", uin=100000000002))
    assert raised.value.code == "UnauthorizedOperation" and "COS.Uin" in raised.value.message


def test_cos_bucket_of_another_app_id_is_unauthorized_operation(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, COS=cos("images-1250000001"))
    assert raised.value.code == "UnauthorizedOperation" and "COS.Bucket" in raised.value.message


def test_cos_bucket_without_an_owner_in_the_configuration_is_unauthorized_operation(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, COS=cos("somebody-elses-bucket"))
    assert raised.value.code == "UnauthorizedOperation" and "COS.Bucket" in raised.value.message


def test_cos_target_dir_escaping_the_bucket_is_invalid_parameter_value(sdk, room, s3_endpoint):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, COS=cos(f"snapbucket-{MAIN_APP_ID}", "../escape"))
    assert raised.value.code == "InvalidParameterValue" and "COS.TargetDir" in raised.value.message


def test_cos_region_without_endpoint_is_invalid_parameter_value(sdk, room):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(sdk, room, COS=cos(f"snapbucket-{MAIN_APP_ID}", region="ap-nowhere"))
    assert raised.value.code == "InvalidParameterValue" and "COS.Region" in raised.value.message


def test_snapshots_go_to_the_s3_bucket_named_by_cos(sdk, room, s3_endpoint):
    bucket = s3_bucket(s3_endpoint)
    room.send(stroke("a", 0.3), {"op": "mark"})
    answer = wait_finished(sdk, create(sdk, room, COS=cos(bucket)))
    assert answer.Result.ErrorCode == "OK", answer.Result.ErrorMessage
    [url] = answer.Result.Snapshots
    assert url.startswith(f"{s3_endpoint}/{bucket}/snap/{MAIN_SDK_APP}/")
    key = url[len(f"{s3_endpoint}/{bucket}/"):]
    assert png_size(support.s3_get(s3_endpoint, bucket, key)) == (1280, 720)


def test_a_storage_failure_reaches_the_tenant_without_server_details(sdk, room, s3_endpoint):
    missing = f"never-created-{uuid.uuid4().hex[:8]}-{MAIN_APP_ID}"  # owned, but not on the S3 server
    room.send(stroke("a", 0.3), {"op": "mark"})
    answer = wait_finished(sdk, create(sdk, room, COS=cos(missing)))
    assert answer.Result.ErrorCode == "InternalErr"
    message = answer.Result.ErrorMessage
    assert "server problem" in message
    for detail in ("127.0.0.1", missing, "/", "NoSuchBucket"):
        assert detail not in message, message


def test_cos_url_names_the_stored_object_whatever_characters_target_dir_holds(sdk, room, s3_endpoint):
    bucket = s3_bucket(s3_endpoint)
    target_dir = "a%20b/c d#e?f+g&h=i/课件"
    room.send(stroke("a", 0.3), {"op": "mark"})
    answer = wait_finished(sdk, create(sdk, room, COS=cos(bucket, target_dir)))
    assert answer.Result.ErrorCode == "OK", answer.Result.ErrorMessage
    [url] = answer.Result.Snapshots
    [stored] = support.s3_keys(s3_endpoint, bucket)
    assert stored.startswith(f"{target_dir}/{MAIN_SDK_APP}/"), stored
    # The returned URL itself fetches the object (signed, as the bucket is private).
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials("testing", "testing"), "s3", S3_REGION).add_auth(signed)
    fetched = requests.get(url, headers=dict(signed.headers), timeout=30)
    assert fetched.status_code == 200, url
    assert png_size(fetched.content) == (1280, 720)


def test_websocket_clients_see_each_others_operations(server, room):
    import websocket

    def connect(user: str):
        sig = usersig(USERSIG_KEY, room.sdk_app_id, user)
        url = f"{server.base_url.replace('http', 'ws')}/whiteboard/v1/rooms/{room.sdk_app_id}/{room.room_id}/ws"
        return websocket.create_connection(f"{url}?user_id={user}&user_sig={sig}", timeout=30)

    room.send(stroke("before", 0.1))
    alice, bob = connect("alice"), connect("bob")
    try:
        for client in (alice, bob):
            first = json.loads(client.recv())
            assert first["type"] == "log" and [op["id"] for op in first["ops"]] == ["before"]
        alice.send(json.dumps(stroke("live", 0.6)))
        seen = json.loads(bob.recv())
        assert seen["type"] == "ops" and [(op["id"], op["user_id"]) for op in seen["ops"]] == [("live", "alice")]
        assert [op["id"] for op in room.log()] == ["before", "live"]
    finally:
        alice.close()
        bob.close()


def test_image_operation_draws_the_fetched_picture(sdk, server, room, tmp_path):
    import png_pixels
    from image_server import ImageServer

    (tmp_path / "red.png").write_bytes(png_pixels.solid(8, 8, (255, 0, 0)))
    pictures = ImageServer(tmp_path).start()
    try:
        room.send({"op": "image", "id": "i", "url": pictures.url("red.png"), "rect": [0.0, 0.0, 0.5, 1.0]},
                  {"op": "image", "id": "j", "url": pictures.url("missing.png"), "rect": [0.5, 0.0, 0.5, 1.0]},
                  {"op": "mark"})
        answer = wait_finished(sdk, create(sdk, room, Whiteboard={"Width": 160, "Height": 90}))
    finally:
        pictures.stop()
    assert answer.Result.ErrorCode == "OK"
    image = png_pixels.decode(fetch(server, answer.Result.Snapshots[0]))
    assert png_pixels.pixel(image, 40, 45)[:3] == (255, 0, 0), "the picture fills its rect"
    assert png_pixels.pixel(image, 120, 45)[:3] != (255, 0, 0), "a picture that cannot be fetched is a placeholder"
