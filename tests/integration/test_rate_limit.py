"""Rate limit: GCRA per (account, action), 20/s by default, overridable per action; over the limit
is RequestLimitExceeded inside the usual HTTP 200 envelope."""

import math
import time

import pytest

import support
from support import MAIN, TCSS_ONLY

REFRESH = "DescribeUnfinishRefreshTask"     # limited to 2/s by this module's config
IMG = "DescribeCustomImageTask"             # default limit, 20/s
TASK_21 = {"Filters": [{"Name": "task-id", "Values": ["21"]}]}
PARAMS = {REFRESH: {}, IMG: TASK_21}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(rate_limit={"per_second": 20, "actions": {REFRESH: 2}})


def burst(api, action, n, cred=MAIN):
    """n requests as fast as possible; returns (codes, seconds taken). None = success."""
    start = time.monotonic()
    codes = [support.error_code(api.tc3(action, PARAMS[action], cred=cred)) for _ in range(n)]
    return codes, time.monotonic() - start


def wait_until_allowed(api, action, cred=MAIN, deadline=5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if support.error_code(api.tc3(action, PARAMS[action], cred=cred)) is None:
            return
        time.sleep(0.1)
    pytest.fail(f"{action} still limited after {deadline}s")


def exhaust(api, action, cred=MAIN, limit=200):
    for _ in range(limit):
        if support.error_code(api.tc3(action, PARAMS[action], cred=cred)) == "RequestLimitExceeded":
            return
    pytest.fail(f"{action} never limited in {limit} requests")


def test_over_the_per_action_limit_is_request_limit_exceeded(api):
    wait_until_allowed(api, REFRESH)
    time.sleep(1.0)  # let the bucket refill completely: this is the behaviour under test, not synchronisation
    codes, took = burst(api, REFRESH, 10)
    assert codes[0] is None
    assert set(codes) <= {None, "RequestLimitExceeded"}, codes
    allowed = codes.count(None)
    assert 1 <= allowed <= 2 + math.ceil(took * 2) + 1, (codes, took)


def test_limited_answer_is_the_usual_envelope(api):
    exhaust(api, REFRESH)
    resp = api.tc3(REFRESH, {})
    err = support.error(resp, "RequestLimitExceeded")
    assert err["Message"]


def test_limited_answer_has_the_real_services_text_in_each_language(api):
    # The "公共错误码" page's solution texts (quoted in teco-project/teco-core TCCommonError.swift).
    exhaust(api, REFRESH)
    zh = support.error(api.tc3(REFRESH, {}, language="zh-CN"), "RequestLimitExceeded")
    en = support.error(api.tc3(REFRESH, {}, language="en-US"), "RequestLimitExceeded")
    assert zh["Message"] == "您当前每秒请求次数超过了频率上限，请稍后重试。"
    assert en["Message"] == ("Your current request times in a second exceeds the frequency limit. "
                             "Please reduce the frequency of calls.")


def test_default_limit_is_20_per_second(api):
    wait_until_allowed(api, IMG)
    time.sleep(1.0)
    codes, took = burst(api, IMG, 60)
    allowed = codes.count(None)
    assert set(codes) <= {None, "RequestLimitExceeded"}, codes
    assert 15 <= allowed <= 20 + math.ceil(took * 20) + 1, (allowed, took)


def test_limit_is_per_account(api):
    exhaust(api, REFRESH, cred=MAIN)
    assert support.error_code(api.tc3(REFRESH, {}, cred=TCSS_ONLY)) is None


def test_limit_is_per_action(api):
    exhaust(api, REFRESH)
    # an action nothing else in this module calls: its bucket is full
    resp = api.tc3("DescribeWhiteboardPush", {"SdkAppId": support.MAIN_SDK_APP, "TaskId": "t"})
    support.error(resp, "InvalidParameter.TaskNotFound")


def test_limit_recovers_after_a_second(api):
    exhaust(api, REFRESH)
    time.sleep(1.1)
    support.ok(api.tc3(REFRESH, {}))


def test_python_sdk_reads_the_limit_as_an_api_error(api, sdk):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.tcss.v20201101 import models

    client, request = sdk.tcss(), models.DescribeUnfinishRefreshTaskRequest()
    exhaust(api, REFRESH)
    with pytest.raises(TencentCloudSDKException) as exc:
        client.DescribeUnfinishRefreshTask(request)
    assert exc.value.get_code() == "RequestLimitExceeded"
