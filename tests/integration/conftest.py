"""Shared fixtures: the taskgate server process, its config and backend, and client factories.

Environment:
- TASKGATE_BIN            server binary (default: <repo>/target/debug/taskgate)
- TASKGATE_TEST_BACKEND   sqlite (default) | postgres
- TASKGATE_TEST_PG_URL    postgres://postgres@127.0.0.1:PORT/postgres (required for postgres: a run
                          without it fails at once); every server start gets a fresh database from it.
- TASKGATE_TEST_S3_ENDPOINT  an S3 server (moto) for the tests that store objects; without it they skip,
                          unless services are required.
- TASKGATE_TEST_REQUIRE_SERVICES=1 (scripts/test sets it) or CI=true: a test whose service is not
                          configured fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

import support
from callback_receiver import CallbackReceiver
from support import MAIN, Api

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TASKGATE_BIN", REPO_ROOT / "target" / "debug" / "taskgate"))
NODE_DIR = REPO_ROOT / "tests" / "node"
VENV_BIN = Path(sys.executable).parent
LISTENING = re.compile(r"^taskgate (?:dev )?listening on (http://(\S+):(\d+))\s*$")
START_DEADLINE = 60.0
STOP_DEADLINE = 15.0


def backend() -> str:
    value = os.environ.get("TASKGATE_TEST_BACKEND", "sqlite")
    if value not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"TASKGATE_TEST_BACKEND must be sqlite or postgres, not {value!r}")
    return value


def services_required() -> bool:
    return os.environ.get("TASKGATE_TEST_REQUIRE_SERVICES") == "1" or os.environ.get("CI", "").lower() == "true"


def required_service(variable: str, what: str) -> str:
    """The service's address from `variable`; unset, the calling test skips, or fails when services
    are required, so that CI can never report green for a test that did not run."""
    value = os.environ.get(variable)
    if not value:
        message = f"{variable} unset; {what} (scripts/test sets it)"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    return value


def pytest_configure(config):
    if backend() == "postgres" and not os.environ.get("TASKGATE_TEST_PG_URL"):
        raise pytest.UsageError("TASKGATE_TEST_BACKEND=postgres needs TASKGATE_TEST_PG_URL (scripts/test sets it)")


def pytest_report_header(config):
    return [f"taskgate binary: {BIN}", f"taskgate backend: {backend()}"]


def fresh_database_url(data_dir: Path) -> str:
    """A database nobody used before, for one server start."""
    if backend() == "sqlite":
        return f"sqlite://{data_dir}/taskgate.db"
    admin_url = os.environ["TASKGATE_TEST_PG_URL"]  # checked in pytest_configure
    name = "tg_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"'],
                   check=True, capture_output=True, timeout=60)
    return admin_url.rsplit("/", 1)[0] + "/" + name


def server_env(extra: dict | None = None) -> dict:
    """The server sees no TASKGATE_* variable of ours (figment would read them as config keys)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    env.setdefault("RUST_LOG", "info")
    env.update(extra or {})
    return env


