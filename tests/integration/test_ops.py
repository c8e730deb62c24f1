"""Operations: /healthz, /metrics, `taskgate usersig`, signals, restarts, configuration sources."""

import base64
import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import time
import zlib

import requests
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tcss.v20201101 import models as tcss_models

import support
import vectors
from conftest import BIN, Sdk, server_env
from image_server import ImageServer, make_image

LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)")


def metric_samples(server, name: str) -> list[tuple[dict, float]]:
    resp = requests.get(server.base_url + "/metrics", timeout=10)
    assert resp.status_code == 200
    out = []
    for line in resp.text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((dict(LABELS.findall(m.group(2) or "")), float(m.group(3))))
    return out


def requests_total(server, **labels) -> float:
    samples = metric_samples(server, "taskgate_requests_total")
    return sum(v for l, v in samples if all(l.get(k) == want for k, want in labels.items()))


# ---- /healthz and /metrics -----------------------------------------------------------------------


def test_healthz_is_ok_json(server):
    resp = requests.get(server.base_url + "/healthz", timeout=10)
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_metrics_count_requests_by_service_and_action(server, api):
    labels = {"service": "tcss", "action": "DescribeUnfinishRefreshTask"}
    before = requests_total(server, **labels)
    support.ok(api.tc3("DescribeUnfinishRefreshTask", {}))
    assert requests_total(server, **labels) == before + 1


def test_metrics_count_errors_by_code(server, api):
    labels = {"service": "tcss", "action": "DescribeUnfinishRefreshTask", "code": "UnsupportedRegion"}
    before = requests_total(server, **labels)
    support.error(api.tc3("DescribeUnfinishRefreshTask", {}, region="eu-frankfurt"), "UnsupportedRegion")
    assert requests_total(server, **labels) == before + 1


def test_metrics_have_a_latency_histogram(server, api):
    support.ok(api.tc3("DescribeCustomImageTask", {"Filters": [{"Name": "task-id", "Values": ["1"]}]}))
    buckets = metric_samples(server, "taskgate_request_duration_seconds_bucket")
    counts = metric_samples(server, "taskgate_request_duration_seconds_count")
    assert any(l.get("le") == "+Inf" for l, _ in buckets), buckets
    assert sum(v for _, v in counts) >= 1


# ---- usersig -------------------------------------------------------------------------------------


def decode_usersig(sig: str) -> dict:
    raw = base64.b64decode(sig.replace("*", "+").replace("-", "/").replace("_", "="))
    return json.loads(zlib.decompress(raw))


def usersig_hmac(key: str, doc: dict) -> str:
    content = (f"TLS.identifier:{doc['TLS.identifier']}\nTLS.sdkappid:{doc['TLS.sdkappid']}\n"
               f"TLS.time:{doc['TLS.time']}\nTLS.expire:{doc['TLS.expire']}\n")
    return base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()


def run_usersig(server, *args):
    return subprocess.run([str(BIN), "usersig", *args, "--config", str(server.config_path)], capture_output=True,
                          text=True, timeout=60, env=server_env(), stdin=subprocess.DEVNULL)


def test_usersig_is_tls_sig_api_v2_signed_with_the_app_key(server):
    proc = run_usersig(server, "--sdk-app-id", str(support.MAIN_SDK_APP), "--user-id", "alice",
                       "--expire-secs", "3600")
    assert proc.returncode == 0, proc.stderr
    doc = decode_usersig(proc.stdout.strip())
    assert doc["TLS.ver"] == "2.0"
    assert doc["TLS.identifier"] == "alice"
    assert int(doc["TLS.sdkappid"]) == support.MAIN_SDK_APP
    assert int(doc["TLS.expire"]) == 3600
    assert abs(int(doc["TLS.time"]) - time.time()) < 120
    assert doc["TLS.sig"] == usersig_hmac(support.USERSIG_KEY, doc)


def test_usersig_for_an_unconfigured_app_fails(server):
    proc = run_usersig(server, "--sdk-app-id", "1400999999", "--user-id", "alice")
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""


# ---- process lifecycle and configuration ---------------------------------------------------------


def test_sigterm_stops_the_server_cleanly(start_server):
    server = start_server()
    assert server.terminate() == 0, server.log_tail()


