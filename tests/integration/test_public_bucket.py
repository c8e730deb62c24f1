"""The public bucket in S3 (`[objects.public]`): snapshot URLs are `base_url/<key>` whichever node
wrote them, a node serves the bucket at `/files`, and a PostgreSQL start keeps no node-local bucket
unless it says it is the only node."""

from __future__ import annotations

import struct
import subprocess
import time

import pytest
import requests

import support
from conftest import BIN, Sdk
from room_client import Room
from support import MAIN_SDK_APP, USERSIG_KEY

DEADLINE = 60.0
_rooms = iter(range(200_000, 300_000))


def snapshot_urls(server) -> list[str]:
    """A room with one mark, snapshotted into the public bucket; the returned URLs."""
    room = Room(server.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY)
    room.send({"op": "stroke", "id": "a", "points": [[0.2, 0.5], [0.8, 0.5]], "color": "#FF0000", "width": 0.02},
              {"op": "mark"})
    api = support.Api(server.base_url)
    try:
        task_id = support.ok(api.tc3("CreateSnapshotTask", {
            "SdkAppId": MAIN_SDK_APP, "RoomId": room.room_id,
            "Whiteboard": {"Width": 640, "Height": 360, "InitParams": '{"ratio":"16:9"}'},
        }))["TaskID"]
        deadline = time.monotonic() + DEADLINE
        while (answer := support.ok(api.tc3("DescribeSnapshotTask", {"SdkAppId": MAIN_SDK_APP, "TaskID": task_id})))[
                "Status"] != "Finished":
            assert time.monotonic() < deadline, f"{task_id} still running"
            time.sleep(0.05)
    finally:
        api.close()
    assert answer["Result"]["ErrorCode"] == "OK", answer
    return answer["Result"]["Snapshots"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_a_snapshot_url_is_the_base_url_and_its_key_in_the_s3_public_bucket(start_server, s3_endpoint):
    objects = support.s3_public_objects(s3_endpoint)
    server = start_server(objects=objects)
    [url] = snapshot_urls(server)
    base_url, bucket = objects["public"]["base_url"], objects["public"]["bucket"]
    assert url.startswith(f"{base_url}/taskgate/"), url
    key = url[len(base_url) + 1:]
    assert png_size(support.s3_get(s3_endpoint, bucket, key)) == (640, 360)
    assert not (server.workdir / "data" / "files").exists(), "nothing went to the node's folder"


def test_every_node_serves_the_s3_public_bucket_at_files(start_server, s3_endpoint):
    objects = support.s3_public_objects(s3_endpoint, base_url="http://public.test/files")
    writer = start_server(objects=objects)
    [url] = snapshot_urls(writer)
    assert url.startswith("http://public.test/files/taskgate/"), url
    path = url[len("http://public.test"):]
    # Another node on its own data folder: the object is still one GET away.
    reader = start_server(objects=objects)
    response = requests.get(reader.base_url + path, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert png_size(response.content) == (640, 360)
    assert requests.get(f"{reader.base_url}/files/taskgate/no/such.png", timeout=30).status_code == 404
    bucket = objects["public"]["bucket"]
    assert requests.put(f"{s3_endpoint}/{bucket}/private.txt", data=b"x", timeout=30).status_code == 200
    assert requests.get(f"{reader.base_url}/files/private.txt", timeout=30).status_code == 404, \
        "only the public prefix is served"


def test_a_public_bucket_an_account_owns_is_refused_at_start(tmp_path, s3_endpoint):
    objects = support.s3_public_objects(s3_endpoint)
    objects["public"]["bucket"] = f"shared-{support.MAIN_APP_ID}"
    config = support.base_config(str(tmp_path), f"sqlite://{tmp_path}/taskgate.db", objects=objects)
    (tmp_path / "taskgate.toml").write_text(support.to_toml(config))
    run = subprocess.run([str(BIN), "serve", "--config", str(tmp_path / "taskgate.toml")], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    assert "[objects.public]" in run.stderr and "bucket of account" in run.stderr, run.stderr


@pytest.mark.parametrize("single_node", [False, True])
def test_postgres_with_the_node_local_bucket_needs_single_node(tmp_path, single_node):
    # Nothing listens there: a refused start never opens the database, an allowed one fails at it.
    config = support.base_config(str(tmp_path), "postgres://taskgate@127.0.0.1:9/none",
                                 objects={"single_node": single_node})
    (tmp_path / "taskgate.toml").write_text(support.to_toml(config))
    run = subprocess.run([str(BIN), "serve", "--config", str(tmp_path / "taskgate.toml")], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    refused = "[objects.public]" in run.stderr and "single_node" in run.stderr
    assert refused != single_node, run.stderr
