"""The official Node SDK (tencentcloud-sdk-nodejs-common CommonClient) through tests/node/call.mjs.
With endpoint 127.0.0.1:PORT it signs with service "127" and the host without its port."""

import pytest

from support import MAIN_SDK_APP, UNKNOWN_TASK_ID, assert_uuid

TASK_21 = {"Filters": [{"Name": "task-id", "Values": ["21"]}]}
TRANSPORTS = pytest.mark.parametrize(
    "transport",
    [
        {"reqMethod": "POST", "signMethod": "TC3-HMAC-SHA256"},
        {"reqMethod": "GET", "signMethod": "TC3-HMAC-SHA256"},
        {"reqMethod": "GET", "signMethod": "HmacSHA256"},
        {"reqMethod": "POST", "signMethod": "HmacSHA1"},
    ],
    ids=["post-tc3", "get-tc3", "get-hmacsha256", "post-hmacsha1"],
)


def answer(result: dict) -> dict:
    assert result["ok"], result
    assert_uuid(result["response"]["RequestId"])
    return result["response"]


@TRANSPORTS
def test_unfinish_refresh_task(node_call, transport):
    resp = answer(node_call("DescribeUnfinishRefreshTask", {}, **transport))
    assert resp["TaskId"] == 0
    assert resp["TaskStatus"] == "Task_NoExist"


@TRANSPORTS
def test_custom_image_task_with_filters(node_call, transport):
    resp = answer(node_call("DescribeCustomImageTask", TASK_21, **transport))
    assert resp["TotalCount"] == 0
    assert resp["ImageTaskSet"] == []


@TRANSPORTS
def test_unknown_snapshot_task_throws_invalid_parameter(node_call, transport):
    result = node_call("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP},
                       region="ap-singapore", **transport)
    assert not result["ok"]
    assert result["code"] == "InvalidParameter", result
    assert_uuid(result["requestId"])


def test_missing_filters_throws_missing_parameter(node_call):
    result = node_call("DescribeCustomImageTask", {})
    assert result["code"] == "MissingParameter", result


def test_english_language_profile_gets_english_messages(node_call):
    result = node_call("DescribeCustomImageTask", {}, language="en-US")
    assert result["code"] == "MissingParameter", result
    assert result["message"].isascii(), result
