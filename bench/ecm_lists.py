"""p50/p95 of the filtered ecm lists at two sizes of one account, through the official Python SDK.
Run by bench/ecm_lists.sh; see bench/README.md.

The account's imports are rows written straight into the server's database (an image and its
engine task each; a third succeeded with an output, a third failed, a third queued), not real
imports. Per backend (SQLite, and PostgreSQL when TASKGATE_TEST_PG_URL is set) one server runs
while the account grows from the first size to the second, and each list is timed at both."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ecm.v20190719 import ecm_client, models

BIN = Path(os.environ["TASKGATE_BIN"])
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100,10000").split(",")]
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
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


def timed(call) -> tuple[float, float]:
    for _ in range(10):
        call()
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94]


def database_url(backend: str, work: Path) -> str:
    if backend == "sqlite":
        return f"sqlite://{work / 'data' / 'taskgate.db'}"
    admin = os.environ["TASKGATE_TEST_PG_URL"]
    name = "bench_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    return admin.rsplit("/", 1)[0] + "/" + name


def run(backend: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-lists-"))
    (work / "data").mkdir()
    url = database_url(backend, work)
    (work / "taskgate.toml").write_text(f"""
listen = "127.0.0.1:0"
data_dir = "{work / 'data'}"
database_url = "{url}"
[rate_limit]
per_second = 1000000
[objects]
# One node; a PostgreSQL start otherwise wants a shared [objects.public] bucket.
single_node = true
[[accounts]]
uin = "{UIN}"
services = ["ecm"]
[[accounts.credentials]]
secret_id = "{SECRET_ID}"
secret_key = "{SECRET_KEY}"
""")
    # Every TASKGATE_* variable is a configuration key to the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(work / "taskgate.toml")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    figures = {}
    try:
        line = proc.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"taskgate did not start: {line}")
        endpoint = re.search(r"http://(\S+)", line).group(1)
        client = ecm_client.EcmClient(credential.Credential(SECRET_ID, SECRET_KEY), "",
                                      ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint)))
        filled = 0
        for size in SIZES:
            fill(url, filled + 1, size)
            filled = size
            for what, call in lists(client, size):
                figures[(what, size)] = timed(call)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work)
        if backend == "postgres":
            name = url.rsplit("/", 1)[1]
            subprocess.run(["psql", os.environ["TASKGATE_TEST_PG_URL"], "-qc", f'DROP DATABASE "{name}" WITH (FORCE)'],
                           check=True, capture_output=True)
    return figures


def main():
    backends = ["sqlite"] + (["postgres"] if os.environ.get("TASKGATE_TEST_PG_URL") else [])
    small, large = SIZES[0], SIZES[-1]
    print(f"{CALLS} calls each, ms; ratio = p95 at {large:,} / p95 at {small:,}")
    print(f"| backend | list | p50 @{small:,} | p95 @{small:,} | p50 @{large:,} | p95 @{large:,} | ratio |")
    print("|---|---|---|---|---|---|---|")
    for backend in backends:
        figures = run(backend)
        for what in dict.fromkeys(w for w, _ in figures):
            (p50s, p95s), (p50l, p95l) = figures[(what, small)], figures[(what, large)]
            print(f"| {backend} | {what} | {p50s:.2f} | {p95s:.2f} | {p50l:.2f} | {p95l:.2f} | {p95l / p95s:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
