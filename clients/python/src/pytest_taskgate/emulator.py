"""A running `taskgate dev` and the handles a test needs: SDK clients, inboxes, rules, faults, reset."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import requests
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

#: The well-known credentials of dev mode (public: never use them anywhere else).
SECRET_ID = "AKIDtaskgatedev000000000000000000000"
SECRET_KEY = "taskgatedevsecretkey000000000000"
#: The well-known account, its tiw SdkAppId and that SdkAppId's UserSig key.
UIN = "100000000001"
SDK_APP_ID = 1400000001
USER_SIG_KEY = "taskgatedevusersigkey"

_LISTENING = re.compile(r"^taskgate dev listening on http://(\S+)\s*$")
# Variables of ours that are not server configuration keys; the server would warn about them.
_NOT_CONFIGURATION = ("TASKGATE_BIN", "TASKGATE_ENDPOINT")
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
_REQUEST_TIMEOUT = 30.0


def _clients() -> dict:
    from tencentcloud.ecm.v20190719 import ecm_client
    from tencentcloud.tcss.v20201101 import tcss_client
    from tencentcloud.tiw.v20190919 import tiw_client

    # The region each product's real service wants by default: tiw answers only ap-singapore;
    # tcss and ecm take any served region or none.
    return {
        "tiw": (tiw_client.TiwClient, "ap-singapore"),
        "tcss": (tcss_client.TcssClient, ""),
        "ecm": (ecm_client.EcmClient, ""),
    }


class TaskgateError(Exception):
    """The control API refused a request; the message is the server's."""

    def __init__(self, status: int, message: str):
        super().__init__(f"taskgate answered HTTP {status}: {message}")
        self.status = status
        self.message = message


