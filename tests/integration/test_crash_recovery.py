"""Nothing accepted is lost: SIGKILL the server while hundreds of imports run, restart it on the
same data, and every accepted task finishes, exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter

from tencentcloud.ecm.v20190719 import models

from conftest import Sdk
from image_server import ImageServer, make_image

TASKS = 200
DEADLINE = 180.0


def describe_all(sdk: Sdk, names: list[str]) -> dict[str, str]:
    """Image name -> task state, for the given names."""
    states = {}
    for start in range(0, len(names), 50):
        request = models.DescribeCustomImageTaskRequest()
        f = models.Filter()
        f.Name, f.Values = "image-name", names[start:start + 50]
        request.Filters = [f]
        for task in sdk.ecm().DescribeCustomImageTask(request).ImageTaskSet:
            states[task.ImageName] = task.State
    return states


def test_imports_survive_sigkill_and_finish_exactly_once(start_server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("crash-images")
    make_image(directory, "disk.raw", "raw", "1M")
    # Downloads wait until every task is accepted, so the kill below lands while most are unfinished
    # however fast an import is.
    gate = threading.Event()
    images = ImageServer(directory, gate).start()
    try:
        first = start_server(engine={"lease_secs": 2, "reap_interval_secs": 1}, concurrency={"ecm.import": 2})
        sdk = Sdk(first)
        names = [f"crash{i}" for i in range(TASKS)]
        accepted = {}
        for name in names:
            request = models.ImportCustomImageRequest()
            request.ImageName, request.Architecture, request.OsType, request.OsVersion = name, "x86_64", "Debian", "12"
            url = models.ImageUrl()
            url.ImageFile = images.url("disk.raw")
            request.ImageUrls = [url]
            accepted[name] = sdk.ecm().ImportCustomImage(request).ImageId

        gate.set()
        # Kill while work is under way: some tasks done, most not.
        deadline = time.monotonic() + DEADLINE
        while (done := Counter(describe_all(sdk, names).values())["SUCCESS"]) < TASKS // 10:
            assert time.monotonic() < deadline, "no import finished before the kill"
            time.sleep(0.02)
        first.kill()
        assert done < TASKS // 2, f"{done} of {TASKS} had finished: the kill came too late to prove anything"

        second = start_server(config=first.config, workdir=first.workdir)
        sdk = Sdk(second)
        while True:
            states = describe_all(sdk, names)
            if all(states.get(n) in ("SUCCESS", "FAILED") for n in names):
                break
            assert time.monotonic() < deadline, f"unfinished after restart: {Counter(states.values())}"
            time.sleep(0.2)
        assert Counter(states.values()) == Counter({"SUCCESS": TASKS})

        stored = sorted(p.name for p in (first.workdir / "data" / "images").glob("img-*"))
        assert stored == sorted(f"{image_id}.raw" for image_id in accepted.values()), "each image stored exactly once"
        leftovers = list((first.workdir / "data" / "images" / ".staging").iterdir())
        assert leftovers == [], leftovers
    finally:
        images.stop()
