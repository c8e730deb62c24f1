"""Every refusal taskgate can answer for an action is a common error code or one Tencent documents
for that very action, not merely for its product.

The per-action lists are Tencent's own, in machine-readable form: each action's doc comment in
the official Go SDK's `client.go` lists its possible error codes (`// 可能返回的错误码:`);
`tests/fixtures/action_error_codes.json` holds them for the served actions with the release and
commit they were read from (tccli's api.json and the Python SDK carry no per-action list).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import definitions
import support
from support import EXPIRED, MAIN_APP_ID, MAIN_SDK_APP, OTHER_SDK_APP, TCSS_ONLY, UNKNOWN_TASK_ID, Cred
from test_conformance import COMMON_ERROR_CODES

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "action_error_codes.json"
DOCUMENTED: dict[str, set[str]] = {k: set(v) for k, v in json.loads(SOURCE.read_text(encoding="utf-8"))["actions"].items()}
# An account with tiw alone, so that tcss has an account that has not enabled it.
TIW_ONLY = Cred("100000000004", "AKIDtaskgateTiwOnly00000000000000004", "tiw-only-secret-key-00000000000004")
TIW_ONLY_SDK_APP = 1400000004


@pytest.fixture(scope="module")
def server(start_server):
    config = support.base_config("unused", "unused")
    config["accounts"].append({"uin": TIW_ONLY.uin, "services": ["tiw"],
                               "credentials": [{"secret_id": TIW_ONLY.secret_id, "secret_key": TIW_ONLY.secret_key}],
                               "sdk_apps": [{"sdk_app_id": TIW_ONLY_SDK_APP, "secret_key": "tiw-only-usersig-key"}]})
    return start_server(accounts=config["accounts"])


def _required(service: str, action: str) -> dict:
    return definitions.required_params(service, definitions.input_members(service, action))


def _without_service(service: str) -> Cred:
    return TIW_ONLY if service == "tcss" else TCSS_ONLY


# Refusals every action can meet, generated for each served action: (name, credential, parameters).
def _generic(service: str, action: str) -> list[tuple[str, Cred, dict]]:
    required = _required(service, action)
    cases = [
        ("expired", EXPIRED, required),
        ("not-enabled", _without_service(service), required),
        ("unknown-member", support.MAIN, {**required, "NoSuchMember": 1}),
    ]
    cases += [(f"missing-{name}", support.MAIN, {k: v for k, v in required.items() if k != name}) for name in required]
    if "SdkAppId" in required:
        cases.append(("foreign-sdk-app", support.MAIN, {**required, "SdkAppId": OTHER_SDK_APP}))
    return cases


GENERIC = [pytest.param(service, action, cred, params, id=f"{action}.{name}")
           for service, action in definitions.served() for name, cred, params in _generic(service, action)]

_ROOM = {"SdkAppId": MAIN_SDK_APP, "RoomId": 7001}
_BOARD = {"Whiteboard": {"Width": 320, "Height": 180}}
_PUSH = {**_ROOM, "PushUserId": "u1", "PushUserSig": "sig"}
# Each action's own refusals, with the inputs the product suites drive them with:
# (action, parameters, the code taskgate answers).
SPECIFIC = [
    ("CreateSnapshotTask", {**_ROOM, **_BOARD, "COS": {"Uin": 100000000002, "Region": "ap-guangzhou",
                                                      "Bucket": f"snap-{MAIN_APP_ID}"}}, "UnauthorizedOperation"),
    ("CreateSnapshotTask", {**_ROOM, **_BOARD, "COS": {"Uin": 100000000001, "Region": "ap-guangzhou",
                                                      "Bucket": "somebody-elses-bucket"}}, "UnauthorizedOperation"),
    ("CreateSnapshotTask", {**_ROOM, "Whiteboard": {"Width": 4000, "Height": 180}}, "InvalidParameterValue"),
    ("CreateSnapshotTask", {**_ROOM, **_BOARD, "SnapshotMode": "SomeMarks"}, "InvalidParameterValue"),
    ("CreateSnapshotTask", {**_ROOM, **_BOARD, "RoomId": 0}, "InvalidParameter"),
    ("DescribeSnapshotTask", {"SdkAppId": MAIN_SDK_APP, "TaskID": UNKNOWN_TASK_ID}, "InvalidParameter"),
    ("StartWhiteboardPush", {**_PUSH, "AutoStopTimeout": 1}, "InvalidParameter.RecordParameter"),
    ("StartWhiteboardPush", {**_PUSH, "VideoFPS": 31}, "InvalidParameter.RecordParameter"),
    ("StartWhiteboardPush", {**_PUSH, "ExtraData": "anything"}, "InvalidParameter.InvalidExtra"),
    ("StartWhiteboardPush", {**_PUSH, "TRTCEnterRoomMode": "Party"}, "InvalidParameterValue"),
    ("StopWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": "nosuchtask"}, "InvalidParameter.TaskNotFound"),
    ("DescribeWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": "nosuchtask"}, "InvalidParameter.TaskNotFound"),
    ("SetWhiteboardPushCallback", {"SdkAppId": MAIN_SDK_APP, "Callback": "ftp://example.com/x"},
     "InvalidParameter.CallbackAddressFormatError"),
    ("SetWhiteboardPushCallbackKey", {"SdkAppId": MAIN_SDK_APP, "CallbackKey": "k" * 65}, "InvalidParameter"),
    ("CreateTranscode", {"SdkAppId": MAIN_SDK_APP, "Url": "not a url"}, "InvalidParameter.TranscodeParameter"),
    ("DescribeTranscode", {"SdkAppId": MAIN_SDK_APP, "TaskId": "nosuchtask"}, "InvalidParameter.TaskNotFound"),
    ("DescribeTranscodeByUrl", {"SdkAppId": MAIN_SDK_APP, "Url": "http://127.0.0.1:9/never.pdf"},
     "InvalidParameter.TaskNotFound"),
    ("SetTranscodeCallback", {"SdkAppId": MAIN_SDK_APP, "Callback": "ftp://example.com/x"},
     "InvalidParameter.CallbackAddressFormatError"),
    ("SetTranscodeCallbackKey", {"SdkAppId": MAIN_SDK_APP, "CallbackKey": "k" * 65}, "InvalidParameter"),
    ("DescribeAssetHostList", {"Filters": [{"Name": "NoSuchFilter", "Values": ["x"]}]}, "InvalidParameter"),
    ("DescribeAssetContainerList", {"Filters": [{"Name": "Colour", "Values": ["red"]}]}, "InvalidParameter"),
    ("DescribeAssetImageList", {"By": "ImageName", "Order": "sideways"}, "InvalidParameterValue"),
    ("DescribeImage", {"Filters": [{"Name": "no-such-filter", "Values": ["x"]}]}, "InvalidParameterValue.InvalidFilter"),
    ("DescribeImage", {"Limit": 101}, "InvalidParameterValue.InvaildPageParam"),
    ("DescribeCustomImageTask", {"Filters": [{"Name": "no-such-filter", "Values": ["x"]}]}, "InvalidParameter"),
    ("ImportCustomImage", {"ImageName": "bad name!", "Architecture": "x86_64", "OsType": "CentOS", "OsVersion": "7",
                           "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}]}, "InvalidParameterValue"),
]


def _allowed(service: str, action: str) -> set[str]:
    return COMMON_ERROR_CODES | DOCUMENTED[f"{service}.{action}"]


def test_every_served_action_has_a_documented_list():
    assert {f"{service}.{action}" for service, action in definitions.served()} <= set(DOCUMENTED)


def test_every_served_action_has_its_own_refusals_driven():
    driven = {action for action, _, _ in SPECIFIC}
    # Actions whose only refusals are the generated ones (accounts, members) or need state
    # (CreateRefreshTask's OperationDenied: test_a_second_unfinished_refresh_is_documented…).
    generic_only = {"DescribeWhiteboardPushCallback", "DescribeTranscodeCallback", "DescribeAssetSummary", "DescribeRefreshTask",
                    "DescribeUnfinishRefreshTask", "CreateRefreshTask", "DescribeImportImageOs"}
    assert {action for _, action in definitions.served()} - driven == generic_only


@pytest.mark.parametrize("service,action,cred,params", GENERIC)
def test_a_generic_refusal_is_common_or_documented_for_the_action(api, service, action, cred, params):
    code = support.error_code(api.tc3(action, params, cred=cred))
    assert code is not None, "expected a refusal"
    assert code in _allowed(service, action), f"{code} is not documented for {action}"


@pytest.mark.parametrize("action,params,code", SPECIFIC, ids=[f"{a}.{c}" for a, _, c in SPECIFIC])
def test_an_actions_own_refusal_is_common_or_documented_for_it(api, action, params, code):
    service = support.ACTIONS[action][0]
    support.error(api.tc3(action, params), code)
    assert code in _allowed(service, action), f"{code} is not documented for {action}"


def test_a_duplicate_image_name_is_documented_for_import_custom_image(api):
    image = {"ImageName": "twice", "Architecture": "x86_64", "OsType": "CentOS", "OsVersion": "7",
             "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}]}
    support.ok(api.tc3("ImportCustomImage", image))
    support.error(api.tc3("ImportCustomImage", image), "InvalidParameterValue.ImageNameDuplicate")
    assert "InvalidParameterValue.ImageNameDuplicate" in DOCUMENTED["ecm.ImportCustomImage"]


def test_a_second_unfinished_refresh_is_documented_for_create_refresh_task():
    # Driven by test_tcss_refresh.py (a gated Docker keeps the first refresh unfinished).
    assert "OperationDenied" in DOCUMENTED["tcss.CreateRefreshTask"]
