"""The shared part of bench/ecm_lists.py and bench/tcss_lists.py: p50/p95 of list actions at two
sizes of one account's data, through the official Python SDK, on SQLite and (when
TASKGATE_TEST_PG_URL is set) PostgreSQL, one server per backend while the data grows."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

BIN = Path(os.environ["TASKGATE_BIN"])
CALLS = int(os.environ.get("BENCH_CALLS", "200"))

# (database URL, first, last): writes rows first..=last of the account straight into the database.
Fill = Callable[[str, int, int], None]
# (SDK client, size) -> [(label, call)]: the timed actions at that size.
Lists = Callable[[object, int], list[tuple[str, Callable[[], object]]]]


def timed(call) -> tuple[float, float]:
    """p50 and p95 in ms of CALLS calls, after 10 untimed ones."""
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


def run(backend: str, service: str, account: tuple[str, str, str], client_class, sizes: list[int], fill: Fill,
        lists: Lists) -> dict:
    """{(label, size): (p50, p95)} of one backend; `account` is (uin, secret id, secret key)."""
    uin, secret_id, secret_key = account
    work = Path(tempfile.mkdtemp(prefix=f"taskgate-bench-{service}-lists-"))
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
uin = "{uin}"
services = ["{service}"]
[[accounts.credentials]]
secret_id = "{secret_id}"
secret_key = "{secret_key}"
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
        client = client_class(credential.Credential(secret_id, secret_key), "",
                              ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint)))
        filled = 0
        for size in sizes:
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


def report(service: str, account: tuple[str, str, str], client_class, sizes: list[int], fill: Fill,
           lists: Lists) -> None:
    """Runs every backend and prints one Markdown table: p50/p95 at both sizes and the p95 ratio."""
    backends = ["sqlite"] + (["postgres"] if os.environ.get("TASKGATE_TEST_PG_URL") else [])
    small, large = sizes[0], sizes[-1]
    print(f"{CALLS} calls each, ms; ratio = p95 at {large:,} / p95 at {small:,}")
    print(f"| backend | action | p50 @{small:,} | p95 @{small:,} | p50 @{large:,} | p95 @{large:,} | ratio |")
    print("|---|---|---|---|---|---|---|")
    for backend in backends:
        figures = run(backend, service, account, client_class, sizes, fill, lists)
        for what in dict.fromkeys(w for w, _ in figures):
            (p50s, p95s), (p50l, p95l) = figures[(what, small)], figures[(what, large)]
            print(f"| {backend} | {what} | {p50s:.2f} | {p95s:.2f} | {p50l:.2f} | {p95l:.2f} | {p95l / p95s:.2f} |")
        sys.stdout.flush()
