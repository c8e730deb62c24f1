"""Shared helpers of the dev-mode suites: the well-known credentials, SDK clients signed with any
credential, control API calls, and the snapshot, room and refresh steps they repeat."""

from __future__ import annotations

import time

import requests
from tencentcloud.tcss.v20201101 import models as tcss_models
from tencentcloud.tiw.v20190919 import models as tiw_models

import conftest
from room_client import Room, stroke
from support import Cred

DEV = Cred("100000000001", "AKIDtaskgatedev000000000000000000000", "taskgatedevsecretkey000000000000")
DEV_SDK_APP = 1400000001
DEV_USERSIG_KEY = "taskgatedevusersigkey"
SEEDED = Cred("300000000002", "AKIDseededaccount000000000000000000002", "seeded-account-secret-key-0000002")
SEEDED_SDK_APP = 1400000002
DEADLINE = 60.0


def sdk_of(server, cred: Cred = DEV) -> conftest.Sdk:
    sdk = conftest.Sdk(server)
    sdk.credential = lambda _=None: conftest.Sdk.credential(sdk, cred)  # every client signs with `cred`
    return sdk


def control(server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{server.base_url}/_taskgate/{path}", timeout=30, **kwargs)


def wait_for(what: str, probe):
    deadline = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def snapshot(server, room: Room, cred: Cred = DEV, **fields) -> str:
    request = tiw_models.CreateSnapshotTaskRequest()
    request.SdkAppId, request.RoomId = room.sdk_app_id, room.room_id
    board = tiw_models.SnapshotWhiteboard()
    board.Width, board.Height, board.InitParams = 640, 360, '{"ratio":"16:9"}'
    request.Whiteboard = board
    for name, value in fields.items():
        setattr(request, name, value)
    return sdk_of(server, cred).tiw().CreateSnapshotTask(request).TaskID


def describe_snapshot(server, task_id: str, sdk_app_id: int = DEV_SDK_APP, cred: Cred = DEV):
    request = tiw_models.DescribeSnapshotTaskRequest()
    request.TaskID, request.SdkAppId = task_id, sdk_app_id
    return sdk_of(server, cred).tiw().DescribeSnapshotTask(request)


def marked_room(server, room_id: int) -> Room:
    room = Room(server.base_url, DEV_SDK_APP, room_id, DEV_USERSIG_KEY)
    room.send(stroke("s1", 0.3), {"op": "mark"})
    return room


def refresh(server, cred: Cred) -> int:
    return sdk_of(server, cred).tcss().CreateRefreshTask(tcss_models.CreateRefreshTaskRequest()).TaskId