def _served_data(sdk: Sdk, refresh_id: int, import_task_id: int, image_id: str) -> dict[str, dict]:
    """What the server answers about the refresh and the import, without the RequestIds."""
    tcss, ecm = sdk.tcss(), sdk.ecm()
    by_id = tcss_models.DescribeRefreshTaskRequest()
    by_id.TaskId = refresh_id
    task_filter, image_filter = ecm_models.Filter(), ecm_models.Filter()
    task_filter.Name, task_filter.Values = "task-id", [str(import_task_id)]
    image_filter.Name, image_filter.Values = "image-id", [image_id]
    import_tasks, images = ecm_models.DescribeCustomImageTaskRequest(), ecm_models.DescribeImageRequest()
    import_tasks.Filters, images.Filters = [task_filter], [image_filter]
    answers = {
        "refresh": tcss.DescribeRefreshTask(by_id),
        "unfinished refresh": tcss.DescribeUnfinishRefreshTask(tcss_models.DescribeUnfinishRefreshTaskRequest()),
        "asset summary": tcss.DescribeAssetSummary(tcss_models.DescribeAssetSummaryRequest()),
        "import task": ecm.DescribeCustomImageTask(import_tasks),
        "image": ecm.DescribeImage(images),
    }
    return {name: support.without_request_id(json.loads(a.to_json_string())) for name, a in answers.items()}


def test_restart_after_sigkill_serves_the_same_data(start_server, tmp_path):
    make_image(tmp_path, "disk.raw", "raw", "1M")
    images = ImageServer(tmp_path).start()
    try:
        first = start_server()
        sdk = Sdk(first)
        refresh = sdk.tcss().CreateRefreshTask(tcss_models.CreateRefreshTaskRequest())
        request = ecm_models.ImportCustomImageRequest()
        request.ImageName, request.Architecture, request.OsType, request.OsVersion = "kept", "x86_64", "Debian", "12"
        url = ecm_models.ImageUrl()
        url.ImageFile = images.url("disk.raw")
        request.ImageUrls = [url]
        imported = sdk.ecm().ImportCustomImage(request)
        deadline = time.monotonic() + 60
        while True:
            before = _served_data(sdk, refresh.TaskId, imported.TaskId, imported.ImageId)
            refresh_ended = before["refresh"]["TaskStatus"] in ("Task_Finish", "Task_Error")
            if refresh_ended and before["import task"]["ImageTaskSet"][0]["State"] in ("SUCCESS", "FAILED"):
                break
            assert time.monotonic() < deadline, f"the tasks did not finish: {before}"
            time.sleep(0.1)
        assert before["refresh"]["TaskStatus"] == "Task_Finish"
        assert before["unfinished refresh"]["TaskId"] == refresh.TaskId
        [task] = before["import task"]["ImageTaskSet"]
        assert (task["ImageName"], task["State"], task["Message"]) == ("kept", "SUCCESS", "success")
        [image] = before["image"]["ImageSet"]
        assert (image["ImageId"], image["ImageName"], image["ImageState"]) == (imported.ImageId, "kept", "NORMAL")

        first.kill()
        again = start_server(config=first.config, workdir=first.workdir)
        after = _served_data(Sdk(again), refresh.TaskId, imported.TaskId, imported.ImageId)
        assert after == before
    finally:
        images.stop()


def test_environment_variable_overrides_the_config_file(start_server):
    server = start_server(env={"TASKGATE_FROZEN_TIME": str(vectors.TIMESTAMP)})
    resp = support.raw_http(server.port, "POST", "/", vectors.A.headers, vectors.A.body)
    support.error(resp, "InvalidParameter")   # authenticated: the server's clock is the vector's


def test_serve_without_config_creates_a_default_account_in_taskgate_data(start_server, tmp_path):
    server = start_server(config=None, workdir=tmp_path, env={"TASKGATE_LISTEN": "127.0.0.1:0"})
    data = tmp_path / "taskgate-data"
    assert data.is_dir()
    private = [p for p in data.rglob("*") if p.is_file() and stat.S_IMODE(os.stat(p).st_mode) == 0o600]
    assert private, f"no 0600 credentials file in {sorted(data.rglob('*'))}"
    printed = "".join(server.stdout_lines) + server.log_path.read_text(errors="replace")
    assert re.search(r"AKID\w+", printed), "the default SecretId is not printed"
