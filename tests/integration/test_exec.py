"""`taskgate exec [dev options] -- CMD…`: a dev server for the length of one command. CMD's exit
status comes back (as a shell's `$?`), CMD sees the variables of `--print-env` and can call the
server with the official SDKs, signals to exec reach CMD, and the temporary folder is gone after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import conftest

CHILD_SDK_CALL = """
import os
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ecm.v20190719 import ecm_client, models

cred = credential.EnvironmentVariableCredential().get_credential()
host = os.environ["TASKGATE_ENDPOINT"].removeprefix("http://")
client = ecm_client.EcmClient(cred, "", ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=host)))
print("images:", client.DescribeImage(models.DescribeImageRequest()).TotalCount)
print("secret id:", os.environ["TENCENTCLOUD_SECRET_ID"])
"""


def exec_command(workdir: Path, *command: str, env: dict | None = None) -> tuple[list[str], dict]:
    """The argv and environment of `taskgate exec` on a free port with a fresh database of the
    backend, running `command`."""
    data_dir = workdir / "db"
    data_dir.mkdir(exist_ok=True)
    database = {} if conftest.backend() == "sqlite" else {
        "TASKGATE_DATABASE_URL": conftest.fresh_database_url(data_dir)}
    return [str(conftest.BIN), "exec", "--listen", "127.0.0.1:0", "--", *command], conftest.server_env(
        {**database, **(env or {})})


def run_exec(workdir: Path, *command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    argv, full_env = exec_command(workdir, *command, env=env)
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_exec_exits_zero_when_the_command_succeeds(tmp_path):
    assert run_exec(tmp_path, "true").returncode == 0


def test_exec_exits_with_the_commands_status(tmp_path):
    assert run_exec(tmp_path, "sh", "-c", "exit 3").returncode == 3


def test_a_command_killed_by_a_signal_makes_exec_exit_128_plus_the_signal(tmp_path):
    assert run_exec(tmp_path, "sh", "-c", "kill -KILL $$").returncode == 128 + signal.SIGKILL


def test_a_command_not_found_exits_127_naming_it(tmp_path):
    proc = run_exec(tmp_path, "no-such-command-taskgate")
    assert proc.returncode == 127
    assert "no-such-command-taskgate: command not found" in proc.stderr


def test_the_command_reads_the_credentials_from_the_environment_and_calls_the_server(tmp_path):
    proc = run_exec(tmp_path, sys.executable, "-c", CHILD_SDK_CALL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["images: 0", "secret id: AKIDtaskgatedev000000000000000000000"]


def test_the_command_alone_writes_to_stdout(tmp_path):
    proc = run_exec(tmp_path, "echo", "only this")
    assert proc.stdout == "only this\n"
    assert "taskgate dev listening on http://127.0.0.1:" in proc.stderr


def test_the_temporary_folder_is_removed_after_the_command(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    proc = run_exec(tmp_path, "sh", "-c", 'ls -d "$TMPDIR"/taskgate-dev-*', env={"TMPDIR": str(temporary)})
    assert proc.returncode == 0, proc.stderr
    (seen,) = proc.stdout.split()
    assert Path(seen).parent == temporary
    assert list(temporary.iterdir()) == []


def test_sigterm_to_exec_is_forwarded_to_the_command(tmp_path):
    ready = tmp_path / "ready"
    child = (f"import signal, sys, time, pathlib\n"
             f"signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
             f"pathlib.Path({str(ready)!r}).touch()\n"
             f"time.sleep(60)\n")
    argv, env = exec_command(tmp_path, sys.executable, "-c", child)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_readme_node_example_passes_under_exec(tmp_path):
    example = conftest.NODE_DIR / "example.test.mjs"
    proc = run_exec(tmp_path, "node", "--test", str(example))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# pass 1" in proc.stdout
