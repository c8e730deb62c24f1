"""Faults on the API (`/_taskgate/faults`) of `taskgate dev`, seen through the official Python SDK:
codes (known and not), seeded probability, count, latency, the service/action/account filters,
listing and removal, and the rate limit that stays real."""

from __future__ import annotations

import time

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tcss.v20201101 import models as tcss_models

import conftest
from support import Cred

DEV = Cred("100000000001", "AKIDtaskgatedev000000000000000000000", "taskgatedevsecretkey000000000000")
# With --any-credentials any SecretId is an account of its own.
STRANGER = Cred("", "AKIDfaultsstranger0000000000000000000", "any-key")


@pytest.fixture(scope="module")
def dev(start_dev):
    return start_dev("--any-credentials")


@pytest.fixture(autouse=True)
def no_faults(request):
    yield
    if "dev" in request.fixturenames:
        control(request.getfixturevalue("dev"), "DELETE", "faults")


def control(server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{server.base_url}/_taskgate/{path}", timeout=30, **kwargs)


def fault(server, **fields) -> dict:
    answer = control(server, "POST", "faults", json=fields)
    assert answer.status_code == 200, answer.text
    return answer.json()


def describe_image(server, cred: Cred = DEV):
    return conftest.Sdk(server).ecm(cred=cred).DescribeImage(ecm_models.DescribeImageRequest())


def host_list(server, cred: Cred = DEV):
    return conftest.Sdk(server).tcss(cred=cred).DescribeAssetHostList(tcss_models.DescribeAssetHostListRequest())


def refused(call) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as raised:
        call()
    return raised.value


def refused_or_none(call) -> TencentCloudSDKException | None:
    try:
        call()
    except TencentCloudSDKException as e:
        return e
    return None


def code_of(call) -> str | None:
    """The answer's error code, None for a success."""
    error = refused_or_none(call)
    return error.code if error else None


# ---- codes --------------------------------------------------------------------------------------


def test_a_fault_with_a_common_code_answers_it_with_the_real_message(dev):
    tcss = conftest.Sdk(dev).tcss(cred=DEV)
    unfinished = tcss_models.DescribeUnfinishRefreshTaskRequest()
    for _ in range(200):
        real = refused_or_none(lambda: tcss.DescribeUnfinishRefreshTask(unfinished))
        if real is not None and real.code == "RequestLimitExceeded":
            break
    else:
        pytest.fail("the rate limit never answered RequestLimitExceeded")
    fault(dev, service="ecm", action="DescribeImage", error_code="RequestLimitExceeded")
    injected = refused(lambda: describe_image(dev))
    assert (injected.code, injected.message) == ("RequestLimitExceeded", real.message)


def test_an_unknown_code_without_a_message_is_answered_verbatim_with_a_neutral_message(dev):
    fault(dev, error_code="ResourceUnavailable.Whatever")
    injected = refused(lambda: describe_image(dev))
    assert (injected.code, injected.message) == ("ResourceUnavailable.Whatever", "Injected fault: ResourceUnavailable.Whatever.")


def test_a_product_code_and_its_message_are_answered_verbatim(dev):
    fault(dev, error_code="FailedOperation.TaskAlreadyRunning", error_message="已有任务在执行")
    injected = refused(lambda: host_list(dev))
    assert (injected.code, injected.message) == ("FailedOperation.TaskAlreadyRunning", "已有任务在执行")


# ---- probability, count, latency ----------------------------------------------------------------


def test_a_seeded_probability_hits_the_same_calls_on_two_fresh_servers(start_dev):
    def pattern() -> list[bool]:
        server = start_dev(env={"TASKGATE_RATE_LIMIT__PER_SECOND": "0"})  # 40 quick calls: no RequestLimitExceeded
        fault(server, error_code="InternalError", probability=0.5, seed=20261130)
        return [code_of(lambda: describe_image(server)) == "InternalError" for _ in range(40)]

    first, second = pattern(), pattern()
    assert first == second
    assert 10 <= sum(first) <= 30, first


def test_a_counted_fault_answers_its_count_then_the_real_answers(dev):
    fault(dev, error_code="InternalError", count=2)
    codes = [code_of(lambda: describe_image(dev)) for _ in range(4)]
    assert codes == ["InternalError", "InternalError", None, None]


def test_latency_alone_delays_the_real_answer(dev):
    fault(dev, action="DescribeImage", latency_ms=400)
    started = time.monotonic()
    answer = describe_image(dev)
    assert time.monotonic() - started >= 0.4
    assert answer.TotalCount == 0


# ---- filters ------------------------------------------------------------------------------------


def test_a_service_filter_leaves_other_services_alone(dev):
    fault(dev, service="tcss", error_code="InternalError")
    assert code_of(lambda: host_list(dev)) == "InternalError"
    assert describe_image(dev).TotalCount == 0


def test_an_action_filter_leaves_other_actions_alone(dev):
    fault(dev, action="DescribeAssetHostList", error_code="InternalError")
    assert code_of(lambda: host_list(dev)) == "InternalError"
    unfinished = tcss_models.DescribeUnfinishRefreshTaskRequest()
    assert code_of(lambda: conftest.Sdk(dev).tcss(cred=DEV).DescribeUnfinishRefreshTask(unfinished)) is None


def test_an_account_filter_leaves_other_accounts_alone(dev):
    fault(dev, account=DEV.uin, error_code="InternalError")
    assert code_of(lambda: describe_image(dev)) == "InternalError"
    assert describe_image(dev, STRANGER).TotalCount == 0


# ---- listing and removal ------------------------------------------------------------------------


def test_faults_are_listed_in_creation_order_with_their_hit_counts(dev):
    first = fault(dev, service="ecm", error_code="InternalError", count=1)
    second = fault(dev, service="tcss", latency_ms=1, seed=7)
    for _ in range(2):
        code_of(lambda: describe_image(dev))
    host_list(dev)
    listed = control(dev, "GET", "faults").json()["faults"]
    assert [(f["id"], f["hits"], f["expired"]) for f in listed] == [(first["id"], 1, True), (second["id"], 1, False)]
    assert listed[1] | {"hits": 0} == second
    assert second == {"id": second["id"], "service": "tcss", "action": None, "account": None, "probability": 1.0,
                      "error_code": None, "error_message": None, "latency_ms": 1, "count": None, "seed": 7,
                      "hits": 0, "expired": False}


def test_delete_by_id_removes_that_fault_only(dev):
    gone = fault(dev, service="ecm", error_code="InternalError")
    kept = fault(dev, service="tcss", error_code="InternalError")
    assert control(dev, "DELETE", f"faults/{gone['id']}").json() == {"removed": 1}
    assert control(dev, "DELETE", f"faults/{gone['id']}").json() == {"removed": 0}
    assert [f["id"] for f in control(dev, "GET", "faults").json()["faults"]] == [kept["id"]]
    assert describe_image(dev).TotalCount == 0


def test_delete_removes_every_fault(dev):
    fault(dev, service="ecm", error_code="InternalError")
    fault(dev, service="tcss", error_code="InternalError")
    assert control(dev, "DELETE", "faults").json() == {"removed": 2}
    assert control(dev, "GET", "faults").json() == {"faults": []}
    assert describe_image(dev).TotalCount == 0


def test_reset_removes_every_fault(dev):
    fault(dev, error_code="InternalError")
    assert control(dev, "POST", "reset").json()["faults"] == 1
    assert control(dev, "GET", "faults").json() == {"faults": []}
    assert describe_image(dev).TotalCount == 0


# ---- the rate limit stays real ------------------------------------------------------------------


def test_the_rate_limit_still_answers_with_a_fault_on_another_action(dev):
    fault(dev, action="DescribeImage", error_code="InternalError")
    codes = [code_of(lambda: host_list(dev)) for _ in range(60)]
    assert "RequestLimitExceeded" in codes and set(codes) <= {None, "RequestLimitExceeded"}, codes


def test_the_rate_limit_comes_before_a_fault_on_the_same_action(dev):
    fault(dev, action="DescribeAssetHostList", error_code="InternalError")
    codes = [code_of(lambda: host_list(dev)) for _ in range(60)]
    assert "RequestLimitExceeded" in codes and set(codes) == {"InternalError", "RequestLimitExceeded"}, codes


# ---- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, field", [
    ({"error_code": "InternalError", "probability": 1.5}, "probability"),
    ({"error_code": "not a code"}, "error_code"),
    ({"error_code": "InternalError", "service": "cvm"}, "service"),
    ({"error_code": "InternalError", "service": "ecm", "action": "DescribeAssetHostList"}, "action"),
    ({"error_code": "InternalError", "account": "alice"}, "account"),
    ({"error_code": "InternalError", "count": 0}, "count"),
    ({"error_code": "InternalError", "latency_ms": "slow"}, "latency_ms"),
    ({"error_code": "InternalError", "colour": "red"}, "colour"),
    ({"probability": 0.5}, "error_code or latency_ms"),
])
def test_a_bad_field_is_refused_with_400_naming_it(dev, fields, field):
    answer = control(dev, "POST", "faults", json=fields)
    assert answer.status_code == 400 and field in answer.json()["error"], answer.text
    assert control(dev, "GET", "faults").json() == {"faults": []}


def test_faults_beyond_the_maximum_are_refused_with_400(start_dev):
    server = start_dev(env={"TASKGATE_CONTROL__MAX_FAULTS": "2"})
    fault(server, latency_ms=1)
    fault(server, latency_ms=1)
    answer = control(server, "POST", "faults", json={"latency_ms": 1})
    assert answer.status_code == 400 and "2 faults" in answer.json()["error"], answer.text