class Inbox:
    """A callback inbox of the server: point a product's `CallbackURL` at `.url` and read what
    arrived. Records live until the next reset or `.clear()`."""

    def __init__(self, taskgate: "Taskgate", name: str):
        self._taskgate = taskgate
        self.name = name
        #: The URL to give as a callback target, `http://127.0.0.1:PORT/_taskgate/inbox/NAME`.
        self.url = f"{taskgate.endpoint}/_taskgate/inbox/{name}"

    def requests(self) -> list[dict]:
        """The recorded requests, oldest first: dicts with `method`, `query`, `headers` (a list of
        `[name, value]`), `body`, `json` (the parsed body, or None) and the time received."""
        return self._taskgate.control("GET", f"inbox/{self.name}").json()["requests"]

    def wait(self, count: int = 1, timeout: float = 30) -> list[dict]:
        """Waits until at least `count` requests arrived (polling every 0.1 s) and returns all of
        them; raises `TimeoutError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests()
            if len(seen) >= count:
                return seen
            if time.monotonic() >= deadline:
                raise TimeoutError(f"inbox {self.name!r}: {len(seen)} of {count} requests after {timeout} s")
            time.sleep(0.1)

    def clear(self) -> int:
        """Empties the inbox; returns how many requests it held."""
        return self._taskgate.control("DELETE", f"inbox/{self.name}").json()["removed"]


class Taskgate:
    """One `taskgate dev` process on a free loopback port, started by `Taskgate.start`.

    Attributes: `endpoint` (`http://127.0.0.1:PORT`), `host` (`127.0.0.1:PORT`, what the SDKs'
    `HttpProfile.endpoint` takes), `credential` (an SDK `Credential` of the well-known keys).
    """

    def __init__(self, process: subprocess.Popen, host: str, log_path: Optional[Path]):
        self._process = process
        self._log_path = log_path
        self.host = host
        self.endpoint = f"http://{host}"
        self.credential = credential.Credential(SECRET_ID, SECRET_KEY)
        self._session = requests.Session()
        # The control API is on loopback: a proxy from the environment must not intercept it.
        self._session.trust_env = False

    @classmethod
    def start(cls, binary: str, log_path: Optional[Path] = None, args: tuple = ()) -> "Taskgate":
        """Runs `BINARY dev --listen 127.0.0.1:0 ARGS…` and waits for its listening line.

        The server's stderr goes to `log_path` (discarded without one). Raises `RuntimeError`
        with the log's tail if it exits or prints nothing within 60 s."""
        env = {k: v for k, v in os.environ.items() if k not in _NOT_CONFIGURATION}
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                [binary, "dev", "--listen", "127.0.0.1:0", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env, text=True,
            )
        finally:
            if log_path:
                log.close()
        found: list[str] = []
        listening = threading.Event()

        def read_stdout():
            # Reads to the end, so that the banner never fills the pipe.
            for line in process.stdout:
                match = _LISTENING.match(line)
                if match and not found:
                    found.append(match.group(1))
                    listening.set()

        threading.Thread(target=read_stdout, name="taskgate-stdout", daemon=True).start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not listening.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                raise RuntimeError(
                    f"taskgate dev did not start (exit status {process.returncode})\n{_tail(log_path)}")
        return cls(process, found[0], log_path)

    def stop(self) -> Optional[int]:
        """SIGTERM, then waits up to 15 s (then kills); returns the exit status. The server
        removes its temporary folder as it exits."""
        self._session.close()
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    def client(self, service: str, region: Optional[str] = None):
        """An official SDK client of `service` (`"tiw"`, `"tcss"` or `"ecm"`) signed with the
        well-known credentials and pointed at this server over plain HTTP. `region` defaults to
        `ap-singapore` for tiw (the only region it serves) and to none for tcss and ecm."""
        clients = _clients()
        if service not in clients:
            raise ValueError(f"unknown service {service!r}: use one of {', '.join(clients)}")
        client_class, default_region = clients[service]
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=self.host))
        return client_class(self.credential, default_region if region is None else region, profile)

    def inbox(self, name: str) -> Inbox:
        """The callback inbox `name` (letters, digits, `-`, `_`, `.`); created by its first request."""
        return Inbox(self, name)

    def rule(self, **fields: Any) -> Any:
        """Sets a task rule (`POST /_taskgate/rules`): `service`, `action`, and optionally
        `account`, `mode` (`"real"`, `"delay"`, `"manual"`), `delay_ms`, `outcome` (`"as-run"`,
        `"success"`, `"failure"`), `error_code`, `error_message`, `count`. Returns its id; raises
        `TaskgateError` with the server's reason if refused."""
        return self.control("POST", "rules", json=fields).json()["id"]

    def fault(self, **fields: Any) -> Any:
        """Injects a fault on the API (`POST /_taskgate/faults`): optionally `service`, `action`,
        `account`, `probability` (0 to 1), `error_code`, `error_message`, `latency_ms`, `count`,
        `seed`. Returns its id; raises `TaskgateError` with the server's reason if refused."""
        return self.control("POST", "faults", json=fields).json()["id"]

    def finish(self, service: str, task_id: Any, outcome: str = "success", **fields: Any) -> dict:
        """Ends a task held by a `mode="manual"` rule: `outcome` `"success"` or `"failure"`
        (with `error_code`, `error_message`)."""
        return self.control("POST", f"tasks/{service}/{task_id}/finish", json={"outcome": outcome, **fields}).json()

    def reset(self) -> dict:
        """Wipes every account's tasks, rooms, images, callbacks, inboxes, rules and faults
        (`POST /_taskgate/reset`); the well-known account stays. Returns the counts removed."""
        return self.control("POST", "reset").json()

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to the control API, `/_taskgate/PATH`; `kwargs` go to `requests`. Raises
        `TaskgateError` with the server's message on an HTTP error status."""
        response = self._session.request(method, f"{self.endpoint}/_taskgate/{path}", timeout=_REQUEST_TIMEOUT,
                                         **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise TaskgateError(response.status_code, message)
        return response


def _tail(log_path: Optional[Path], lines: int = 30) -> str:
    if not log_path:
        return "(no log)"
    try:
        return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
