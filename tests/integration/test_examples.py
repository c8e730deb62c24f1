"""Every example Tencent ships in tccli's `examples.json` for an action taskgate serves, replayed
through a real server: the example's own request (its parameters as the example writes them, POST
JSON or GET `&Name=Value` lines), and its answer compared with the example's shape and the
action's definition.

Examples name Tencent's own SdkAppIds, tasks, buckets and images. `SUBSTITUTIONS` maps each of
those, per service, to the test account's own (a task of the same action family created first,
a bucket of the account's APPID, the same image path on a local image server), so that every
example runs its success path. An example whose answer is an error expects that same code.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests

import definitions
import support
import tc_sign
from documents import make_pdf
from fake_docker import FakeDocker
from image_server import ImageServer, make_image
from room_client import usersig
from support import MAIN, MAIN_APP_ID, MAIN_SDK_APP, USERSIG_KEY

DEADLINE = 60.0
S3_REGION = "ap-test"
S3_ENDPOINT = os.environ.get("TASKGATE_TEST_S3_ENDPOINT")
CLUSTER_ID = "cls-examples"

# Served actions that tccli ships no example for; none today. Listed, never skipped silently.
WITHOUT_EXAMPLES: set[tuple[str, str]] = set()


def _cases():
    for service, action in definitions.served():
        for index, example in enumerate(definitions.examples(service, action)):
            yield pytest.param(service, action, index, id=f"{action}.{index}")


CASES = list(_cases())


@dataclass
class State:
    """What the examples presume exists, created on demand through the API itself."""

    api: support.Api
    images: ImageServer
    receiver_url: str
    pushes: list[str] = field(default_factory=list)

    def call(self, action: str, params: dict) -> dict:
        return support.ok(self.api.tc3(action, params))

    def bucket(self) -> str:
        """A fresh S3 bucket of the main account (its APPID suffix)."""
        if not S3_ENDPOINT:
            pytest.fail("CreateSnapshotTask's example stores in a COS bucket: set TASKGATE_TEST_S3_ENDPOINT")
        name = f"examples-{uuid.uuid4().hex[:12]}-{MAIN_APP_ID}"
        assert requests.put(f"{S3_ENDPOINT}/{name}", timeout=30).status_code == 200
        return name

    def snapshot_task(self) -> str:
        params = {"SdkAppId": MAIN_SDK_APP, "RoomId": 12345, "Whiteboard": {"Width": 320, "Height": 180}}
        return self.call("CreateSnapshotTask", params)["TaskID"]

    def push(self, user_sig: str | None = None) -> str:
        user = f"tic_push_user_examples_{uuid.uuid4().hex[:8]}"
        params = {"SdkAppId": MAIN_SDK_APP, "RoomId": 1203, "PushUserId": user,
                  "PushUserSig": user_sig or usersig(USERSIG_KEY, MAIN_SDK_APP, user),
                  "Whiteboard": {"Width": 320, "Height": 180}}
        task_id = self.call("StartWhiteboardPush", params)["TaskId"]
        self.pushes.append(task_id)
        return task_id

    def failed_push(self) -> str:
        """A push whose IM login was refused (an invalid UserSig), once it has ended."""
        task_id = self.push(user_sig="not-a-usersig")
        until = time.monotonic() + DEADLINE
        while "Error" not in support._envelope(self.describe_push(task_id)):
            assert time.monotonic() < until, f"push {task_id} never failed"
            time.sleep(0.1)
        return task_id

    def describe_push(self, task_id: str):
        return self.api.tc3("DescribeWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": task_id})

    def transcode_task(self) -> str:
        """A finished transcode of a small PDF: DescribeTranscode's examples show finished tasks."""
        task_id = self.call("CreateTranscode", {"SdkAppId": MAIN_SDK_APP, "Url": self.images.url("examples/lesson.pdf")})["TaskId"]
        until = time.monotonic() + DEADLINE
        while self.call("DescribeTranscode", {"SdkAppId": MAIN_SDK_APP, "TaskId": task_id})["Status"] != "FINISHED":
            assert time.monotonic() < until, f"transcode {task_id} never finished"
            time.sleep(0.2)
        return task_id

    def import_task(self) -> int:
        params = {"ImageName": f"examples-{uuid.uuid4().hex[:8]}", "Architecture": "x86_64", "OsType": "CentOS",
                  "OsVersion": "7.6", "ImageUrls": [{"ImageFile": self.images.url("examples/disk.qcow2")}]}
        return self.call("ImportCustomImage", params)["TaskId"]

    def refresh_task(self) -> int:
        self.no_unfinished_refresh()
        return self.call("CreateRefreshTask", {})["TaskId"]

    def no_unfinished_refresh(self) -> None:
        """The account's refresh, if any, has ended: one unfinished refresh at a time."""
        until = time.monotonic() + DEADLINE
        while self.call("DescribeUnfinishRefreshTask", {})["TaskStatus"] not in ("Task_NoExist", "Task_Finish", "Task_Error"):
            assert time.monotonic() < until, "a refresh stayed unfinished"
            time.sleep(0.1)

    def image_url(self, example_url: str) -> str:
        """The example's COS object path, on the local image server."""
        return self.images.url(example_url.split("/", 3)[3])


