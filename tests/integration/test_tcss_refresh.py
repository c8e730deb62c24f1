"""tcss asset refresh through the official Python SDK: task states, the one-unfinished rule,
collector failures and the inventory, against fake Docker engines on unix sockets."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

import definitions
import support
from conftest import Sdk
from fake_docker import FakeDocker
from support import Cred

DEADLINE = 60.0

# One account per scenario, so scenarios never see each other's tasks.
NEVER = Cred("200000000001", "AKIDtcssNeverRefreshed0000000000001", "tcss-never-secret-0000000000000001")
GATED = Cred("200000000002", "AKIDtcssGatedRefresh00000000000002", "tcss-gated-secret-0000000000000002")
RACE = Cred("200000000003", "AKIDtcssRaceRefresh000000000000003", "tcss-race-secret-00000000000000003")
FAILING = Cred("200000000004", "AKIDtcssFailingRefresh0000000000004", "tcss-failing-secret-00000000000004")
HEALTHY = Cred("200000000005", "AKIDtcssHealthyRefresh0000000000005", "tcss-healthy-secret-00000000000005")
GONE = Cred("200000000006", "AKIDtcssUnreachable000000000000006", "tcss-gone-secret-000000000000000006")


def account(cred: Cred, clusters: list[dict]) -> dict:
    return {"uin": cred.uin, "services": ["tcss"], "clusters": clusters,
            "credentials": [{"secret_id": cred.secret_id, "secret_key": cred.secret_key}]}


@pytest.fixture(scope="module")
def dockers(tmp_path_factory):
    root = tmp_path_factory.mktemp("docker")
    engines = {name: FakeDocker(root / f"{name}.sock", mode).start()
               for name, mode in [("gated", "gated"), ("race", "gated"), ("failing", "failing"), ("healthy", "healthy")]}
    engines["gone"] = root / "nothing-listens-here.sock"
    yield engines
    for name, engine in engines.items():
        if name != "gone":
            engine.stop()


@pytest.fixture(scope="module")
def server(start_server, dockers, tmp_path_factory):
    def cluster(name: str) -> list[dict]:
        socket = dockers[name] if name == "gone" else dockers[name].socket_path
        return [{"id": f"cls-{name}", "name": f"{name} docker", "docker_socket": str(socket)}]

    data_dir = tmp_path_factory.mktemp("tcss-data")
    config = support.base_config(str(data_dir), "unused")
    config["accounts"] = [
        account(NEVER, []),
        account(GATED, cluster("gated")),
        account(RACE, cluster("race")),
        account(FAILING, cluster("failing")),
        account(HEALTHY, cluster("healthy")),
        account(GONE, cluster("gone")),
    ]
    return start_server(**{k: v for k, v in config.items() if k not in ("data_dir", "database_url")})


def client(sdk: Sdk, cred: Cred):
    return sdk.tcss(cred=cred)


def unfinished(c) -> models.DescribeUnfinishRefreshTaskResponse:
    return c.DescribeUnfinishRefreshTask(models.DescribeUnfinishRefreshTaskRequest())


def wait_for_status(c, wanted: set[str]) -> models.DescribeUnfinishRefreshTaskResponse:
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = unfinished(c)
        if answer.TaskStatus in wanted:
            return answer
        assert time.monotonic() < deadline, f"status stayed {answer.TaskStatus}, wanted {wanted}"
        time.sleep(0.05)


def create(c, **fields) -> models.CreateRefreshTaskResponse:
    request = models.CreateRefreshTaskRequest()
    for name, value in fields.items():
        setattr(request, name, value)
    return c.CreateRefreshTask(request)


def test_account_that_never_refreshed_reports_task_noexist(sdk):
    answer = unfinished(client(sdk, NEVER))
    assert (answer.TaskId, answer.TaskStatus) == (0, "Task_NoExist")


def test_refresh_runs_while_the_collector_works_then_finishes(sdk, dockers):
    c = client(sdk, GATED)
    created = create(c)
    assert created.CreateResult == "Succ" and created.TaskId > 0 and created.NewTaskID.isdigit()
    assert dockers["gated"].waiting.wait(DEADLINE), "the collector never reached the engine"
    running = wait_for_status(c, {"Task_Running"})
    assert running.TaskId == created.TaskId
    by_id = models.DescribeRefreshTaskRequest()
    by_id.TaskId = created.TaskId
    assert c.DescribeRefreshTask(by_id).TaskStatus == "Task_Running"
    dockers["gated"].release()
    finished = wait_for_status(c, {"Task_Finish", "Task_Error"})
    assert (finished.TaskId, finished.TaskStatus) == (created.TaskId, "Task_Finish")
    assert c.DescribeRefreshTask(by_id).TaskStatus == "Task_Finish"


def test_concurrent_creates_make_exactly_one_task(sdk, dockers):
    c = client(sdk, RACE)

    def attempt(_):
        try:
            return ("ok", create(c).TaskId)
        except TencentCloudSDKException as e:
            return ("error", e.code)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    created = [task for kind, task in outcomes if kind == "ok"]
    assert len(created) == 1, outcomes
    assert all(code == "OperationDenied" for kind, code in outcomes if kind == "error"), outcomes
    assert unfinished(c).TaskId == created[0]
    dockers["race"].release()
    assert wait_for_status(c, {"Task_Finish", "Task_Error"}).TaskStatus == "Task_Finish"
    assert create(c).TaskId == created[0] + 1, "a new refresh is allowed once the last one ended"


def test_failing_collector_ends_the_task_in_task_error(sdk):
    c = client(sdk, FAILING)
    created = create(c)
    answer = wait_for_status(c, {"Task_Finish", "Task_Error"})
    assert (answer.TaskId, answer.TaskStatus) == (created.TaskId, "Task_Error")


def test_unreachable_cluster_is_recorded_and_the_refresh_finishes(sdk):
    c = client(sdk, GONE)
    create(c)
    assert wait_for_status(c, {"Task_Finish", "Task_Error"}).TaskStatus == "Task_Finish"
    hosts = c.DescribeAssetHostList(models.DescribeAssetHostListRequest())
    cluster_hosts = [h for h in hosts.List if h.ClusterID == "cls-gone"]
    assert [h.Status for h in cluster_hosts] == ["OFFLINE"]
    reason = cluster_hosts[0].ClusterAccessedErrorReason
    assert reason == "the container engine's socket does not exist"
    assert "nothing-listens-here.sock" not in reason and "/" not in reason, "no host path reaches a tenant"


def test_inventory_is_visible_after_a_refresh(sdk):
    c = client(sdk, HEALTHY)
    create(c)
    wait_for_status(c, {"Task_Finish"})
    summary = c.DescribeAssetSummary(models.DescribeAssetSummaryRequest())
    assert (summary.ContainerCnt, summary.ContainerRunning, summary.ContainerPause, summary.ContainerStop) == (3, 1, 1, 1)
    assert summary.ImageCnt == 3
    assert summary.HostCnt == 2  # this machine and the cluster's node
    containers = c.DescribeAssetContainerList(models.DescribeAssetContainerListRequest())
    assert containers.TotalCount == 3
    assert {x.ContainerName: x.Status for x in containers.List} == {"web": "RUNNING", "job": "EXITED", "cache": "PAUSED"}
    page = models.DescribeAssetImageListRequest()
    page.Limit, page.Offset = 2, 2
    images = c.DescribeAssetImageList(page)
    assert (images.TotalCount, [i.ImageName for i in images.List]) == (3, ["redis:7"])


@pytest.mark.parametrize("action", ["DescribeAssetSummary", "DescribeAssetHostList", "DescribeAssetContainerList",
                                    "DescribeAssetImageList", "DescribeUnfinishRefreshTask"])
def test_answers_after_a_refresh_have_the_declared_shape(server, sdk, action):
    c = client(sdk, HEALTHY)
    if unfinished(c).TaskStatus != "Task_Finish":
        create(c)
        wait_for_status(c, {"Task_Finish"})
    api = support.Api(server.base_url)
    answer = support.ok(api.tc3(action, {}, cred=HEALTHY))
    errors = definitions.shape_errors("tcss", action, answer)
    assert errors == []


def _refreshed(sdk):
    c = client(sdk, HEALTHY)
    if unfinished(c).TaskStatus != "Task_Finish":
        create(c)
        wait_for_status(c, {"Task_Finish"})
    return c


def _filter(name: str, values: list[str], exact: bool | None = None) -> models.AssetFilters:
    f = models.AssetFilters()
    f.Name, f.Values = name, values
    if exact is not None:
        f.ExactMatch = exact
    return f


def test_container_filters_select_through_the_typed_sdk_models(sdk):
    c = _refreshed(sdk)
    request = models.DescribeAssetContainerListRequest()
    request.Filters = [_filter("ContainerName", ["WE"])]
    found = c.DescribeAssetContainerList(request)
    assert (found.TotalCount, [x.ContainerName for x in found.List]) == (1, ["web"])
    request.Filters = [_filter("Status", ["running", "paused"])]
    assert sorted(x.ContainerName for x in c.DescribeAssetContainerList(request).List) == ["cache", "web"]
    request.Filters = [_filter("ContainerName", ["we"], exact=True)]
    assert c.DescribeAssetContainerList(request).TotalCount == 0


def test_by_and_order_sort_the_image_list(sdk):
    c = _refreshed(sdk)
    request = models.DescribeAssetImageListRequest()
    request.By, request.Order = "ImageName", "desc"
    names = [i.ImageName for i in c.DescribeAssetImageList(request).List]
    assert names == sorted(names, reverse=True) and len(names) == 3


def test_a_running_host_is_online_as_its_status_and_filter_say(sdk):
    c = _refreshed(sdk)
    request = models.DescribeAssetHostListRequest()
    request.Filters = [_filter("Status", ["ONLINE"])]
    hosts = c.DescribeAssetHostList(request)
    assert hosts.TotalCount == 2 and all(h.Status == "ONLINE" for h in hosts.List)


def test_an_undocumented_filter_name_is_invalid_parameter_naming_it(sdk):
    c = _refreshed(sdk)
    request = models.DescribeAssetImageListRequest()
    request.Filters = [_filter("Colour", ["red"])]
    with pytest.raises(TencentCloudSDKException) as raised:
        c.DescribeAssetImageList(request)
    assert raised.value.code == "InvalidParameter" and "Filters.0.Name" in raised.value.message


def test_list_only_refresh_keeps_what_was_collected_inside_clusters(sdk):
    c = client(sdk, HEALTHY)
    wait_for_status(c, {"Task_Finish", "Task_Error", "Task_NoExist"})
    create(c)
    assert wait_for_status(c, {"Task_Finish", "Task_Error"}).TaskStatus == "Task_Finish"
    create(c, IsSyncListOnly=True)
    assert wait_for_status(c, {"Task_Finish", "Task_Error"}).TaskStatus == "Task_Finish"
    containers = c.DescribeAssetContainerList(models.DescribeAssetContainerListRequest())
    assert containers.TotalCount == 3


def test_unknown_cluster_id_is_invalid_parameter_value(sdk):
    with pytest.raises(TencentCloudSDKException) as raised:
        create(client(sdk, NEVER), ClusterIDs=["cls-nope"])
    assert raised.value.code == "InvalidParameterValue"
    assert "ClusterIDs.0" in raised.value.message


def test_describe_refresh_task_accepts_a_numeric_string(sdk):
    answer = client(sdk, NEVER).call_json("DescribeRefreshTask", {"TaskId": "34702"})
    assert answer["Response"]["TaskStatus"] == "Task_NoExist"
