"""Fairness between accounts, through the official Python SDK: one account's callbacks to receivers
that accept and never answer do not delay another account's callback, and one account's hundred
slow imports do not keep another account's import waiting behind them."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tiw.v20190919 import models as tiw_models

import support
from callback_receiver import CallbackReceiver, HangingReceiver
from image_server import make_image
from room_client import Room, stroke
from support import MAIN, MAIN_SDK_APP, USERSIG_KEY, Cred

OTHER = Cred("300000000021", "AKIDfairnessOtherAccount000000000021", "fairness-other-secret-key-000000021")
OTHER_SDK_APP = 1400021021
OTHER_USERSIG_KEY = "fairness-other-usersig-key"
# `[callbacks] max_in_flight_per_account`'s default.
PER_ACCOUNT = 8
DEADLINE = 60.0


@pytest.fixture(scope="module")
def server(start_server):
    config = support.base_config("unused", "unused")
    accounts = config["accounts"]
    accounts.append({"uin": OTHER.uin, "services": ["tiw", "ecm"],
                     "credentials": [{"secret_id": OTHER.secret_id, "secret_key": OTHER.secret_key}],
                     "sdk_apps": [{"sdk_app_id": OTHER_SDK_APP, "secret_key": OTHER_USERSIG_KEY}]})
    return start_server(accounts=accounts)


def wait_for(what: str, probe, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def hanging():
    receivers = [HangingReceiver() for _ in range(4)]
    yield receivers
    for receiver in receivers:
        receiver.close()


def snapshot(sdk, room: Room, cred: Cred, callback_url: str) -> str:
    request = tiw_models.CreateSnapshotTaskRequest()
    request.SdkAppId, request.RoomId, request.CallbackURL = room.sdk_app_id, room.room_id, callback_url
    board = tiw_models.SnapshotWhiteboard()
    board.Width, board.Height, board.InitParams = 320, 180, '{"ratio":"16:9"}'
    request.Whiteboard = board
    return sdk.tiw(cred=cred).CreateSnapshotTask(request).TaskID


def marked_room(server, sdk_app_id: int, key: str, room_id: int) -> Room:
    room = Room(server.base_url, sdk_app_id, room_id, key)
    room.send(stroke("s1", 0.3), {"op": "mark"})
    return room


def test_an_accounts_hanging_callbacks_do_not_delay_another_accounts_callback(server, sdk, hanging):
    flooder = marked_room(server, MAIN_SDK_APP, USERSIG_KEY, 2101)
    for n in range(40):  # ten to each of four hanging destinations: 16 places without the account's cap
        snapshot(sdk, flooder, MAIN, hanging[n % len(hanging)].url)
    wait_for("the flooding account's places to fill", lambda: sum(r.accepted for r in hanging) >= PER_ACCOUNT)

    healthy = CallbackReceiver()
    try:
        started = time.monotonic()
        task_id = snapshot(sdk, marked_room(server, OTHER_SDK_APP, OTHER_USERSIG_KEY, 2102), OTHER, healthy.url)
        healthy.wait_until(lambda body: body["EventData"]["TaskID"] == task_id, "of the other account", deadline=5.0)
        assert time.monotonic() - started < 5.0
        assert sum(r.accepted for r in hanging) == PER_ACCOUNT, "the flooding account holds only its own places"
    finally:
        healthy.close()


class TricklingImageServer:
    """Serves one raw image slowly (64 KiB every 0.1 s), so each import downloads for a while;
    `stop()` ends every download at once."""

    def __init__(self, image: Path):
        self.data = image.read_bytes()
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/{image.name}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket):
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                   b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(self.data))
                for start in range(0, len(self.data), 65536):
                    if self.stopped.wait(0.1):
                        return
                    connection.sendall(self.data[start:start + 65536])
            except OSError:
                return

    def stop(self):
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def trickling(tmp_path):
    server = TricklingImageServer(make_image(tmp_path, "disk.raw", "raw", "1M"))
    yield server
    server.stop()


def import_image(sdk, cred: Cred, name: str, url: str) -> int:
    request = ecm_models.ImportCustomImageRequest()
    request.ImageName, request.Architecture, request.OsType, request.OsVersion = name, "x86_64", "CentOS", "7"
    entry = ecm_models.ImageUrl()
    entry.ImageFile = url
    request.ImageUrls = [entry]
    return sdk.ecm(cred=cred).ImportCustomImage(request).TaskId


def import_states(sdk, cred: Cred, task_ids: list[int]) -> dict[str, str]:
    """Each import's state by image name."""
    request = ecm_models.DescribeCustomImageTaskRequest()
    by_task = ecm_models.Filter()
    by_task.Name, by_task.Values = "task-id", [str(task_id) for task_id in task_ids]
    request.Filters = [by_task]
    return {task.ImageName: task.State for task in sdk.ecm(cred=cred).DescribeCustomImageTask(request).ImageTaskSet}


def test_an_accounts_hundred_slow_imports_do_not_keep_another_accounts_import_waiting(sdk, trickling):
    flood = [import_image(sdk, MAIN, f"flood-{n}", trickling.url) for n in range(100)]
    other = import_image(sdk, OTHER, "other-1", trickling.url)
    wait_for("the other account's import to start",
             lambda: import_states(sdk, OTHER, [other])["other-1"] in ("PROCESSING", "SUCCESS"), deadline=30.0)
    waiting = [name for name, state in import_states(sdk, MAIN, flood).items() if state == "PENDING"]
    assert len(waiting) >= 50, f"started after the flood drained: {len(waiting)} of 100 still waiting"
