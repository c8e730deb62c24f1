"""Test rules (`/_taskgate/rules`) through the official Python SDK on `taskgate dev`: every mode
(real, delay, manual) and outcome (as-run, success, failure) of every task kind, in each product's
real shapes — ecm `FAILED` with `Message`, a tiw snapshot `Finished` with `Result.ErrorCode` and its
callback, tcss `Task_Error` or a host-only `Task_Finish`, a push `STOPPED` with `EXCEPTION` and its
stop event — plus listing, expiry, filters and removal."""

from __future__ import annotations

import time

import pytest
import requests
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tcss.v20201101 import models as tcss_models
from tencentcloud.tiw.v20190919 import models as tiw_models

import conftest
from dev_support import (DEV, DEV_SDK_APP, DEV_USERSIG_KEY, control, describe_snapshot, marked_room, refresh, sdk_of,
                         snapshot, wait_for)
from image_server import ImageServer, make_image
from room_client import usersig


@pytest.fixture(scope="module")
def dev(start_dev):
    return start_dev()


@pytest.fixture(autouse=True)
def no_rules_left(dev):
    yield
    control(dev, "DELETE", "rules")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    make_image(directory, "disk.qcow2", "qcow2", "64M")
    server = ImageServer(directory).start()
    yield server
    server.stop()


