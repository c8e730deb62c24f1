"""tcss asset lists at their edges through the official Python SDK, over an inventory a real
refresh wrote from fake Docker engines: paging (Offset past the end, Limit 0 and its maximum),
filters AND-ed and values OR-ed, By/Order, TotalCount independent of the page, and a refresh
replacing what an earlier one wrote."""

from __future__ import annotations

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

import support
from fake_docker import CONTAINERS as SMALL_CONTAINERS
from fake_docker import FakeDocker
from support import Cred

DEADLINE = 60.0
BIG = 105
STATES = ["running", "exited", "paused"]

LISTS = Cred("200000000011", "AKIDtcssLists000000000000000000011", "tcss-lists-secret-0000000000000011")
AGAIN = Cred("200000000012", "AKIDtcssListsAgain00000000000000012", "tcss-again-secret-0000000000000012")
CASES = Cred("200000000013", "AKIDtcssListsCases00000000000000013", "tcss-cases-secret-0000000000000013")

# The big cluster's engine: `app-000` … `app-104`, states running/exited/paused in turn, images
# `img0:v1` … `img4:v1` in turn; and as many images, `repo-000:v1` ….
CONTAINERS = [{"Id": f"c{i:04d}", "Names": [f"/app-{i:03d}"], "Image": f"img{i % 5}:v1", "State": STATES[i % 3],
               "Status": "", "Created": 1_700_000_000 + (i * 37) % BIG} for i in range(BIG)]
IMAGES = [{"Id": f"sha256:{i:04x}", "ParentId": "", "RepoTags": [f"repo-{i:03d}:v1"], "RepoDigests": [],
           "Created": 1_690_000_000 + i, "Size": 1000 + i, "SharedSize": -1, "Labels": {}, "Containers": i % 2}
          for i in range(BIG)]
BIG_NAMES = [f"app-{i:03d}" for i in range(BIG)]
# Names and images whose case changes inside them.
CASE_CONTAINERS = [{"Id": f"d{i}", "Names": [f"/{name}"], "Image": image, "State": "running", "Status": "",
                    "Created": 1_700_000_000 + i}
                   for i, (name, image) in enumerate([("WebServer-01", "Nginx:Stable"), ("webSERVER-02", "nginx:1.27"),
                                                      ("db", "PostGres:15")])]
SMALL_NAMES = [c["Names"][0][1:] for c in SMALL_CONTAINERS]
# The lists order by cluster id, then as each engine listed them.
ALL_NAMES = BIG_NAMES + SMALL_NAMES


def account(cred: Cred, clusters: list[dict]) -> dict:
    return {"uin": cred.uin, "services": ["tcss"], "clusters": clusters,
            "credentials": [{"secret_id": cred.secret_id, "secret_key": cred.secret_key}]}


@pytest.fixture(scope="module")
def dockers(tmp_path_factory):
    root = tmp_path_factory.mktemp("docker")
    engines = {"big": FakeDocker(root / "big.sock", containers=CONTAINERS, images=IMAGES).start(),
               "small": FakeDocker(root / "small.sock").start(),
               "again": FakeDocker(root / "again.sock", containers=list(CONTAINERS[:10])).start(),
               "cases": FakeDocker(root / "cases.sock", containers=CASE_CONTAINERS).start()}
    yield engines
    for engine in engines.values():
        engine.stop()


@pytest.fixture(scope="module")
def server(start_server, dockers, tmp_path_factory):
    config = support.base_config(str(tmp_path_factory.mktemp("tcss-data")), "unused")
    config["accounts"] = [
        account(LISTS, [{"id": "cls-big", "name": "big", "docker_socket": str(dockers["big"].socket_path)},
                        {"id": "cls-small", "name": "small", "docker_socket": str(dockers["small"].socket_path)},
                        {"id": "cls-zgone", "name": "gone",
                         "docker_socket": str(tmp_path_factory.mktemp("none") / "nothing.sock")}]),
        account(AGAIN, [{"id": "cls-again", "name": "again", "docker_socket": str(dockers["again"].socket_path)}]),
        account(CASES, [{"id": "cls-cases", "name": "cases", "docker_socket": str(dockers["cases"].socket_path)}]),
    ]
    return start_server(**{k: v for k, v in config.items() if k not in ("data_dir", "database_url")})


def refresh(c, **fields):
    request = models.CreateRefreshTaskRequest()
    for name, value in fields.items():
        setattr(request, name, value)
    created = c.CreateRefreshTask(request)
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = c.DescribeUnfinishRefreshTask(models.DescribeUnfinishRefreshTaskRequest())
        if answer.TaskId == created.TaskId and answer.TaskStatus in ("Task_Finish", "Task_Error"):
            assert answer.TaskStatus == "Task_Finish"
            return
        assert time.monotonic() < deadline, f"the refresh stayed {answer.TaskStatus}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def c(sdk):
    client = sdk.tcss(cred=LISTS)
    refresh(client)
    return client


