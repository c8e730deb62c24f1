"""p50/p95 of the filtered ecm lists at two sizes of one account, through the official Python SDK.
Run by bench/ecm_lists.sh; see bench/README.md.

The account's imports are rows written straight into the server's database (an image and its
engine task each; a third succeeded with an output, a third failed, a third queued), not real
imports. Per backend (SQLite, and PostgreSQL when TASKGATE_TEST_PG_URL is set) one server runs
while the account grows from the first size to the second, and each list is timed at both."""

from __future__ import annotations

import os
import sqlite3
import subprocess

from tencentcloud.ecm.v20190719 import ecm_client, models

from list_latency import report

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100,10000").split(",")]
UIN = "100000000009"
SECRET_ID, SECRET_KEY = "AKIDbenchEcmLists000000000000000001", "bench-ecm-lists-secret"

# Imports `first` to `last` of the account: each a task and its image, newest the highest number.
FILL_TASKS = """
WITH RECURSIVE n(k) AS (SELECT {first} UNION ALL SELECT k + 1 FROM n WHERE k < {last})
INSERT INTO tg_tasks (id, account, kind, state, input, result, error, created_at_ms, max_attempts, next_run_at_ms)
SELECT 'ecm-import-' || k, '{uin}', 'ecm.import',
       CASE k % 3 WHEN 0 THEN 'succeeded' WHEN 1 THEN 'failed' ELSE 'queued' END, '{{}}',
       CASE k % 3 WHEN 0 THEN '{{"format":"qcow2","size_bytes":5,"virtual_size":1073741824,"sha256":"aa","md5":"bb"}}' END,
       CASE k % 3 WHEN 1 THEN 'the download failed' END,
       1700000000000 + k, 3, 1700000000000 + k
FROM n;
"""
FILL_IMAGES = """
INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, architecture, init_flag,
                        task_id, engine_task_id, created_at_ms, image_name_folded, os_name_folded)
SELECT 'img-' || substr(id, 12), account, 'Bench-' || substr(id, 12), '', 'CentOS', '7.9', 'x86_64', 'cloudinit',
       CAST(substr(id, 12) AS BIGINT), id, created_at_ms, 'bench-' || substr(id, 12), 'centos 7.9 64位'
FROM tg_tasks WHERE account = '{uin}' AND CAST(substr(id, 12) AS BIGINT) BETWEEN {first} AND {last};
"""


def fill(database_url: str, first: int, last: int):
    sql = (FILL_TASKS + FILL_IMAGES).format(first=first, last=last, uin=UIN)
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as db:
            db.executescript(sql + "ANALYZE;")
    else:
        # VACUUM as autovacuum would after such a load: it sets the visibility map that lets a
        # count read the index alone.
        subprocess.run(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-qc", sql, "-c", "VACUUM ANALYZE"], check=True,
                       capture_output=True)


def filter_of(name: str, value: str) -> models.Filter:
    f = models.Filter()
    f.Name, f.Values = name, [value]
    return f


def lists(client, size: int):
    """(what, call) of each list timed; each call's answer is checked so a broken list cannot time well."""
    middle = size // 2

    def task_by_name():
        request = models.DescribeCustomImageTaskRequest()
        request.Filters = [filter_of("image-name", f"Bench-{middle}")]
        assert client.DescribeCustomImageTask(request).TotalCount == 1

    def image_page():
        request = models.DescribeImageRequest()
        request.Limit = 100
        assert len(client.DescribeImage(request).ImageSet) == min(size, 100)

    def image_by_id():
        request = models.DescribeImageRequest()
        request.Filters = [filter_of("image-id", f"img-{middle}")]
        assert client.DescribeImage(request).TotalCount == 1

    def image_name_contains():
        request = models.DescribeImageRequest()
        request.Filters = [filter_of("image-name", f"bench-{middle}")]
        assert client.DescribeImage(request).TotalCount >= 1

    return [("DescribeCustomImageTask image-name", task_by_name), ("DescribeImage Limit 100", image_page),
            ("DescribeImage image-id", image_by_id), ("DescribeImage image-name contains", image_name_contains)]


def main():
    report("ecm", (UIN, SECRET_ID, SECRET_KEY), ecm_client.EcmClient, SIZES, fill, lists)


if __name__ == "__main__":
    main()