class Server:
    """One `taskgate serve` process."""

    def __init__(self, workdir: Path, config: dict, env: dict | None = None):
        self.workdir = workdir
        self.config = config
        self.env = env or {}
        self.config_path = workdir / "taskgate.toml"
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.base_url = self.host = None
        self.port = 0
        self.stdout_lines: list[str] = []

    def write_config(self):
        if self.config is not None:
            self.config_path.write_text(support.to_toml(self.config))

    def command(self) -> list[str]:
        """`taskgate serve --config PATH`, or bare `taskgate serve` for a config of None."""
        cmd = [str(BIN), "serve"]
        return cmd + ["--config", str(self.config_path)] if self.config is not None else cmd

    def start(self) -> "Server":
        if not BIN.exists():
            pytest.fail(f"server binary {BIN} not found: run `cargo build --workspace` first")
        self.write_config()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=server_env(self.env),
            cwd=self.workdir, text=True, bufsize=1,
        )
        log.close()
        bound = threading.Event()
        threading.Thread(target=self._read_stdout, args=(bound,), daemon=True).start()
        deadline = time.monotonic() + START_DEADLINE
        while not bound.wait(0.05):
            if self.proc.poll() is not None:
                pytest.fail(f"taskgate exited with {self.proc.returncode} before listening\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"taskgate printed no listening line in {START_DEADLINE}s\n{self.log_tail()}")
        self.wait_healthy(deadline)
        return self

    def _read_stdout(self, bound: threading.Event):
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            m = LISTENING.match(line)
            if m and not bound.is_set():
                self.base_url, self.host, self.port = m.group(1), f"{m.group(2)}:{m.group(3)}", int(m.group(3))
                bound.set()

    def wait_healthy(self, deadline: float):
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"taskgate exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                r = requests.get(self.base_url + "/healthz", timeout=5)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"/healthz not 200 before the deadline (last: {last})\n{self.log_tail()}")

    def terminate(self, deadline: float = STOP_DEADLINE) -> int | None:
        """SIGTERM, then wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(deadline)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except FileNotFoundError:
            lines = []
        return "--- server stderr (tail) ---\n" + "\n".join(lines) + "\n--- stdout ---\n" + "".join(self.stdout_lines[-10:])


class DevServer(Server):
    """One `taskgate dev` process on a free port; its database is a fresh one of the backend."""

    def __init__(self, workdir: Path, args: list[str], env: dict | None = None):
        data_dir = workdir / "db"
        data_dir.mkdir(exist_ok=True)
        database = {} if backend() == "sqlite" else {"TASKGATE_DATABASE_URL": fresh_database_url(data_dir)}
        super().__init__(workdir, None, {**database, **(env or {})})
        self.args = args

    def command(self) -> list[str]:
        return [str(BIN), "dev", "--listen", "127.0.0.1:0", *self.args]


@pytest.fixture(scope="module")
def start_dev(tmp_path_factory):
    """start_dev(*args, env=None) -> a started `taskgate dev`, stopped at module end."""
    started: list[DevServer] = []

    def start(*args: str, env: dict | None = None) -> DevServer:
        server = DevServer(tmp_path_factory.mktemp("taskgate-dev"), list(args), env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.terminate()


# ---- server fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """start_server(**config_overrides, env=None, workdir=None) -> a started Server, stopped at module end.

    Each start gets a fresh data dir and a fresh database, unless a `config` is given (reuse
    `server.config` and `server.workdir` to restart on the same data); `config=None` runs bare
    `taskgate serve` in `workdir`.
    """
    started: list[Server] = []

    def start(env: dict | None = None, workdir: Path | None = None, config: dict | None | str = "default",
              **overrides) -> Server:
        if config == "default":
            workdir = workdir or tmp_path_factory.mktemp("taskgate")
            data_dir = workdir / "data"
            data_dir.mkdir(exist_ok=True)
            config = support.base_config(str(data_dir), fresh_database_url(data_dir), **overrides)
            if backend() == "postgres" and "public" not in config.get("objects", {}):
                # One node: a PostgreSQL start otherwise wants a shared [objects.public] bucket.
                config["objects"] = {**config.get("objects", {}), "single_node": True}
        workdir = workdir or tmp_path_factory.mktemp("taskgate")
        server = Server(workdir, config, env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.terminate()


@pytest.fixture
def s3_endpoint() -> str:
    """The S3 server for tests that need one (see required_service)."""
    return required_service("TASKGATE_TEST_S3_ENDPOINT", "this test stores objects in an S3 server")


@pytest.fixture(scope="module")
def receiver():
    """A real HTTP callback receiver for the module's tests."""
    r = CallbackReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    """The module's server, default config, real clock."""
    return start_server()


@pytest.fixture(scope="module")
def api(server):
    client = Api(server.base_url)
    yield client
    client.close()


# ---- official clients ------------------------------------------------------------------------------

class Sdk:
    """Official Python SDK clients pointed at one server."""

    def __init__(self, server: Server):
        self.server = server

    def profile(self, kind: str = "post-tc3", language: str | None = None):
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile

        method, sign = {
            "post-tc3": ("POST", "TC3-HMAC-SHA256"),
            "get-tc3": ("GET", "TC3-HMAC-SHA256"),
            "get-hmacsha256": ("GET", "HmacSHA256"),
            "post-hmacsha1": ("POST", "HmacSHA1"),
        }[kind]
        hp = HttpProfile(protocol="http", endpoint=self.server.host, reqTimeout=30)
        hp.reqMethod = method
        kwargs = {"httpProfile": hp, "signMethod": sign}
        if language:
            kwargs["language"] = language
        return ClientProfile(**kwargs)

    def credential(self, cred=MAIN):
        from tencentcloud.common import credential

        return credential.Credential(cred.secret_id, cred.secret_key)

    def tiw(self, kind="post-tc3", region="ap-singapore", cred=MAIN, language=None):
        from tencentcloud.tiw.v20190919 import tiw_client

        return tiw_client.TiwClient(self.credential(cred), region, self.profile(kind, language))

    def tcss(self, kind="post-tc3", region="", cred=MAIN, language=None):
        from tencentcloud.tcss.v20201101 import tcss_client

        return tcss_client.TcssClient(self.credential(cred), region, self.profile(kind, language))

    def ecm(self, kind="post-tc3", region="", cred=MAIN, language=None):
        from tencentcloud.ecm.v20190719 import ecm_client

        return ecm_client.EcmClient(self.credential(cred), region, self.profile(kind, language))


@pytest.fixture(scope="module")
def sdk(server) -> Sdk:
    return Sdk(server)


@pytest.fixture(scope="module")
def tccli(server, tmp_path_factory):
    """tccli(*args) -> CompletedProcess; `--endpoint http://127.0.0.1:PORT` and env credentials added."""
    home = tmp_path_factory.mktemp("tccli-home")
    exe = VENV_BIN / "tccli"
    if not exe.exists():
        exe = Path(shutil.which("tccli") or "tccli")

    def run(*args: str, cred=MAIN) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TASKGATE_"))}
        env.update(HOME=str(home), TENCENTCLOUD_SECRET_ID=cred.secret_id, TENCENTCLOUD_SECRET_KEY=cred.secret_key)
        return subprocess.run([str(exe), *args, "--endpoint", server.base_url], env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    return run


@pytest.fixture(scope="module")
def node_call(server):
    """node_call(action, params, **spec) -> the JSON line printed by tests/node/call.mjs."""
    if not (NODE_DIR / "node_modules" / "tencentcloud-sdk-nodejs-common").is_dir():
        pytest.fail("tests/node/node_modules missing: run `npm ci` in tests/node (scripts/test does)")

    def call(action: str, params: dict | None = None, cred=MAIN, **spec) -> dict:
        _, version = support.ACTIONS[action]
        spec = {"endpoint": server.host, "version": version, "action": action, "params": params or {}, **spec}
        env = {**os.environ, "TENCENTCLOUD_SECRET_ID": cred.secret_id, "TENCENTCLOUD_SECRET_KEY": cred.secret_key}
        proc = subprocess.run(["node", str(NODE_DIR / "call.mjs"), json.dumps(spec)], env=env,
                              capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
        assert proc.returncode == 0, f"call.mjs failed: {proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return call
