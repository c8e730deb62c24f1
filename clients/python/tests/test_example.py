"""How an application's test suite uses taskgate through pytest-taskgate: an image import that fails
with the message a rule sets, and a whiteboard snapshot whose callback lands in an inbox."""

import base64
import hashlib
import hmac
import json
import time
import zlib

import requests
from tencentcloud.ecm.v20190719 import models as ecm
from tencentcloud.tiw.v20190919 import models as tiw

SDK_APP_ID, USER_SIG_KEY = 1400000001, "taskgatedevusersigkey"  # dev mode's well-known SdkAppId


def usersig(key: str, sdk_app_id: int, user_id: str, expire: int = 86400) -> str:
    """Tencent's TLSSigAPIv2 algorithm, for the whiteboard room's HTTP calls."""
    now = int(time.time())
    content = f"TLS.identifier:{user_id}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{now}\nTLS.expire:{expire}\n"
    sig = base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()
    doc = {"TLS.ver": "2.0", "TLS.identifier": user_id, "TLS.sdkappid": sdk_app_id, "TLS.expire": expire,
           "TLS.time": now, "TLS.sig": sig}
    packed = base64.b64encode(zlib.compress(json.dumps(doc, separators=(",", ":")).encode())).decode()
    return packed.translate(str.maketrans("+/=", "*-_"))


def wait_for(probe, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_an_image_import_fails_with_the_message_a_rule_sets(taskgate):
    taskgate.rule(service="ecm", action="ImportCustomImage", outcome="failure",
                  error_code="FailedOperation", error_message="disk is corrupt")
    client = taskgate.client("ecm")
    request = ecm.ImportCustomImageRequest()
    request.ImageName, request.Architecture, request.OsType, request.OsVersion = "app-image", "x86_64", "CentOS", "7"
    request.ImageUrls = [ecm.ImageUrl()]
    request.ImageUrls[0].ImageFile = "http://127.0.0.1:9/disk.qcow2"   # never fetched: the rule decides
    task_id = client.ImportCustomImage(request).TaskId

    describe = ecm.DescribeCustomImageTaskRequest()
    by_task = ecm.Filter()
    by_task.Name, by_task.Values = "task-id", [str(task_id)]
    describe.Filters = [by_task]
    (task,) = wait_for(lambda: [t for t in client.DescribeCustomImageTask(describe).ImageTaskSet
                                if t.State not in ("PENDING", "PROCESSING")])
    assert task.State == "FAILED"
    assert "disk is corrupt" in task.Message


def test_a_snapshot_callback_lands_in_an_inbox(taskgate):
    room = f"{taskgate.endpoint}/whiteboard/v1/rooms/{SDK_APP_ID}/1"
    headers = {"X-User-Id": "teacher", "X-User-Sig": usersig(USER_SIG_KEY, SDK_APP_ID, "teacher")}
    ops = [{"op": "stroke", "id": "s1", "points": [[0.1, 0.3], [0.9, 0.3]], "color": "#E02020", "width": 0.01},
           {"op": "mark"}]
    requests.post(f"{room}/ops", data=json.dumps(ops), headers=headers, timeout=30).raise_for_status()

    inbox = taskgate.inbox("snapshots")
    request = tiw.CreateSnapshotTaskRequest()
    request.SdkAppId, request.RoomId, request.CallbackURL = SDK_APP_ID, 1, inbox.url
    request.Whiteboard = tiw.SnapshotWhiteboard()
    request.Whiteboard.Width, request.Whiteboard.Height = 640, 360
    task_id = taskgate.client("tiw").CreateSnapshotTask(request).TaskID

    (callback,) = inbox.wait(count=1)
    assert callback["json"]["EventType"] == "SnapshotTaskFinished"
    assert callback["json"]["EventData"]["TaskID"] == task_id
