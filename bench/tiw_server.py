"""One `taskgate serve` for a tiw benchmark: a fresh config with one account owning one SdkAppId,
started from `TASKGATE_BIN`, its URL read from the listening line, stopped on leaving."""

from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tiw_server(work: Path, *, uin: str, secret_id: str, secret_key: str, sdk_app: int, app_key: str,
               extra_toml: str = ""):
    """Yields `(process, base_url)`; `extra_toml` holds top-level tables such as `[tiw]`."""
    (work / "taskgate.toml").write_text(f"""
listen = "127.0.0.1:0"
data_dir = "{work / 'data'}"
{extra_toml}
[[accounts]]
uin = "{uin}"
services = ["tiw"]
[[accounts.credentials]]
secret_id = "{secret_id}"
secret_key = "{secret_key}"
[[accounts.sdk_apps]]
sdk_app_id = {sdk_app}
secret_key = "{app_key}"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    proc = subprocess.Popen([os.environ["TASKGATE_BIN"], "serve", "--config", str(work / "taskgate.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        line = proc.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"taskgate did not start: {line}")
        yield proc, re.search(r"(http://\S+)", line).group(1)
    finally:
        proc.terminate()
        proc.wait(30)
