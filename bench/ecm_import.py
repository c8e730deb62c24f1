"""ImportCustomImage throughput of a sparse raw image over loopback HTTP against `curl` of the
same URL, with the server's peak RSS. Run by bench/ecm_import.sh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from image_server import ImageServer  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.ecm.v20190719 import ecm_client, models  # noqa: E402

SIZE = os.environ.get("BENCH_IMAGE_SIZE", "2G")
BIN = Path(os.environ["TASKGATE_BIN"])
SECRET_ID, SECRET_KEY = "AKIDbenchEcmImport00000000000000001", "bench-ecm-import-secret"


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def main():
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-ecm-"))
    images = work / "images"
    images.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", "disk.raw", SIZE], cwd=images, check=True)
    size = (images / "disk.raw").stat().st_size
    server = ImageServer(images).start()
    url = server.url("disk.raw")

    started = time.monotonic()
    subprocess.run(["curl", "-sSf", "-o", str(work / "curl.raw"), url], check=True)
    curl_secs = time.monotonic() - started
    (work / "curl.raw").unlink()

    (work / "taskgate.toml").write_text(f"""
listen = "127.0.0.1:0"
data_dir = "{work / 'data'}"
allow_private_callback_targets = true
[ecm]
max_image_bytes = {size * 2}
[[accounts]]
uin = "100000000009"
services = ["ecm"]
[[accounts.credentials]]
secret_id = "{SECRET_ID}"
secret_key = "{SECRET_KEY}"
""")
    # Every TASKGATE_* variable is a configuration key to the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(work / "taskgate.toml")], stdout=subprocess.PIPE, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"taskgate did not start: {line}{proc.stderr.read()}")
        endpoint = re.search(r"http://(\S+)", line).group(1)
        client = ecm_client.EcmClient(credential.Credential(SECRET_ID, SECRET_KEY), "",
                                      ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint)))
        request = models.ImportCustomImageRequest()
        request.ImageName, request.Architecture, request.OsType, request.OsVersion = "bench", "x86_64", "CentOS", "7"
        entry = models.ImageUrl()
        entry.ImageFile = url
        request.ImageUrls = [entry]
        started = time.monotonic()
        task_id = client.ImportCustomImage(request).TaskId
        query = models.DescribeCustomImageTaskRequest()
        f = models.Filter()
        f.Name, f.Values = "task-id", [str(task_id)]
        query.Filters = [f]
        while True:
            task = client.DescribeCustomImageTask(query).ImageTaskSet[0]
            if task.State in ("SUCCESS", "FAILED"):
                break
            time.sleep(0.05)
        import_secs = time.monotonic() - started
        assert task.State == "SUCCESS", task.Message
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)

    mib = size / (1 << 20)
    print(f"image: {mib:.0f} MiB sparse raw over loopback HTTP")
    print(f"baseline curl:   {curl_secs:6.2f} s  {mib / curl_secs:8.1f} MiB/s")
    print(f"taskgate import: {import_secs:6.2f} s  {mib / import_secs:8.1f} MiB/s  (download, SHA-256+MD5, inspect, store)")
    print(f"ratio (import throughput / curl throughput): {curl_secs / import_secs:.2f}  (target >= 0.80)")
    print(f"server peak RSS: {rss / 1024:.1f} MiB  (target < 64 MiB)")


if __name__ == "__main__":
    main()
