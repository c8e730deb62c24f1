"""pytest-taskgate itself: the reset between tests, the keep-state marker, the binary's lookup, the
SDK clients, rules and faults through the control API."""

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models as ecm
from tencentcloud.tcss.v20201101 import models as tcss
from tencentcloud.tiw.v20190919 import models as tiw

from pytest_taskgate import TaskgateError

# Two tests of an inner session: the first leaves a tcss refresh task, the second counts the tasks.
TWO_TESTS = """
import pytest
from tencentcloud.tcss.v20201101 import models

{marker}
def test_first(taskgate):
    taskgate.client("tcss").CreateRefreshTask(models.CreateRefreshTaskRequest())

def test_second(taskgate):
    print("tasks seen:", len(taskgate.control("GET", "tasks").json()["tasks"]))
"""


def test_the_server_is_reset_after_each_test(pytester):
    pytester.makepyfile(TWO_TESTS.format(marker=""))
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*tasks seen: 0*"])


def test_a_test_marked_keep_state_leaves_its_state_to_the_next(pytester):
    pytester.makepyfile(TWO_TESTS.format(marker="@pytest.mark.taskgate_keep_state"))
    result = pytester.runpytest("-s", "--strict-markers")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*tasks seen: 1*"])


def test_tests_that_do_not_use_taskgate_do_not_start_it(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    pytester.runpytest("--taskgate-bin", "/nonexistent/taskgate").assert_outcomes(passed=1)


def test_a_binary_that_does_not_exist_fails_the_test_naming_it(pytester):
    pytester.makepyfile("def test_uses_it(taskgate):\n    pass\n")
    result = pytester.runpytest("--taskgate-bin", "/nonexistent/taskgate")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*/nonexistent/taskgate*"])


def test_the_tiw_client_is_in_ap_singapore_by_default(taskgate):
    request = tiw.DescribeWhiteboardPushCallbackRequest()
    request.SdkAppId = 1400000001
    assert taskgate.client("tiw").DescribeWhiteboardPushCallback(request).Callback == ""


def test_an_unknown_service_is_a_value_error(taskgate):
    with pytest.raises(ValueError, match="cvm"):
        taskgate.client("cvm")


def test_an_inbox_wait_times_out_naming_the_count(taskgate):
    with pytest.raises(TimeoutError, match="0 of 1"):
        taskgate.inbox("nothing-comes").wait(timeout=0.2)


# ---- needs the faults endpoints (POST/GET /_taskgate/faults) ----------------------------------------


def test_a_fault_answers_its_error_code_for_its_count_of_calls(taskgate):
    fault_id = taskgate.fault(service="ecm", action="DescribeImage", error_code="InternalError", count=1)
    client = taskgate.client("ecm")
    with pytest.raises(TencentCloudSDKException) as raised:
        client.DescribeImage(ecm.DescribeImageRequest())
    assert raised.value.code == "InternalError"
    assert client.DescribeImage(ecm.DescribeImageRequest()).TotalCount == 0
    (listed,) = [f for f in taskgate.control("GET", "faults").json()["faults"] if f["id"] == fault_id]
    assert listed["hits"] == 1


def test_reset_removes_the_faults(taskgate):
    taskgate.fault(service="ecm", action="DescribeImage", error_code="InternalError")
    taskgate.reset()
    assert taskgate.client("ecm").DescribeImage(ecm.DescribeImageRequest()).TotalCount == 0


# ---- needs the rules endpoints (POST/GET /_taskgate/rules, POST /_taskgate/tasks/…/finish) ----------


def test_a_refused_rule_raises_with_the_servers_message(taskgate):
    with pytest.raises(TaskgateError) as raised:
        taskgate.rule(service="tcss", action="CreateRefreshTask", mode="sometimes")
    assert raised.value.status == 400 and "sometimes" in raised.value.message


def test_a_manual_rule_holds_the_task_until_it_is_finished(taskgate):
    taskgate.rule(service="tcss", action="CreateRefreshTask", mode="manual")
    client = taskgate.client("tcss")
    task_id = client.CreateRefreshTask(tcss.CreateRefreshTaskRequest()).TaskId
    describe = tcss.DescribeRefreshTaskRequest()
    describe.TaskId = task_id
    time.sleep(0.5)
    assert client.DescribeRefreshTask(describe).TaskStatus in ("Task_New", "Task_Running")
    taskgate.finish("tcss", task_id, "success")
    deadline = time.monotonic() + 30
    while (status := client.DescribeRefreshTask(describe).TaskStatus) in ("Task_New", "Task_Running"):
        assert time.monotonic() < deadline, "the finished task never ended"
        time.sleep(0.1)
    assert status == "Task_Finish"
