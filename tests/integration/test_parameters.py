"""Typed request parsing (JSON body, flattened query and form) and request size limits."""

import time

import pytest

import support
import tc_sign
from support import MAIN, MAIN_SDK_APP, UNKNOWN_TASK_ID

SNAP = "DescribeSnapshotTask"
IMG = "DescribeCustomImageTask"
TASK_21 = {"Filters": [{"Name": "task-id", "Values": ["21"]}]}


# ---- DescribeSnapshotTask fields ---------------------------------------------------------------


def test_unknown_snapshot_task_is_invalid_parameter(api):
    support.error(api.tc3(SNAP, {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP}), "InvalidParameter")


def test_missing_sdk_app_id_is_missing_parameter_naming_it(api):
    err = support.error(api.tc3(SNAP, {"TaskID": UNKNOWN_TASK_ID}), "MissingParameter")
    assert "SdkAppId" in err["Message"]


def test_missing_task_id_is_missing_parameter_naming_it(api):
    err = support.error(api.tc3(SNAP, {"SdkAppId": MAIN_SDK_APP}), "MissingParameter")
    assert "TaskID" in err["Message"]


def test_string_for_integer_field_is_invalid_parameter_naming_it(api):
    err = support.error(api.tc3(SNAP, {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": "abc"}), "InvalidParameter")
    assert "SdkAppId" in err["Message"]


def test_flattened_non_numeric_integer_is_invalid_parameter_naming_it(api):
    resp = api.tc3(SNAP, method="GET", query=f"TaskID={UNKNOWN_TASK_ID}&SdkAppId=abc")
    err = support.error(resp, "InvalidParameter")
    assert "SdkAppId" in err["Message"]


def test_unknown_field_is_unknown_parameter_naming_it(api):
    resp = api.tc3(SNAP, {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP, "Bogus": 1})
    err = support.error(resp, "UnknownParameter")
    assert "Bogus" in err["Message"]


def test_flattened_unknown_field_is_unknown_parameter_naming_it(api):
    resp = api.tc3(SNAP, method="GET", query=f"TaskID={UNKNOWN_TASK_ID}&SdkAppId={MAIN_SDK_APP}&Bogus=1")
    err = support.error(resp, "UnknownParameter")
    assert "Bogus" in err["Message"]


def test_unknown_whiteboard_push_is_task_not_found(api):
    resp = api.tc3("DescribeWhiteboardPush", {"SdkAppId": MAIN_SDK_APP, "TaskId": "0c69baivvc3lp8t4f80b"})
    support.error(resp, "InvalidParameter.TaskNotFound")


# One request per served action that decodes fully, and its answer: success (None) or the error
# the action's handler gives, which it reaches only after the parameters (ClientToken among them) decoded.
CLIENT_TOKEN_CASES: dict[str, tuple[dict, str | None]] = {
    "CreateSnapshotTask": ({"Whiteboard": {"Width": 1280, "Height": 720}, "SdkAppId": MAIN_SDK_APP, "RoomId": 31},
                           None),
    "DescribeSnapshotTask": ({"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP}, "InvalidParameter"),
    "StartWhiteboardPush": ({"SdkAppId": MAIN_SDK_APP, "RoomId": 31, "PushUserId": "tic_push_user_31",
                             "PushUserSig": "not-a-usersig", "AutoStopTimeout": 1}, "InvalidParameter.RecordParameter"),
    "StopWhiteboardPush": ({"SdkAppId": MAIN_SDK_APP, "TaskId": "t"}, "InvalidParameter.TaskNotFound"),
    "DescribeWhiteboardPush": ({"SdkAppId": MAIN_SDK_APP, "TaskId": "t"}, "InvalidParameter.TaskNotFound"),
    "SetWhiteboardPushCallback": ({"SdkAppId": support.MAIN_SDK_APP_2, "Callback": ""}, None),
    "SetWhiteboardPushCallbackKey": ({"SdkAppId": support.MAIN_SDK_APP_2, "CallbackKey": ""}, None),
    "DescribeWhiteboardPushCallback": ({"SdkAppId": MAIN_SDK_APP}, None),
    "CreateTranscode": ({"SdkAppId": MAIN_SDK_APP, "Url": "http://127.0.0.1:9/client-token.pdf"}, None),
    "DescribeTranscode": ({"SdkAppId": MAIN_SDK_APP, "TaskId": "t"}, "InvalidParameter.TaskNotFound"),
    "DescribeTranscodeByUrl": ({"SdkAppId": MAIN_SDK_APP, "Url": "http://127.0.0.1:9/never.pdf"},
                               "InvalidParameter.TaskNotFound"),
    "SetTranscodeCallback": ({"SdkAppId": support.MAIN_SDK_APP_2, "Callback": ""}, None),
    "SetTranscodeCallbackKey": ({"SdkAppId": support.MAIN_SDK_APP_2, "CallbackKey": ""}, None),
    "DescribeTranscodeCallback": ({"SdkAppId": MAIN_SDK_APP}, None),
    "CreateRefreshTask": ({}, None),
    "DescribeUnfinishRefreshTask": ({}, None),
    "DescribeRefreshTask": ({"TaskId": 1}, None),
    "DescribeAssetSummary": ({}, None),
    "DescribeAssetHostList": ({}, None),
    "DescribeAssetContainerList": ({}, None),
    "DescribeAssetImageList": ({}, None),
    "ImportCustomImage": ({"ImageName": "client-token", "Architecture": "x86_64", "OsType": "Debian",
                           "OsVersion": "12", "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/none.raw"}]}, None),
    "DescribeCustomImageTask": (TASK_21, None),
    "DescribeImage": ({}, None),
    "DescribeImportImageOs": ({}, None),
}


@pytest.mark.parametrize("action", sorted(support.ACTIONS))
def test_client_token_is_accepted_by_every_action(api, action):
    if action not in CLIENT_TOKEN_CASES:
        pytest.fail(f"{action} is served but has no ClientToken case: add one to CLIENT_TOKEN_CASES")
    params, expected = CLIENT_TOKEN_CASES[action]
    resp = api.tc3(action, {**params, "ClientToken": f"ct-every-action-{action}"})
    if expected is None:
        support.ok(resp)
    else:
        err = support.error(resp, expected)
        assert "ClientToken" not in err["Message"], err


def test_every_client_token_case_is_a_served_action():
    assert set(CLIENT_TOKEN_CASES) <= set(support.ACTIONS)


# ---- DescribeCustomImageTask Filters ------------------------------------------------------------


def test_filters_are_required(api):
    err = support.error(api.tc3(IMG, {}), "MissingParameter")
    assert "Filters" in err["Message"]


def test_unknown_filter_name_is_invalid_parameter(api):
    support.error(api.tc3(IMG, {"Filters": [{"Name": "colour", "Values": ["red"]}]}), "InvalidParameter")


def test_no_tasks_is_an_empty_set(api):
    inner = support.ok(api.tc3(IMG, TASK_21))
    assert inner["ImageTaskSet"] == []
    assert inner["TotalCount"] == 0


def test_each_documented_filter_name_is_accepted(api):
    for name in ("task-id", "image-id", "image-name"):
        support.ok(api.tc3(IMG, {"Filters": [{"Name": name, "Values": ["x"]}]}))


def test_flattened_query_gives_the_json_answer(api):
    by_json = support.ok(api.tc3(IMG, TASK_21))
    by_query = support.ok(api.tc3(IMG, method="GET", query="Filters.0.Name=task-id&Filters.0.Values.0=21"))
    assert support.without_request_id(by_query) == support.without_request_id(by_json)


def test_flattened_query_values_are_percent_decoded(api):
    # "task%2Did" is "task-id": a server that did not decode would see an unknown filter name.
    # Sent through a raw socket: `requests` would rewrite %2D to "-" after signing.
    query = "Filters.0.Name=task%2Did&Filters.0.Values.0=21"
    headers = tc_sign.tc3_headers(secret_id=MAIN.secret_id, secret_key=MAIN.secret_key, service="ecm",
                                  host=api.host, action=IMG, version="2019-07-19", timestamp=int(time.time()),
                                  method="GET", query=query)
    support.ok(support.raw_http(api.port, "GET", "/?" + query, headers))


# The real texts of the "公共错误码" page's solutions (teco-project/teco-core TCCommonError.swift).
@pytest.mark.parametrize("language,message", [
    ("en-US", "Parameter `Filters.0.Name` input repeated."),
    ("zh-CN", "参数 `Filters.0.Name` 重复输入。"),
])
def test_a_flattened_parameter_given_twice_is_invalid_parameter_input_repeated(api, language, message):
    query = "Filters.0.Name=task-id&Filters.0.Name=image-id&Filters.0.Values.0=21"
    err = support.error(api.tc3(IMG, method="GET", query=query, language=language), "InvalidParameter")
    assert err["Message"] == message


@pytest.mark.parametrize("language,message", [
    ("en-US", "Parameter `Filters` invalid array format, array index must be continuous and starts with 0."),
    ("zh-CN", "参数 `Filters` 是非法是数组格式，数组下标必须是连续的而且从0下标开始。"),
])
def test_flattened_list_indices_with_a_gap_are_invalid_parameter_array_format(api, language, message):
    query = "Filters.1.Name=task-id&Filters.1.Values.0=21"
    err = support.error(api.tc3(IMG, method="GET", query=query, language=language), "InvalidParameter")
    assert err["Message"] == message


def test_flattened_form_body_gives_the_json_answer(api):
    by_json = support.ok(api.tc3(IMG, TASK_21))
    by_form = support.ok(api.v1(IMG, TASK_21, method="POST", sign_method="HmacSHA1"))
    assert support.without_request_id(by_form) == support.without_request_id(by_json)


def test_flattened_missing_filters_is_missing_parameter(api):
    support.error(api.tc3(IMG, method="GET", query=""), "MissingParameter")


# ---- size limits (protocol.md §1) ---------------------------------------------------------------


def _snapshot_params(size: int) -> dict:
    return {"TaskID": "x" * size, "SdkAppId": MAIN_SDK_APP}


def test_tc3_post_over_10_mb_is_request_size_limit_exceeded(api):
    support.error(api.tc3(SNAP, _snapshot_params(10 * 1024 * 1024 + 4096)), "RequestSizeLimitExceeded")


def test_tc3_post_of_2_mb_is_not_size_limited(api):
    assert support.error_code(api.tc3(SNAP, _snapshot_params(2 * 1024 * 1024))) != "RequestSizeLimitExceeded"


def test_v1_post_over_1_mb_is_signature_failure_asking_for_tc3(api):
    # As the real service answers (tencentcloud-sdk-python issues 42 and 68).
    resp = api.v1(SNAP, _snapshot_params(1024 * 1024 + 4096), method="POST", sign_method="HmacSHA256")
    err = support.error(resp, "AuthFailure.SignatureFailure")
    assert "`TC3-HMAC-SHA256`" in err["Message"]  # zh-CN unless the caller asks otherwise


def test_v1_post_of_half_a_mb_is_not_size_limited(api):
    resp = api.v1(SNAP, _snapshot_params(512 * 1024), method="POST", sign_method="HmacSHA256")
    assert support.error_code(resp) != "RequestSizeLimitExceeded"


def test_get_query_over_32_kb_is_request_size_limit_exceeded(api):
    resp = api.tc3(IMG, {"Filters": [{"Name": "image-name", "Values": ["n" * (40 * 1024)]}]}, method="GET")
    support.error(resp, "RequestSizeLimitExceeded")


def test_get_query_of_8_kb_is_not_size_limited(api):
    support.ok(api.tc3(IMG, {"Filters": [{"Name": "image-name", "Values": ["n" * (8 * 1024)]}]}, method="GET"))


# An optional member sent as JSON `null` (the Java SDK's CommonRequest, hand-built bodies) is
# absent, whatever its declared type: list, boolean, integer, string or structure.
@pytest.mark.parametrize("action,params", [
    ("DescribeImage", {"Filters": None, "Limit": None, "Offset": None}),
    ("CreateRefreshTask", {"ClusterIDs": None, "IsSyncListOnly": None}),
    ("DescribeAssetHostList", {"Limit": None, "Offset": None}),
])
def test_an_optional_member_sent_as_null_is_absent(api, action, params):
    resp = api.tc3(action, params)
    # CreateRefreshTask may meet another test's unfinished refresh (OperationDenied): not a
    # parameter error either.
    assert support.error_code(resp) in (None, "OperationDenied"), resp


def test_a_required_member_sent_as_null_is_missing_parameter(api):
    support.error(api.tc3("DescribeSnapshotTask", {"TaskID": None, "SdkAppId": MAIN_SDK_APP}), "MissingParameter")


def test_an_undeclared_member_sent_as_null_is_unknown_parameter(api):
    support.error(api.tc3("DescribeImage", {"NoSuchMember": None}), "UnknownParameter")
