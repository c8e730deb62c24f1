"""p50/p95 of the filtered tcss asset lists at two sizes of one account's inventory, through the
official Python SDK. Run by bench/tcss_lists.sh; see bench/README.md.

The account's inventory is rows written straight into the server's database (a succeeded refresh,
one cluster of one node, N containers and N images, a third of the containers running, a third
exited, a third paused), as a refresh's success writes them, not a real refresh. Per backend
(SQLite, and PostgreSQL when TASKGATE_TEST_PG_URL is set) one server runs while the inventory
grows from the first size to the second, and each action is timed at both."""

from __future__ import annotations

import os
import sqlite3
import subprocess

from tencentcloud.tcss.v20201101 import models, tcss_client

from list_latency import report

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100,50000").split(",")]
UIN = "100000000010"
SECRET_ID, SECRET_KEY = "AKIDbenchTcssLists00000000000000001", "bench-tcss-lists-secret"

# The refresh that wrote the inventory, its cluster and the cluster's node.
FILL_REFRESH = """
INSERT INTO tg_tasks (id, account, kind, state, input, result, created_at_ms, finished_at_ms, max_attempts,
                      next_run_at_ms)
VALUES ('tcss-refresh-bench', '{uin}', 'tcss.refresh', 'succeeded', '{{}}', '{{}}', 1700000000000, 1700000000000, 3,
        1700000000000);
INSERT INTO tcss_refresh_tasks (account, task_id, new_task_id, engine_task_id, created_at_ms)
VALUES ('{uin}', 1, '1', 'tcss-refresh-bench', 1700000000000);
INSERT INTO tcss_clusters (account, cluster_id, name, reachable, error, runtime_version, task_id)
VALUES ('{uin}', 'cls-bench', 'bench', TRUE, NULL, '27.1.0', 1);
INSERT INTO tcss_hosts (account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, kernel_version,
                        architecture, memory_bytes, task_id)
VALUES ('{uin}', '', 'host-bench', 0, 'bench', '10.0.0.1', 2, 'Debian 12', '6.1', '', 1024, 1),
       ('{uin}', 'cls-bench', 'cls-bench-node-a', 0, 'node-a', '', 4, 'Debian', '6.1', 'x86_64', 8, 1);
"""
# Containers and images `first` to `last`, then the cluster's counts, as a refresh writes them.
FILL_ASSETS = """
WITH RECURSIVE n(k) AS (SELECT {first} UNION ALL SELECT k + 1 FROM n WHERE k < {last})
INSERT INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, status, docker_status,
                             created_at, host_name, task_id)
SELECT '{uin}', 'cls-bench', 'c' || k, k, 'ctr-' || k, 'img-' || (k % 50) || ':v1',
       CASE k % 3 WHEN 0 THEN 'RUNNING' WHEN 1 THEN 'EXITED' ELSE 'PAUSED' END, '', 1700000000 + k, 'node-a', 1
FROM n;
WITH RECURSIVE n(k) AS (SELECT {first} UNION ALL SELECT k + 1 FROM n WHERE k < {last})
INSERT INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, created_at, containers,
                         task_id)
SELECT '{uin}', 'cls-bench', 'sha256:' || k, k, 'repo-' || k || ':v1', '[]', 1000 + k, 1690000000 + k, 1, 1 FROM n;
UPDATE tcss_clusters SET
    container_cnt = (SELECT COUNT(*) FROM tcss_containers k WHERE k.account = '{uin}'),
    running_cnt = (SELECT COUNT(*) FROM tcss_containers k WHERE k.account = '{uin}' AND k.status = 'RUNNING'),
    paused_cnt = (SELECT COUNT(*) FROM tcss_containers k WHERE k.account = '{uin}' AND k.status = 'PAUSED'),
    stopped_cnt = (SELECT COUNT(*) FROM tcss_containers k WHERE k.account = '{uin}' AND k.status = 'EXITED'),
    image_cnt = (SELECT COUNT(*) FROM tcss_images i WHERE i.account = '{uin}')
WHERE account = '{uin}';
"""


def fill(database_url: str, first: int, last: int):
    sql = (FILL_REFRESH if first == 1 else "") + FILL_ASSETS
    sql = sql.format(first=first, last=last, uin=UIN)
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as db:
            db.executescript(sql + "ANALYZE;")
    else:
        # VACUUM as autovacuum would after such a load: it sets the visibility map that lets a
        # count read the index alone.
        subprocess.run(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-qc", sql, "-c", "VACUUM ANALYZE"], check=True,
                       capture_output=True)


def filter_of(name: str, value: str, exact: bool) -> models.AssetFilters:
    f = models.AssetFilters()
    f.Name, f.Values, f.ExactMatch = name, [value], exact
    return f


def lists(client, size: int):
    """(what, call) of each action timed; each answer is checked so a broken list cannot time well."""
    middle = size // 2

    def containers(*filters, limit=None):
        request = models.DescribeAssetContainerListRequest()
        request.Filters = list(filters) or None
        request.Limit = limit
        return client.DescribeAssetContainerList(request)

    def container_page():
        assert len(containers(limit=100).List) == min(size, 100)

    def container_by_name():
        assert containers(filter_of("ContainerName", f"ctr-{middle}", True)).TotalCount == 1

    def container_name_contains():
        assert containers(filter_of("ContainerName", f"TR-{middle}", False)).TotalCount >= 1

    def running_containers():
        assert containers(filter_of("Status", "RUNNING", True)).TotalCount == size // 3

    def image_by_id():
        request = models.DescribeAssetImageListRequest()
        request.Filters = [filter_of("ImageID", f"sha256:{middle}", True)]
        assert client.DescribeAssetImageList(request).TotalCount == 1

    def hosts():
        assert client.DescribeAssetHostList(models.DescribeAssetHostListRequest()).List[1].ContainerCnt == size

    def summary():
        assert client.DescribeAssetSummary(models.DescribeAssetSummaryRequest()).ContainerCnt == size

    return [("DescribeAssetContainerList Limit 100", container_page),
            ("DescribeAssetContainerList ContainerName exact", container_by_name),
            ("DescribeAssetContainerList ContainerName contains", container_name_contains),
            ("DescribeAssetContainerList Status RUNNING", running_containers),
            ("DescribeAssetImageList ImageID exact", image_by_id),
            ("DescribeAssetHostList", hosts),
            ("DescribeAssetSummary", summary)]


def main():
    report("tcss", (UIN, SECRET_ID, SECRET_KEY), tcss_client.TcssClient, SIZES, fill, lists)


if __name__ == "__main__":
    main()