# service -> action ("*": every action of the service) -> parameter path -> its replacement, a
# function of the state, the example's value and the example's parameters. Each entry replaces
# something of Tencent's own accounts that the example names.
SUBSTITUTIONS = {
    "tiw": {
        "*": {
            "SdkAppId": lambda s, v, p: MAIN_SDK_APP,                              # 1400000001, 1400123480…
            # usersig_of_<tic_push_user_1203_141551>: a UserSig of the example's PushUserId, our key
            "PushUserSig": lambda s, v, p: usersig(USERSIG_KEY, MAIN_SDK_APP, p["PushUserId"]),
        },
        "CreateSnapshotTask": {
            "COS.Uin": lambda s, v, p: int(MAIN.uin),                              # 130001358
            "COS.Bucket": lambda s, v, p: s.bucket(),                              # test-123070000
            "COS.Region": lambda s, v, p: S3_REGION,                               # ap-guangzhou
            "CallbackURL": lambda s, v, p: s.receiver_url,                         # http://xx/callback
        },
        "SetWhiteboardPushCallback": {"Callback": lambda s, v, p: s.receiver_url},  # https://example.com/…
        "SetTranscodeCallback": {"Callback": lambda s, v, p: s.receiver_url},       # https://example.com/…
        "DescribeTranscode": {"TaskId": lambda s, v, p: s.transcode_task()},       # g0jb42ps49vtebjshilb
        "DescribeSnapshotTask": {"TaskID": lambda s, v, p: s.snapshot_task()},
        "StopWhiteboardPush": {"TaskId": lambda s, v, p: s.push()},
        "DescribeWhiteboardPush": {"TaskId": lambda s, v, p: s.push()},
    },
    "tcss": {
        "DescribeRefreshTask": {"TaskId": lambda s, v, p: type(v)(s.refresh_task())},  # "34702", a string
    },
    "ecm": {
        "DescribeCustomImageTask": {"Filters.0.Values.0": lambda s, v, p: str(s.import_task())},  # task 21
        "ImportCustomImage": {
            "ImageName": lambda s, v, p: f"{v}-{uuid.uuid4().hex[:8]}",            # unique per account
            "ImageUrls.0.ImageFile": lambda s, v, p: s.image_url(v),               # images-1251557890.cos…
            "ImageUrls.1.ImageFile": lambda s, v, p: s.image_url(v),
        },
    },
}
# Examples whose answer is an error, by the task the error needs.
ERROR_SUBSTITUTIONS = {
    ("DescribeWhiteboardPush", "FailedOperation.WhiteboardPush"): {"TaskId": lambda s, v, p: s.failed_push()},
}
# Before an example runs: what its answer presumes besides its parameters.
BEFORE = {
    "CreateRefreshTask": lambda s: s.no_unfinished_refresh(),
    "DescribeUnfinishRefreshTask": lambda s: s.refresh_task(),
}
# After an example succeeded: what the module must undo.
AFTER = {"StartWhiteboardPush": lambda s, answer: s.pushes.append(answer["TaskId"])}


