"""Concurrent whiteboard pushes (1280x720 at 15 fps) with people drawing in every room, against
the encoder alone fed pre-rendered frames in the same run. Run by bench/push.sh.

Real time means no frame skipped (`taskgate_push_frames_dropped` stays still) over the run.
CPU is the server's plus its ffmpeg children's (reaped when the pushes stop)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from room_client import Room, usersig  # noqa: E402
from tiw_server import tiw_server  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.tiw.v20190919 import models, tiw_client  # noqa: E402

BIN = Path(os.environ["TASKGATE_BIN"])
PUSHES = int(os.environ.get("BENCH_PUSHES", "6"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
WIDTH, HEIGHT, FPS, KBPS = 1280, 720, 15, 1200
BASELINE_FRAMES = 900
SDK_APP, APP_KEY = 1400000099, "bench-push-usersig-key"
SECRET_ID, SECRET_KEY = "AKIDbenchPush000000000000000000000001", "bench-push-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def encoder_alone(work: Path) -> tuple[float, float]:
    """Frames/s and CPU seconds/frame of ffmpeg encoding pre-rendered board frames (white, with
    a stroke that grows every frame), with the push's encoder settings, unpaced."""
    frames = work / "frames.yuv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
         f"color=white:s={WIDTH}x{HEIGHT}:r={FPS},drawbox=x=100:y=300:w=20+t*15:h=12:c=red:t=fill",
         "-frames:v", str(BASELINE_FRAMES), "-pix_fmt", "yuv420p", "-f", "rawvideo", str(frames)],
        check=True,
    )
    out = work / "baseline"
    out.mkdir()
    cpu, started = children_cpu(), time.monotonic()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", f"{WIDTH}x{HEIGHT}",
         "-framerate", str(FPS), "-i", str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
         "-b:v", f"{KBPS}k", "-maxrate", f"{KBPS}k", "-bufsize", f"{2 * KBPS}k", "-g", str(2 * FPS),
         "-keyint_min", str(2 * FPS), "-sc_threshold", "0", "-f", "hls", "-hls_time", "2", "-hls_list_size", "30",
         "-hls_flags", "delete_segments", str(out / "index.m3u8")],
        check=True,
    )
    elapsed, used = time.monotonic() - started, children_cpu() - cpu
    return BASELINE_FRAMES / elapsed, used / BASELINE_FRAMES


def process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def metric(base: str, name: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    match = re.search(rf"^{name}_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def draw(room: Room, stop: threading.Event):
    """Someone drawing: a stroke of a few points five times a second, across the board."""
    i = 0
    while not stop.is_set():
        y = 0.1 + (i % 80) / 100
        room.send({"op": "stroke", "id": f"s{i}", "points": [[0.1, y], [0.4, y + 0.02], [0.9, y]],
                   "color": "#1F3A93", "width": 0.004})
        i += 1
        stop.wait(0.2)


def main():
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-push-"))
    alone_fps, alone_cpu = encoder_alone(work)
    stop_drawing = threading.Event()
    try:
        with tiw_server(work, uin="100000000010", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app=SDK_APP,
                        app_key=APP_KEY, extra_toml=f"[tiw]\npush_max_concurrent = {PUSHES}") as (proc, base):
            client = tiw_client.TiwClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-singapore",
                                          ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=base[7:])))
            rooms = [Room(base, SDK_APP, 100 + i, APP_KEY, user_id=f"teacher{i}") for i in range(PUSHES)]
            tasks = []
            for room in rooms:
                request = models.StartWhiteboardPushRequest()
                request.SdkAppId, request.RoomId = SDK_APP, room.room_id
                request.PushUserId = f"push_{room.room_id}"
                request.PushUserSig = usersig(APP_KEY, SDK_APP, request.PushUserId)
                board = models.Whiteboard()
                board.Width, board.Height, board.InitParam = WIDTH, HEIGHT, '{"ratio":"16:9"}'
                request.Whiteboard, request.VideoFPS, request.VideoBitrate = board, FPS, KBPS
                tasks.append(client.StartWhiteboardPush(request).TaskId)
            describe = models.DescribeWhiteboardPushRequest()
            describe.SdkAppId = SDK_APP
            for task_id in tasks:
                describe.TaskId = task_id
                while client.DescribeWhiteboardPush(describe).Status != "PUSHING":
                    time.sleep(0.1)
            drawers = [threading.Thread(target=draw, args=(room, stop_drawing), daemon=True) for room in rooms]
            for t in drawers:
                t.start()
            time.sleep(2)  # every pipeline past its start-up
            frames0, dropped0 = metric(base, "taskgate_push_frames"), metric(base, "taskgate_push_frames_dropped")
            cpu0, started = process_cpu(proc.pid), time.monotonic()
            time.sleep(SECONDS)
            frames = metric(base, "taskgate_push_frames") - frames0
            dropped = metric(base, "taskgate_push_frames_dropped") - dropped0
            elapsed = time.monotonic() - started
            stop_drawing.set()
            for task_id in tasks:
                request = models.StopWhiteboardPushRequest()
                request.SdkAppId, request.TaskId = SDK_APP, task_id
                client.StopWhiteboardPush(request)
            for task_id in tasks:
                describe.TaskId = task_id
                while client.DescribeWhiteboardPush(describe).Status != "STOPPED":
                    time.sleep(0.1)
            # The encoders exited and were reaped: their CPU is in the server's children time. The
            # seconds after the window (stopping) add a little to it; they are not subtracted.
            cpu = process_cpu(proc.pid) - cpu0
    finally:
        stop_drawing.set()
        subprocess.run(["rm", "-rf", str(work)], check=False)

    cores = os.cpu_count() or 1
    expected = PUSHES * FPS * elapsed
    per_frame = cpu / max(frames, 1)
    print(f"encoder alone (ffmpeg libx264 ultrafast, {BASELINE_FRAMES} pre-rendered {WIDTH}x{HEIGHT} frames): "
          f"{alone_fps:.0f} frames/s, {alone_cpu * 1000:.2f} ms CPU/frame "
          f"-> {cores / (alone_cpu * FPS):.1f} streams of {FPS} fps on {cores} cores")
    print(f"{PUSHES} pushes {WIDTH}x{HEIGHT}@{FPS} for {elapsed:.0f} s with 5 strokes/s per room: "
          f"{frames:.0f} frames of {expected:.0f} due, {dropped:.0f} dropped")
    print(f"CPU: {cpu / elapsed / PUSHES:.3f} cores per push, {per_frame * 1000:.2f} ms/frame "
          f"(render, YUV, encode, mux), {cpu / elapsed:.2f} of {cores} cores in all")
    print(f"ratio (encoder-alone CPU per frame / push CPU per frame): {alone_cpu / per_frame:.2f}")
    print(f"real time: {'yes' if dropped == 0 else 'NO'}  (target: >= 6 concurrent pushes on 2 cores)")


if __name__ == "__main__":
    main()
