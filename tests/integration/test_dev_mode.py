"""`taskgate dev`, the emulator mode for test suites, and the `/_taskgate` control API, through the
official Python and Node SDKs: well-known credentials, --any-credentials, --print-env, --seed,
callback inboxes, the callback and task listings, reset, the temporary folder, and the control
API of `serve` (off, or behind its bearer token)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tcss.v20201101 import models as tcss_models

import conftest
from dev_support import (DEV, DEV_SDK_APP, DEV_USERSIG_KEY, SEEDED, SEEDED_SDK_APP, control, describe_snapshot,
                         marked_room, refresh, sdk_of, snapshot, wait_for)
from image_server import ImageServer, make_image
from room_client import Room, stroke
from support import Cred


@pytest.fixture(scope="module")
def dev(start_dev):
    return start_dev()


# ---- start and credentials ------------------------------------------------------------------------


def test_dev_prints_the_endpoint_and_the_well_known_credentials(dev):
    printed = "".join(dev.stdout_lines)
    for expected in (dev.base_url, DEV.uin, DEV.secret_id, DEV.secret_key, str(DEV_SDK_APP), DEV_USERSIG_KEY):
        assert expected in printed


def test_the_well_known_credentials_call_every_product(dev):
    sdk = sdk_of(dev)
    assert sdk.ecm().DescribeImage(ecm_models.DescribeImageRequest()).TotalCount == 0
    assert sdk.tcss().DescribeAssetHostList(tcss_models.DescribeAssetHostListRequest()).TotalCount == 0
    task_id = snapshot(dev, marked_room(dev, 10))
    assert describe_snapshot(dev, task_id).TaskID == task_id


def test_the_node_sdk_calls_dev_mode_with_the_well_known_credentials(dev):
    spec = {"endpoint": dev.host, "version": "2019-07-19", "action": "DescribeImage", "params": {}}
    env = {**os.environ, "TENCENTCLOUD_SECRET_ID": DEV.secret_id, "TENCENTCLOUD_SECRET_KEY": DEV.secret_key}
    proc = subprocess.run(["node", str(conftest.NODE_DIR / "call.mjs"), json.dumps(spec)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=conftest.NODE_DIR)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["ok"], answer
    assert answer["response"]["TotalCount"] == 0


def test_an_unknown_secret_id_is_refused_without_any_credentials(dev):
    stranger = Cred("", "AKIDstranger000000000000000000000000", "whatever")
    with pytest.raises(TencentCloudSDKException) as raised:
        sdk_of(dev, stranger).ecm().DescribeImage(ecm_models.DescribeImageRequest())
    assert raised.value.code == "AuthFailure.SecretIdNotFound"


def test_any_credentials_make_each_secret_id_a_stable_account_of_its_own(start_dev):
    server = start_dev("--any-credentials")
    first = Cred("", f"AKID{uuid.uuid4().hex}", "any-key-at-all")
    second = Cred("", f"AKID{uuid.uuid4().hex}", "another-key")
    refresh(server, first)
    # A second call, signed with another key: the SecretId alone names the account.
    sdk_of(server, Cred("", first.secret_id, "a-different-key")).tcss().DescribeUnfinishRefreshTask(
        tcss_models.DescribeUnfinishRefreshTaskRequest())
    refresh(server, second)
    tasks = control(server, "GET", "tasks", params={"service": "tcss"}).json()["tasks"]
    accounts = [task["account"] for task in tasks]
    assert len(accounts) == 2 and len(set(accounts)) == 2
    assert all(len(a) == 12 and a.startswith("2") for a in accounts)


def test_print_env_feeds_the_sdk_environment_credential_provider(dev, monkeypatch):
    from tencentcloud.common import credential
    from tencentcloud.ecm.v20190719 import ecm_client

    proc = subprocess.run([str(conftest.BIN), "dev", "--print-env", "--listen", dev.host], capture_output=True,
                          text=True, timeout=30, env=conftest.server_env())
    assert proc.returncode == 0, proc.stderr
    variables = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())
    assert variables["TASKGATE_ENDPOINT"] == dev.base_url
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    cred = credential.EnvironmentVariableCredential().get_credential()
    profile = conftest.Sdk(dev).profile()
    profile.httpProfile.endpoint = os.environ["TASKGATE_ENDPOINT"].removeprefix("http://")
    answer = ecm_client.EcmClient(cred, "", profile).DescribeImage(ecm_models.DescribeImageRequest())
    assert answer.TotalCount == 0


# ---- seeds ------------------------------------------------------------------------------------------


def write_seed(directory: Path) -> Path:
    (directory / "rooms" / str(SEEDED_SDK_APP)).mkdir(parents=True)
    (directory / "accounts.toml").write_text(f"""
