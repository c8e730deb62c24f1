"""Real disk images made with `qemu-img create`, served over HTTP on loopback."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_image(directory: Path, name: str, fmt: str, size: str, *options: str) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *options, name, size], cwd=directory, check=True)
    return directory / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ImageServer:
    """Serves one directory read-only; missing files answer 404. With a `gate` (a threading.Event),
    every request waits until the gate is set."""

    def __init__(self, directory: Path, gate: threading.Event | None = None):
        self.directory = directory

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if gate is not None:
                    gate.wait(120)
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "ImageServer":
        self.thread.start()
        return self

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
