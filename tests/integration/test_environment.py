"""How `taskgate serve` reads its environment: TASKGATE_* variables that are configuration keys
apply (nested ones too), others are warned about and ignored, an unknown key in the TOML file
still stops the start, and the log carries no colour codes when it is not a terminal."""

from __future__ import annotations

import signal
import subprocess

import conftest
import support

MISSING_FFMPEG = "/nonexistent/taskgate-test/ffmpeg"


def warnings_of(server) -> list[str]:
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if "WARN" in line]


def test_variables_that_name_no_key_are_warned_about_and_ignored(start_server):
    server = start_server(env={"TASKGATE_BIN": "/usr/local/bin/taskgate", "TASKGATE_ENDPOINT": "http://127.0.0.1:1"})
    warnings = warnings_of(server)
    for name in ("TASKGATE_BIN", "TASKGATE_ENDPOINT"):
        assert [w for w in warnings if name in w and "names no configuration key" in w], warnings


def test_a_nested_key_from_the_environment_applies(start_server):
    server = start_server(env={"TASKGATE_TIW__FFMPEG": MISSING_FFMPEG})
    assert [w for w in warnings_of(server) if "ffmpeg is not installed" in w]
    assert not [w for w in warnings_of(server) if "TASKGATE_TIW__FFMPEG" in w]


def test_an_unknown_key_in_the_config_file_stops_the_start(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = support.base_config(str(data_dir), conftest.fresh_database_url(data_dir), no_such_key=1)
    config_path = tmp_path / "taskgate.toml"
    config_path.write_text(support.to_toml(config))
    done = subprocess.run([str(conftest.BIN), "serve", "--config", str(config_path)], capture_output=True,
                          text=True, env=conftest.server_env(), timeout=60)
    assert done.returncode != 0
    assert "unknown field" in done.stderr and "no_such_key" in done.stderr


def test_the_log_through_a_pipe_has_no_escape_codes(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = support.base_config(str(data_dir), conftest.fresh_database_url(data_dir))
    config_path = tmp_path / "taskgate.toml"
    config_path.write_text(support.to_toml(config))
    # An unknown variable makes sure the log holds a warning (the level is what gets coloured).
    env = conftest.server_env({"TASKGATE_BIN": "/usr/local/bin/taskgate"})
    proc = subprocess.Popen([str(conftest.BIN), "serve", "--config", str(config_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        for line in proc.stdout:
            if conftest.LISTENING.match(line.decode()):
                break
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=conftest.STOP_DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert b"WARN" in stderr and b"TASKGATE_BIN" in stderr
    assert b"\x1b" not in stderr