def filter_of(name: str, values: list[str], exact: bool | None = None) -> models.AssetFilters:
    f = models.AssetFilters()
    f.Name, f.Values = name, values
    if exact is not None:
        f.ExactMatch = exact
    return f


def listed(c, action: str, *filters, offset=None, limit=None, by=None, order=None):
    request = getattr(models, f"{action}Request")()
    request.Filters = list(filters) or None
    request.Offset, request.Limit, request.By, request.Order = offset, limit, by, order
    return getattr(c, action)(request)


def containers(c, *filters, **page):
    return listed(c, "DescribeAssetContainerList", *filters, **page)


def names(answer) -> list[str]:
    return [x.ContainerName for x in answer.List]


def test_the_container_list_pages_ten_by_default_in_the_inventory_order(c):
    answer = containers(c)
    assert (names(answer), answer.TotalCount) == (ALL_NAMES[:10], len(ALL_NAMES))


def test_offset_past_the_end_is_an_empty_page_with_the_total(c):
    answer = containers(c, offset=len(ALL_NAMES) + 10, limit=10)
    assert (answer.List, answer.TotalCount) == ([], len(ALL_NAMES))
    last = containers(c, offset=len(ALL_NAMES) - 2, limit=10)
    assert names(last) == ALL_NAMES[-2:]


@pytest.mark.parametrize("action", ["DescribeAssetContainerList", "DescribeAssetImageList", "DescribeAssetHostList"])
@pytest.mark.parametrize("limit", [0, 101])
def test_limit_outside_1_to_100_is_invalid_parameter_value(c, action, limit):
    with pytest.raises(TencentCloudSDKException) as raised:
        listed(c, action, limit=limit)
    assert raised.value.code == "InvalidParameterValue" and "Limit" in raised.value.message


def test_limit_100_returns_100(c):
    answer = containers(c, limit=100)
    assert (names(answer), answer.TotalCount) == (ALL_NAMES[:100], len(ALL_NAMES))
    images = listed(c, "DescribeAssetImageList", limit=100)
    assert (len(images.List), images.TotalCount) == (100, BIG + 3)


def test_pages_follow_each_other_without_overlap(c):
    pages = [containers(c, offset=offset, limit=40) for offset in (0, 40, 80)]
    assert [n for page in pages for n in names(page)] == ALL_NAMES


def test_total_count_does_not_depend_on_the_page(c):
    running = filter_of("Status", ["RUNNING"], exact=True)
    counts = {containers(c, running, offset=o, limit=l).TotalCount for o, l in [(0, 1), (0, 100), (30, 5), (500, 10)]}
    assert counts == {35 + 1}


def test_filters_are_anded(c):
    answer = containers(c, filter_of("ContainerName", ["APP-01"]), filter_of("Status", ["RUNNING"], exact=True),
                        limit=100)
    expected = [n for i, n in enumerate(BIG_NAMES) if n.startswith("app-01") and STATES[i % 3] == "running"]
    assert (names(answer), answer.TotalCount) == (expected, len(expected))
    assert expected == ["app-012", "app-015", "app-018"]


def test_values_are_ored(c):
    answer = containers(c, filter_of("ContainerName", ["app-003", "app-050", "nope"], exact=True))
    assert (names(answer), answer.TotalCount) == (["app-003", "app-050"], 2)
    either = containers(c, filter_of("Status", ["paused", "exited"]), limit=100)
    assert either.TotalCount == 70 + 2 and {x.Status for x in either.List} == {"PAUSED", "EXITED"}


def test_a_substring_matches_case_insensitively_and_takes_percent_and_underscore_literally(c):
    assert containers(c, filter_of("ContainerName", ["PP-10"])).TotalCount == 5
    for needle in ["%", "_", "app_0"]:
        assert containers(c, filter_of("ContainerName", [needle])).TotalCount == 0, needle


def test_a_substring_spanning_a_case_change_matches_in_either_case(sdk):
    cases = sdk.tcss(cred=CASES)
    refresh(cases)
    for needle, expected in [("BSE", ["WebServer-01", "webSERVER-02"]), ("erver-01", ["WebServer-01"]),
                             ("wEBs", ["WebServer-01", "webSERVER-02"]), ("Sdb", [])]:
        answer = containers(cases, filter_of("ContainerName", [needle]))
        assert (names(answer), answer.TotalCount) == (expected, len(expected)), needle
    answer = containers(cases, filter_of("ImageName", ["TGRES:", "NX:s"]))
    assert names(answer) == ["WebServer-01", "db"]
    assert names(containers(cases, filter_of("ContainerName", ["B"]))) == ["WebServer-01", "webSERVER-02", "db"]
    assert names(containers(cases, filter_of("ContainerName", ["Db", "ServeR-02"]))) == ["webSERVER-02", "db"]