def rule(dev, **fields) -> dict:
    response = control(dev, "POST", "rules", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def finish(dev, service: str, task_id, **body):
    return control(dev, "POST", f"tasks/{service}/{task_id}/finish", json=body)


_names = iter(range(1, 10_000))


def import_image(dev, images) -> ecm_models.ImportCustomImageResponse:
    request = ecm_models.ImportCustomImageRequest()
    request.ImageName, request.Architecture, request.OsType, request.OsVersion = (
        f"rules-{next(_names)}", "x86_64", "CentOS", "7")
    url = ecm_models.ImageUrl()
    url.ImageFile = images.url("disk.qcow2")
    request.ImageUrls = [url]
    return sdk_of(dev).ecm().ImportCustomImage(request)


def import_task(dev, task_id: int) -> ecm_models.ImageTask:
    request = ecm_models.DescribeCustomImageTaskRequest()
    task_filter = ecm_models.Filter()
    task_filter.Name, task_filter.Values = "task-id", [str(task_id)]
    request.Filters = [task_filter]
    (task,) = sdk_of(dev).ecm().DescribeCustomImageTask(request).ImageTaskSet
    return task


def import_ended(dev, task_id: int) -> ecm_models.ImageTask:
    return wait_for("the import to end", lambda: (t := import_task(dev, task_id)).State in ("SUCCESS", "FAILED") and t)


def refresh_status(dev, task_id: int) -> str:
    request = tcss_models.DescribeRefreshTaskRequest()
    request.TaskId = task_id
    return sdk_of(dev).tcss().DescribeRefreshTask(request).TaskStatus


def refresh_ended(dev, task_id: int) -> str:
    return wait_for("the refresh to end", lambda: (s := refresh_status(dev, task_id)) in ("Task_Finish", "Task_Error") and s)


def snapshot_finished(dev, task_id: str):
    return wait_for("the snapshot to finish", lambda: (a := describe_snapshot(dev, task_id)).Status == "Finished" and a)


_rooms = iter(range(500, 10_000))


# ---- ecm ----------------------------------------------------------------------------------------------


def test_a_failure_rule_fails_an_import_with_its_message(dev, images):
    rule(dev, service="ecm", action="ImportCustomImage", outcome="failure", error_code="FailedOperation.ImageCorrupt",
         error_message="disk is corrupt")
    task = import_ended(dev, import_image(dev, images).TaskId)
    assert (task.State, task.Message) == ("FAILED", "disk is corrupt")


def test_a_delay_rule_holds_an_import_processing_then_runs_it(dev, images):
    rule(dev, service="ecm", action="ImportCustomImage", mode="delay", delay_ms=1500)
    started = time.monotonic()
    task_id = import_image(dev, images).TaskId
    assert import_task(dev, task_id).State == "PROCESSING"
    assert import_ended(dev, task_id).State == "SUCCESS"
    assert time.monotonic() - started >= 1.5


def test_a_manual_rule_holds_an_import_until_it_is_finished(dev, images):
    rule(dev, service="ecm", action="ImportCustomImage", mode="manual")
    task_id = import_image(dev, images).TaskId
    time.sleep(0.5)
    assert import_task(dev, task_id).State == "PROCESSING"
    answer = finish(dev, "ecm", task_id, outcome="failure", error_code="FailedOperation.Manual", error_message="no")
    assert answer.status_code == 200, answer.text
    assert (import_ended(dev, task_id).State, import_task(dev, task_id).Message) == ("FAILED", "no")


def test_a_forced_success_of_an_import_is_refused_saying_why(dev):
    response = control(dev, "POST", "rules", json={"service": "ecm", "action": "ImportCustomImage", "outcome": "success"})
    assert response.status_code == 400 and "disk" in response.json()["error"]


# ---- tcss ---------------------------------------------------------------------------------------------


def test_a_success_rule_finishes_a_refresh_with_the_host_alone(dev):
    rule(dev, service="tcss", action="CreateRefreshTask", outcome="success")
    assert refresh_ended(dev, refresh(dev, DEV)) == "Task_Finish"
    hosts = sdk_of(dev).tcss().DescribeAssetHostList(tcss_models.DescribeAssetHostListRequest())
    containers = sdk_of(dev).tcss().DescribeAssetContainerList(tcss_models.DescribeAssetContainerListRequest())
    assert (hosts.TotalCount, containers.TotalCount) == (1, 0)


def test_a_failure_rule_ends_a_refresh_in_task_error(dev):
    rule(dev, service="tcss", action="CreateRefreshTask", outcome="failure", error_code="FailedOperation",
         error_message="cluster unreachable")
    assert refresh_ended(dev, refresh(dev, DEV)) == "Task_Error"


def test_a_manual_refresh_runs_as_finished(dev):
    rule(dev, service="tcss", action="CreateRefreshTask", mode="manual")
    task_id = refresh(dev, DEV)
    time.sleep(0.3)
    assert refresh_status(dev, task_id) == "Task_Running"
    assert finish(dev, "tcss", task_id, outcome="success").status_code == 200
    assert refresh_ended(dev, task_id) == "Task_Finish"


# ---- tiw snapshots ------------------------------------------------------------------------------------


def test_a_failure_rule_finishes_a_snapshot_with_its_code_and_callback(dev):
    rule(dev, service="tiw", action="CreateSnapshotTask", outcome="failure", error_code="FailedOperation.Render",
         error_message="forced")
    inbox = f"{dev.base_url}/_taskgate/inbox/forced-snapshot"
    task_id = snapshot(dev, marked_room(dev, next(_rooms)), CallbackURL=inbox)
    answer = snapshot_finished(dev, task_id)
    assert (answer.Result.ErrorCode, answer.Result.ErrorMessage, answer.Result.Total) == (
        "FailedOperation.Render", "forced", 0)
    (event,) = wait_for("the callback", lambda: control(dev, "GET", "inbox/forced-snapshot").json()["requests"])
    assert event["json"]["EventData"]["Result"]["ErrorCode"] == "FailedOperation.Render"


def test_a_delay_rule_keeps_a_snapshot_running_then_renders_it(dev):
    rule(dev, service="tiw", action="CreateSnapshotTask", mode="delay", delay_ms=1000)
    task_id = snapshot(dev, marked_room(dev, next(_rooms)))
    assert describe_snapshot(dev, task_id).Status == "Running"
    answer = snapshot_finished(dev, task_id)
    assert (answer.Result.ErrorCode, answer.Result.Total) == ("OK", 1)


def test_a_manual_snapshot_finished_as_run_renders(dev):
    rule(dev, service="tiw", action="CreateSnapshotTask", mode="manual")
    task_id = snapshot(dev, marked_room(dev, next(_rooms)))
    time.sleep(0.3)
    assert describe_snapshot(dev, task_id).Status == "Running"
    refused = finish(dev, "tiw", task_id, outcome="success")
    assert refused.status_code == 400 and "render" in refused.json()["error"]
    assert finish(dev, "tiw", task_id, outcome="as-run").status_code == 200
    assert snapshot_finished(dev, task_id).Result.Total == 1


# ---- tiw pushes ---------------------------------------------------------------------------------------


def test_a_failure_rule_stops_a_push_with_exception_and_its_stop_event(dev):
    callback = tiw_models.SetWhiteboardPushCallbackRequest()
    callback.SdkAppId, callback.Callback = DEV_SDK_APP, f"{dev.base_url}/_taskgate/inbox/push-events"
    sdk_of(dev).tiw().SetWhiteboardPushCallback(callback)
    rule(dev, service="tiw", action="StartWhiteboardPush", outcome="failure", error_code="FailedOperation.Push",
         error_message="encoder died")
    room = marked_room(dev, next(_rooms))
    request = tiw_models.StartWhiteboardPushRequest()
    user = f"tic_push_user_{room.room_id}"
    request.SdkAppId, request.RoomId, request.PushUserId = DEV_SDK_APP, room.room_id, user
    request.PushUserSig = usersig(DEV_USERSIG_KEY, DEV_SDK_APP, user)
    task_id = sdk_of(dev).tiw().StartWhiteboardPush(request).TaskId

    def stopped():
        describe = tiw_models.DescribeWhiteboardPushRequest()
        describe.SdkAppId, describe.TaskId = DEV_SDK_APP, task_id
        answer = sdk_of(dev).tiw().DescribeWhiteboardPush(describe)
        return answer.Status == "STOPPED" and answer
    answer = wait_for("the push to stop", stopped)
    assert (answer.FinishReason, answer.TaskId) == ("EXCEPTION", task_id)
    events = wait_for("both events", lambda: len(r := control(dev, "GET", "inbox/push-events").json()["requests"]) == 2
                      and r)
    assert sorted(e["json"]["EventType"] for e in events) == ["WhiteboardPushStarted", "WhiteboardPushStopped"]


# ---- rules themselves ---------------------------------------------------------------------------------


def test_a_rule_expires_after_count_tasks_and_lists_its_hits(dev):
    made = rule(dev, service="tcss", action="CreateRefreshTask", outcome="failure", error_code="FailedOperation",
                count=1)
    assert refresh_ended(dev, refresh(dev, DEV)) == "Task_Error"
    assert refresh_ended(dev, refresh(dev, DEV)) == "Task_Finish", "the second refresh runs for real"
    (listed,) = control(dev, "GET", "rules").json()["rules"]
    assert (listed["id"], listed["hits"], listed["count"]) == (made["id"], 1, 1)


def test_a_rule_for_another_account_leaves_this_one_alone(dev):
    rule(dev, service="tcss", action="CreateRefreshTask", account="999999999999", outcome="failure",
         error_code="FailedOperation")
    assert refresh_ended(dev, refresh(dev, DEV)) == "Task_Finish"


def test_rules_are_removed_one_by_one_or_all(dev):
    first = rule(dev, service="tcss", action="CreateRefreshTask", mode="delay", delay_ms=10)
    rule(dev, service="ecm", action="ImportCustomImage", mode="delay", delay_ms=10)
    assert control(dev, "DELETE", f"rules/{first['id']}").json() == {"removed": 1}
    assert control(dev, "DELETE", f"rules/{first['id']}").status_code == 404
    assert [r["action"] for r in control(dev, "GET", "rules").json()["rules"]] == ["ImportCustomImage"]
    assert control(dev, "DELETE", "rules").json() == {"removed": 1}


@pytest.mark.parametrize("body,field", [
    ({"service": "ecm", "action": "DescribeImage"}, "action"),
    ({"service": "tiw", "action": "CreateSnapshotTask", "mode": "delay"}, "delay_ms"),
    ({"service": "tiw", "action": "CreateSnapshotTask", "outcome": "failure"}, "error_code"),
    ({"service": "tiw", "action": "CreateSnapshotTask", "mystery": 1}, "mystery"),
    ({"service": "cvm", "action": "RunInstances"}, "service"),
], ids=["no-task", "delay-without-ms", "failure-without-code", "unknown-member", "unknown-service"])
def test_a_rule_that_cannot_be_obeyed_is_refused_naming_the_field(dev, body, field):
    response = control(dev, "POST", "rules", json=body)
    assert response.status_code == 400 and field in response.json()["error"], response.text


def test_finishing_a_task_that_is_not_held_is_a_conflict(dev):
    task_id = refresh(dev, DEV)
    refresh_ended(dev, task_id)
    assert finish(dev, "tcss", task_id, outcome="success").status_code == 409
    assert finish(dev, "tcss", 987654, outcome="success").status_code == 404


def test_a_reset_removes_every_rule(dev):
    rule(dev, service="tcss", action="CreateRefreshTask", mode="delay", delay_ms=10)
    assert control(dev, "POST", "reset").json()["rules"] == 1
    assert control(dev, "GET", "rules").json()["rules"] == []


def test_a_task_held_by_a_rule_when_the_server_is_killed_finishes_once_after_restart(start_dev, tmp_path):
    data = tmp_path / "data"
    database = {} if conftest.backend() == "sqlite" else {"TASKGATE_DATABASE_URL": conftest.fresh_database_url(tmp_path)}
    # A short lease, so the dead node's task is taken over within seconds.
    database.update(TASKGATE_ENGINE__LEASE_SECS="2", TASKGATE_ENGINE__REAP_INTERVAL_SECS="1")
    first = start_dev("--data-dir", str(data), env=database)
    rule(first, service="tcss", action="CreateRefreshTask", mode="delay", delay_ms=2000)
    task_id = refresh(first, DEV)
    wait_for("the refresh to be held", lambda: refresh_status(first, task_id) == "Task_Running")
    first.kill()  # SIGKILL: no shutdown, the lease is left to expire
    second = start_dev("--data-dir", str(data), env=database)
    assert refresh_ended(second, task_id) == "Task_Finish"
    (task,) = control(second, "GET", "tasks", params={"service": "tcss"}).json()["tasks"]
    assert (task["ids"]["TaskId"], task["state"]) == (task_id, "succeeded")


def metric(dev, name: str, **labels) -> float | None:
    """The value of one series of /metrics, or None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in requests.get(f"{dev.base_url}/metrics", timeout=30).text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.startswith(name + "{") and ",".join(sorted(series[len(name) + 1:-1].split(","))) == wanted:
            return float(value)
    return None


def test_metrics_show_each_accounts_queue_and_each_destinations_undelivered_callbacks(dev, images):
    rule(dev, service="ecm", action="ImportCustomImage", mode="manual")
    for _ in range(6):  # 4 run at once (held), 2 wait
        import_image(dev, images)
    queued = wait_for("the queue gauge", lambda: metric(dev, "taskgate_queue_depth", kind="ecm.import", account=DEV.uin))
    assert queued == 2
    assert metric(dev, "taskgate_queue_oldest_age_seconds", kind="ecm.import", account=DEV.uin) >= 0
    snapshot(dev, marked_room(dev, next(_rooms)), CallbackURL=f"{dev.base_url}/_taskgate/no-such-endpoint")
    pending = wait_for("the outbox gauge", lambda: metric(dev, "taskgate_outbox_pending", destination=dev.base_url))
    assert pending >= 1
    assert metric(dev, "taskgate_outbox_lag_seconds", destination=dev.base_url) >= 0
    control(dev, "POST", "reset")  # the held imports stop
