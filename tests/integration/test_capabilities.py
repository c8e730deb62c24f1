"""Host tools some actions need (ffmpeg with libx264 for whiteboard push, qemu-img for image
import): a missing one is named at start with its install hint, and the action that needs it is
refused at once, through the official Python SDK, instead of failing late."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tiw.v20190919 import models as tiw_models

from conftest import Sdk
from room_client import usersig
from support import MAIN_SDK_APP, USERSIG_KEY

MISSING_FFMPEG = "/nonexistent/taskgate-test/ffmpeg"
MISSING_QEMU_IMG = "/nonexistent/taskgate-test/qemu-img"
# "At once": no encoder restarts, no download; generous for a loaded CI machine.
AT_ONCE = 5.0


@pytest.fixture(scope="module")
def ffmpeg_without_libx264(tmp_path_factory) -> Path:
    """A program that answers `-encoders` as an ffmpeg built without libx264 does."""
    script = tmp_path_factory.mktemp("tools") / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        "cat <<'EOF'\n"
        "Encoders:\n"
        " V..... = Video\n"
        " A..... = Audio\n"
        " ------\n"
        " V....D mpeg4                MPEG-4 part 2\n"
        " V....D libopenh264          OpenH264 H.264 / AVC / MPEG-4 AVC (codec h264)\n"
        " A....D aac                  AAC (Advanced Audio Coding)\n"
        "EOF\n"
    )
    script.chmod(0o755)
    return script


def start_push(sdk: Sdk, room_id: int) -> str:
    """Calls StartWhiteboardPush with valid parameters."""
    user = f"tic_push_user_{room_id}"
    request = tiw_models.StartWhiteboardPushRequest()
    request.SdkAppId, request.RoomId, request.PushUserId = MAIN_SDK_APP, room_id, user
    request.PushUserSig = usersig(USERSIG_KEY, MAIN_SDK_APP, user)
    return sdk.tiw().StartWhiteboardPush(request).TaskId


def set_push_callback(sdk: Sdk, url: str) -> None:
    request = tiw_models.SetWhiteboardPushCallbackRequest()
    request.SdkAppId, request.Callback = MAIN_SDK_APP, url
    sdk.tiw().SetWhiteboardPushCallback(request)


def import_image(sdk: Sdk, image_url: str = "http://127.0.0.1:9/disk.qcow2") -> int:
    request = ecm_models.ImportCustomImageRequest()
    request.ImageName, request.Architecture, request.OsType, request.OsVersion = "img", "x86_64", "CentOS", "7"
    url = ecm_models.ImageUrl()
    url.ImageFile = image_url
    request.ImageUrls = [url]
    return sdk.ecm().ImportCustomImage(request).TaskId


def test_push_without_ffmpeg_is_refused_at_once_naming_ffmpeg(start_server):
    server = start_server(tiw={"ffmpeg": MISSING_FFMPEG})
    started = time.monotonic()
    with pytest.raises(TencentCloudSDKException) as raised:
        start_push(Sdk(server), 7001)
    assert time.monotonic() - started < AT_ONCE
    assert raised.value.code == "FailedOperation.WhiteboardPush"
    assert "ffmpeg is not installed or cannot be run" in raised.value.message
    assert "apt-get install ffmpeg" in raised.value.message
    assert MISSING_FFMPEG not in raised.value.message, "a tenant never sees a host path"


def test_push_with_an_ffmpeg_lacking_libx264_is_refused_naming_libx264(start_server, ffmpeg_without_libx264):
    server = start_server(tiw={"ffmpeg": str(ffmpeg_without_libx264)})
    with pytest.raises(TencentCloudSDKException) as raised:
        start_push(Sdk(server), 7002)
    assert raised.value.code == "FailedOperation.WhiteboardPush"
    assert "ffmpeg has no libx264 encoder" in raised.value.message


def test_import_without_qemu_img_is_refused_at_once_naming_qemu_img(start_server):
    server = start_server(ecm={"qemu_img": MISSING_QEMU_IMG})
    started = time.monotonic()
    with pytest.raises(TencentCloudSDKException) as raised:
        import_image(Sdk(server))
    assert time.monotonic() - started < AT_ONCE
    assert raised.value.code == "UnsupportedOperation"
    assert "qemu-img is not installed or cannot be run" in raised.value.message
    assert "apt-get install qemu-utils" in raised.value.message
    assert MISSING_QEMU_IMG not in raised.value.message, "a tenant never sees a host path"


def test_a_refused_import_leaves_no_task(start_server):
    server = start_server(ecm={"qemu_img": MISSING_QEMU_IMG})
    sdk = Sdk(server)
    with pytest.raises(TencentCloudSDKException):
        import_image(sdk)
    request = ecm_models.DescribeCustomImageTaskRequest()
    task_filter = ecm_models.Filter()
    task_filter.Name, task_filter.Values = "image-name", ["img"]
    request.Filters = [task_filter]
    assert sdk.ecm().DescribeCustomImageTask(request).TotalCount == 0


def test_the_start_log_names_each_missing_tool_and_its_install_hint(start_server):
    server = start_server(tiw={"ffmpeg": MISSING_FFMPEG}, ecm={"qemu_img": MISSING_QEMU_IMG})
    log = server.log_path.read_text(errors="replace")
    warnings = [line for line in log.splitlines() if "WARN" in line]
    push = [w for w in warnings if "ffmpeg is not installed" in w]
    imports = [w for w in warnings if "qemu-img is not installed" in w]
    assert len(push) == 1 and "StartWhiteboardPush" in push[0] and "apt-get install ffmpeg" in push[0]
    assert len(imports) == 1 and "ImportCustomImage" in imports[0] and "apt-get install qemu-utils" in imports[0]


def test_installed_tools_raise_no_warning(server):
    log = server.log_path.read_text(errors="replace")
    assert "ffmpeg" not in log and "qemu-img" not in log


def test_a_push_resumed_on_a_server_without_ffmpeg_stops_at_once_naming_it(start_server, receiver):
    first = start_server()
    set_push_callback(Sdk(first), receiver.url)
    task_id = start_push(Sdk(first), 7003)
    first.terminate()  # a graceful stop hands the push back to the queue
    second = start_server(config={**first.config, "tiw": {"ffmpeg": MISSING_FFMPEG}}, workdir=first.workdir)
    stopped = receiver.wait_until(
        lambda b: b["EventType"] == "WhiteboardPushStopped" and b["EventData"]["TaskId"] == task_id,
        f"WhiteboardPushStopped for {task_id}", deadline=AT_ONCE * 4,
    )["EventData"]
    assert stopped["FinishReason"] == "EXCEPTION"
    assert "ffmpeg is not installed or cannot be run" in stopped["Error"]["Message"]
    request = tiw_models.DescribeWhiteboardPushRequest()
    request.SdkAppId, request.TaskId = MAIN_SDK_APP, task_id
    assert Sdk(second).tiw().DescribeWhiteboardPush(request).Status == "STOPPED"


def test_an_import_resumed_on_a_server_without_qemu_img_fails_naming_it(start_server):
    # The first server's download hangs on a socket that never answers, until SIGKILL.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/disk.qcow2"
        first = start_server(engine={"lease_secs": 2, "reap_interval_secs": 1})
        task_id = import_image(Sdk(first), url)
        first.kill()
    second = start_server(config={**first.config, "ecm": {"qemu_img": MISSING_QEMU_IMG}}, workdir=first.workdir)
    request = ecm_models.DescribeCustomImageTaskRequest()
    task_filter = ecm_models.Filter()
    task_filter.Name, task_filter.Values = "task-id", [str(task_id)]
    request.Filters = [task_filter]
    until = time.monotonic() + AT_ONCE * 4
    while (task := Sdk(second).ecm().DescribeCustomImageTask(request).ImageTaskSet[0]).State != "FAILED":
        assert time.monotonic() < until, f"import {task_id} still {task.State}"
        time.sleep(0.1)
    assert "qemu-img is not installed or cannot be run" in task.Message
