"""The pytest plugin (entry point `pytest11`): the `taskgate` session fixture, the reset after
each test, the `taskgate_keep_state` marker and the `--taskgate-bin` option."""

from __future__ import annotations

import os
import shutil

import pytest

from pytest_taskgate.emulator import Taskgate

KEEP_STATE = "taskgate_keep_state"


def pytest_addoption(parser):
    group = parser.getgroup("taskgate")
    group.addoption("--taskgate-bin", metavar="PATH", default=None,
                    help="the taskgate binary (default: $TASKGATE_BIN, else `taskgate` on PATH)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{KEEP_STATE}: do not reset the taskgate server after this test (the next test sees its state)")


def _binary(config) -> str:
    chosen = config.getoption("taskgate_bin") or os.environ.get("TASKGATE_BIN") or shutil.which("taskgate")
    if not chosen:
        raise pytest.UsageError("taskgate binary not found: pass --taskgate-bin PATH, set TASKGATE_BIN or put "
                                "`taskgate` on PATH")
    return chosen


@pytest.fixture(scope="session")
def taskgate(request, tmp_path_factory) -> Taskgate:
    """A `taskgate dev` server for the whole session, on a free loopback port, with the
    well-known credentials; stopped (SIGTERM) at session end. Its log is `taskgate.log` in the
    session's temporary folder. See `pytest_taskgate.Taskgate` for what it offers."""
    log_path = tmp_path_factory.mktemp("taskgate") / "taskgate.log"
    try:
        server = Taskgate.start(_binary(request.config), log_path)
    except (RuntimeError, OSError) as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _taskgate_reset(request):
    """After a test that used `taskgate`, resets the server (tasks, rooms, images, callbacks,
    inboxes, rules, faults) unless the test is marked `taskgate_keep_state`. Tests that did not
    use it do not start it."""
    yield
    if "taskgate" in request.fixturenames and request.node.get_closest_marker(KEEP_STATE) is None:
        request.getfixturevalue("taskgate").reset()