def _get(params: dict, path: str):
    node = params
    for part in path.split("."):
        if isinstance(node, list):
            part = int(part)
            if part >= len(node):
                return KeyError
        elif part not in node:
            return KeyError
        node = node[part]
    return node


def _set(params: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    node = params
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


def substituted(state: State, service: str, action: str, method: str, params: dict, error: str | None) -> dict:
    table = {**SUBSTITUTIONS[service].get("*", {}), **SUBSTITUTIONS[service].get(action, {}),
             **ERROR_SUBSTITUTIONS.get((action, error), {})}
    for path, replace in table.items():
        # A GET example's parameters are flat (`Filters.0.Values.0`), a POST example's nested.
        shown = params.get(path, KeyError) if method == "GET" else _get(params, path)
        if shown is KeyError:
            continue
        value = replace(state, shown, params)
        if method == "GET":
            params[path] = str(value)
        else:
            _set(params, path, value)
    return params


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    directory = tmp_path_factory.mktemp("example-images")
    (directory / "examples").mkdir()
    make_image(directory / "examples", "disk.qcow2", "qcow2", "8M")
    make_pdf(directory / "examples" / "lesson.pdf")
    # The paths of the ImportCustomImage example's two COS objects.
    for name in ("img2019080706034135", "img2018091002367608"):
        (directory / "images" / name).mkdir(parents=True)
        make_image(directory / "images" / name, f"{name}.qcow2", "qcow2", "8M")
    server = ImageServer(directory).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    engine = FakeDocker(tmp_path_factory.mktemp("example-docker") / "docker.sock", "healthy").start()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def server(start_server, docker):
    config = support.base_config("unused", "unused")
    config["accounts"][0]["clusters"] = [{"id": CLUSTER_ID, "name": "examples", "docker_socket": str(docker.socket_path)}]
    overrides = {"accounts": config["accounts"]}
    if S3_ENDPOINT:
        overrides["objects"] = {"s3": [{"region": S3_REGION, "endpoint": S3_ENDPOINT, "access_key_id": "testing",
                                        "secret_access_key": "testing", "path_style": True, "allow_http": True}]}
    return start_server(**overrides)


@pytest.fixture(scope="module")
def state(api, images, receiver):
    state = State(api, images, receiver.url)
    # Asset lists show what a refresh collected: the examples' lists are not empty.
    state.refresh_task()
    state.no_unfinished_refresh()
    yield state
    for task_id in state.pushes:
        state.api.tc3("StopWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": task_id})


def test_every_served_action_without_an_example_is_listed():
    without = {(service, action) for service, action in definitions.served() if not definitions.examples(service, action)}
    assert without == WITHOUT_EXAMPLES


@pytest.mark.parametrize("service,action,index", CASES)
def test_an_example_replayed_answers_with_the_examples_shape(state, service, action, index):
    example = definitions.examples(service, action)[index]
    expected = definitions.example_response(example)
    error = expected.get("Error", {}).get("Code")
    if action in BEFORE:
        BEFORE[action](state)
    method, params = definitions.example_request(example)
    params = substituted(state, service, action, method, params, error)
    if method == "GET":
        response = state.api.tc3(action, method="GET", query=tc_sign.urlencode(list(params.items())))
    else:
        response = state.api.tc3(action, params)
    if error:
        support.error(response, error)
        return
    answer = support.ok(response)
    if action in AFTER:
        AFTER[action](state, answer)
    assert definitions.shape_errors(service, action, answer) == []
    assert definitions.example_shape_errors(service, action, expected, answer) == []