[[accounts]]
uin = "{SEEDED.uin}"
services = ["tiw", "tcss"]
credentials = [{{ secret_id = "{SEEDED.secret_id}", secret_key = "{SEEDED.secret_key}" }}]
sdk_apps = [{{ sdk_app_id = {SEEDED_SDK_APP}, secret_key = "seeded-usersig-key" }}]
""")
    ops = [{"seq": 1, "user_id": "teacher", "received_at_ms": 1_700_000_000_000, **stroke("s1", 0.4)},
           {"user_id": "teacher", **{"op": "mark"}}]
    (directory / "rooms" / str(SEEDED_SDK_APP) / "7.json").write_text(json.dumps(ops, indent=1))
    return directory


def test_a_seed_loads_accounts_and_room_logs(start_dev, tmp_path):
    server = start_dev("--seed", str(write_seed(tmp_path)))
    room = Room(server.base_url, SEEDED_SDK_APP, 7, "seeded-usersig-key", user_id="teacher")
    log = room.log()
    assert [(op["seq"], op["op"], op["user_id"]) for op in log] == [(1, "stroke", "teacher"), (2, "mark", "teacher")]
    assert log[0]["received_at_ms"] == 1_700_000_000_000
    task_id = snapshot(server, room, cred=SEEDED)
    done = wait_for("the seeded room's snapshot", lambda: (
        answer := describe_snapshot(server, task_id, SEEDED_SDK_APP, SEEDED)).Status == "Finished" and answer)
    assert done.Result.ErrorCode == "OK" and done.Result.Total == 1


@pytest.mark.parametrize("name,text,where", [
    ("rooms/1400000002/5.json", '[\n {"user_id": "a",\n  "op": "stroke", "points": oops}\n]', "5.json:3:"),
    ("rooms/1400000002/6.json", '[{"user_id": "a", "op": "stroke", "id": "s", "points": [], "color": "#000000", "width": 0.01}]', "6.json: operation [0]"),
    ("accounts.toml", '[[accounts]]\nuin = "1"\nmystery = 2\n', "accounts.toml"),
], ids=["bad-json", "invalid-op", "unknown-account-key"])
def test_a_malformed_seed_stops_the_start_naming_the_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
    proc = subprocess.run([str(conftest.BIN), "dev", "--listen", "127.0.0.1:0", "--seed", str(tmp_path)],
                          capture_output=True, text=True, timeout=30, env=conftest.server_env())
    assert proc.returncode != 0
    assert where in proc.stderr, proc.stderr
    if name == "accounts.toml":
        assert "line 3" in proc.stderr and "mystery" in proc.stderr, proc.stderr


def test_the_temporary_folder_is_removed_at_exit(start_dev, tmp_path):
    server = start_dev(env={"TMPDIR": str(tmp_path)})
    (folder,) = list(tmp_path.glob("taskgate-dev-*"))
    assert (folder / "taskgate.db").exists() or conftest.backend() == "postgres"
    assert server.terminate() == 0
    assert not folder.exists()


# ---- the control API ---------------------------------------------------------------------------------


def test_health_names_the_version_the_database_and_each_capability(dev):
    health = control(dev, "GET", "health").json()
    assert health["status"] == "ok" and health["database"] == conftest.backend() and health["version"]
    by_name = {c["name"]: c for c in health["capabilities"]}
    assert (by_name["whiteboard_push"]["tool"], by_name["image_import"]["tool"]) == ("ffmpeg", "qemu-img")
    assert all(c["available"] == (c["install"] is None) for c in by_name.values())


def test_an_inbox_records_requests_oldest_first_and_empties_on_delete(dev):
    for n in (1, 2):
        assert control(dev, "POST", "inbox/orders", json={"n": n}, headers={"X-Test": "yes"}).status_code == 200
    requests_seen = control(dev, "GET", "inbox/orders").json()["requests"]
    assert [r["json"] for r in requests_seen] == [{"n": 1}, {"n": 2}]
    assert ["x-test", "yes"] in requests_seen[0]["headers"] and requests_seen[0]["method"] == "POST"
    assert control(dev, "DELETE", "inbox/orders").json() == {"removed": 2}
    assert control(dev, "GET", "inbox/orders").json() == {"requests": []}
    assert control(dev, "POST", "inbox/..%2Fetc", data=b"x").status_code == 400


def test_a_snapshot_callback_lands_in_the_inbox_and_in_the_callback_list(dev):
    inbox = f"{dev.base_url}/_taskgate/inbox/snapshots"
    task_id = snapshot(dev, marked_room(dev, 20), CallbackURL=inbox)
    (arrived,) = wait_for("the callback", lambda: control(dev, "GET", "inbox/snapshots").json()["requests"])
    assert arrived["json"]["EventType"] == "SnapshotTaskFinished"
    assert arrived["json"]["EventData"]["TaskID"] == task_id
    (sent,) = control(dev, "GET", "callbacks", params={"task_id": task_id}).json()["callbacks"]
    assert (sent["url"], sent["state"], sent["body"]) == (inbox, "delivered", arrived["json"])
    (attempt,) = sent["attempts"]
    assert attempt["status"] == 200 and attempt["error"] is None and attempt["latency_ms"] >= 0
    by_event = control(dev, "GET", "callbacks", params={"event_type": "SnapshotTaskFinished"}).json()["callbacks"]
    assert task_id in [c["task_id"] for c in by_event]
    assert control(dev, "GET", "callbacks", params={"event_type": "NoSuchEvent"}).json()["callbacks"] == []


def test_a_failed_delivery_attempt_is_listed_with_its_status(dev):
    task_id = snapshot(dev, marked_room(dev, 21), CallbackURL=f"{dev.base_url}/_taskgate/no-such-endpoint")
    first = wait_for("a delivery attempt", lambda: [
        a for c in control(dev, "GET", "callbacks", params={"task_id": task_id}).json()["callbacks"]
        for a in c["attempts"]])[0]
    assert first["status"] == 404 and "404" in first["error"]


def test_an_image_import_is_listed_with_its_ecm_ids(dev, tmp_path):
    make_image(tmp_path, "disk.qcow2", "qcow2", "64M")
    images = ImageServer(tmp_path).start()
    try:
        request = ecm_models.ImportCustomImageRequest()
        request.ImageName, request.Architecture, request.OsType, request.OsVersion = "dev-img", "x86_64", "CentOS", "7"
        url = ecm_models.ImageUrl()
        url.ImageFile = images.url("disk.qcow2")
        request.ImageUrls = [url]
        answer = sdk_of(dev).ecm().ImportCustomImage(request)
        listed = wait_for("the import to succeed", lambda: [
            t for t in control(dev, "GET", "tasks", params={"service": "ecm", "state": "succeeded"}).json()["tasks"]
            if t["ids"]["ImageId"] == answer.ImageId])
    finally:
        images.stop()
    (task,) = listed
    assert (task["service"], task["kind"], task["account"]) == ("ecm", "ecm.import", DEV.uin)
    assert task["ids"]["TaskId"] == answer.TaskId


def test_tasks_refuses_an_unknown_state_or_service(dev):
    assert control(dev, "GET", "tasks", params={"state": "sleeping"}).status_code == 400
    assert control(dev, "GET", "tasks", params={"service": "cvm"}).status_code == 400


def test_reset_wipes_every_task_room_callback_and_inbox_then_describe_answers_not_found(start_dev):
    server = start_dev()
    room = marked_room(server, 30)
    task_id = snapshot(server, room, CallbackURL=f"{server.base_url}/_taskgate/inbox/before")
    wait_for("the callback", lambda: control(server, "GET", "inbox/before").json()["requests"])
    refresh_id = refresh(server, DEV)
    removed = control(server, "POST", "reset").json()
    assert removed["tasks"] == 2 and removed["callbacks"] == 1 and removed["inbox_records"] == 1
    assert removed["rooms"] == 1 and removed["room_operations"] == 2 and removed["files"] == 1
    with pytest.raises(TencentCloudSDKException) as raised:
        describe_snapshot(server, task_id)
    assert raised.value.code == "InvalidParameter"
    request = tcss_models.DescribeRefreshTaskRequest()
    request.TaskId = refresh_id
    assert sdk_of(server).tcss().DescribeRefreshTask(request).TaskStatus == "Task_NoExist"
    assert room.log() == []
    assert control(server, "GET", "tasks").json()["tasks"] == []
    assert control(server, "GET", "callbacks").json()["callbacks"] == []
    # A new refresh never reuses the TaskId of before the reset.
    assert refresh(server, DEV) > refresh_id


def test_reset_of_one_account_keeps_the_other_accounts_state(start_dev, tmp_path):
    server = start_dev("--seed", str(write_seed(tmp_path)))
    refresh(server, DEV)
    kept = refresh(server, SEEDED)
    removed = control(server, "POST", "reset", json={"account": DEV.uin}).json()
    assert removed["tasks"] == 1
    (task,) = control(server, "GET", "tasks").json()["tasks"]
    assert (task["account"], task["ids"]["TaskId"]) == (SEEDED.uin, kept)
    assert Room(server.base_url, SEEDED_SDK_APP, 7, "seeded-usersig-key").log() != []


def test_the_control_api_is_not_routed_by_serve_without_a_token(start_server):
    server = start_server()
    response = control(server, "GET", "health")
    assert response.status_code == 404 and "Response" not in response.text


def test_the_control_api_of_serve_needs_its_bearer_token(start_server):
    server = start_server(control={"token": "control-secret"})
    assert control(server, "GET", "health").status_code == 401
    assert control(server, "GET", "health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = control(server, "GET", "health", headers={"Authorization": "Bearer control-secret"})
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