def test_substrings_shorter_than_three_characters_match_without_the_index(c):
    # Two characters or fewer are matched against each of the account's rows (see README), alone
    # or OR-ed with a longer value.
    for values in (["9"], ["-1"], ["P-"], ["B"], ["pp-10", "9"], ["%"], ["_"]):
        expected = [n for n in ALL_NAMES if any(v.lower() in n for v in values)]
        answer = containers(c, filter_of("ContainerName", values), limit=100)
        assert (names(answer), answer.TotalCount) == (expected[:100], len(expected)), values
    assert containers(c, filter_of("Status", ["ed"])).TotalCount == 35 + 35 + 2
    tagged = [i for i in IMAGES if "1:" in i["RepoTags"][0]]
    assert listed(c, "DescribeAssetImageList", filter_of("ImageName", ["1:"])).TotalCount == len(tagged) == 11


def test_exact_match_is_exact(c):
    assert containers(c, filter_of("ContainerName", ["app-01"], exact=True)).TotalCount == 0
    assert containers(c, filter_of("ImageName", ["img3:v1"], exact=True)).TotalCount == 21


def test_a_filter_on_what_no_container_has_lists_nothing_and_all_lists_everything(c):
    assert containers(c, filter_of("PodIP", ["10.0.0.1"])).TotalCount == 0
    assert containers(c, filter_of("Status", ["ALL"])).TotalCount == len(ALL_NAMES)


def test_by_and_order_sort_the_whole_list_before_the_page(c):
    descending = containers(c, by="ContainerName", order="desc", limit=5)
    assert names(descending) == sorted(ALL_NAMES, reverse=True)[:5]
    by_time = containers(c, filter_of("ContainerName", ["app-"]), by="CreateTime", limit=100)
    created = {f"app-{i:03d}": (i * 37) % BIG for i in range(BIG)}
    assert names(by_time) == sorted(BIG_NAMES, key=created.__getitem__)[:100]
    assert names(containers(c, by="ContainerName", order="ASC", offset=104, limit=2)) == sorted(ALL_NAMES)[104:106]


def test_the_image_list_filters_by_ids_ored_and_name_substrings(c):
    wanted = [IMAGES[7]["Id"], IMAGES[70]["Id"], "sha256:none"]
    answer = listed(c, "DescribeAssetImageList", filter_of("ImageID", wanted, exact=True))
    assert ([i.ImageID for i in answer.List], answer.TotalCount) == (wanted[:2], 2)
    named = listed(c, "DescribeAssetImageList", filter_of("ImageName", ["REPO-1"]), by="Size", order="desc", limit=3)
    assert ([i.ImageName for i in named.List], named.TotalCount) == (["repo-104:v1", "repo-103:v1", "repo-102:v1"], 5)


def test_the_host_list_counts_each_clusters_assets_and_filters_its_facts(c):
    hosts = listed(c, "DescribeAssetHostList", limit=100)
    by_cluster = {h.ClusterID: h for h in hosts.List}
    assert hosts.TotalCount == 4 and set(by_cluster) == {"", "cls-big", "cls-small", "cls-zgone"}
    assert (by_cluster["cls-big"].ContainerCnt, by_cluster["cls-big"].ImageCnt) == (BIG, BIG)
    assert (by_cluster["cls-small"].ContainerCnt, by_cluster["cls-zgone"].Status) == (3, "OFFLINE")
    offline = listed(c, "DescribeAssetHostList", filter_of("Status", ["OFFLINE"]))
    assert [h.ClusterID for h in offline.List] == ["cls-zgone"]
    outside = listed(c, "DescribeAssetHostList", filter_of("NonClusterNode", ["true"]))
    assert [h.ClusterID for h in outside.List] == [""]
    anded = listed(c, "DescribeAssetHostList", filter_of("Status", ["ONLINE"]), filter_of("DockerStatus", ["INSTALL"]))
    assert sorted(h.ClusterID for h in anded.List) == ["cls-big", "cls-small"]
    most = listed(c, "DescribeAssetHostList", by="ContainerCnt", order="desc", limit=1)
    assert ([h.ClusterID for h in most.List], most.TotalCount) == (["cls-big"], 4)


def test_the_summary_counts_the_whole_inventory(c):
    summary = c.DescribeAssetSummary(models.DescribeAssetSummaryRequest())
    assert (summary.ContainerCnt, summary.ContainerRunning, summary.ContainerPause, summary.ContainerStop) == (
        BIG + 3, 35 + 1, 35 + 1, 35 + 1)
    assert (summary.ImageCnt, summary.HostCnt, summary.HostOnline) == (BIG + 3, 4, 3)


def test_a_refresh_replaces_what_the_last_one_wrote(sdk, dockers):
    again = sdk.tcss(cred=AGAIN)
    refresh(again)
    assert containers(again).TotalCount == 10
    dockers["again"].containers = CONTAINERS[5:8]
    refresh(again)
    answer = containers(again)
    assert (names(answer), answer.TotalCount) == (BIG_NAMES[5:8], 3)
    refresh(again, IsSyncListOnly=True)
    assert containers(again).TotalCount == 3, "a list-only refresh keeps what was collected"
