"""pytest fixtures for testing an application against taskgate, the Tencent Cloud API 3.0 emulator.

Installing the package registers the plugin (`pytest_taskgate.plugin`): the session fixture
`taskgate` runs `taskgate dev` on a free loopback port for the whole session and is reset after
every test that used it, unless the test is marked `@pytest.mark.taskgate_keep_state`.
"""

from pytest_taskgate.emulator import Inbox, Taskgate, TaskgateError

__all__ = ["Inbox", "Taskgate", "TaskgateError"]
