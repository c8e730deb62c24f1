"""A fake Docker Engine API on a unix socket, with a gate that holds container listing."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

CONTAINERS = [
    {"Id": "c1", "Names": ["/web"], "Image": "nginx:1.27", "State": "running", "Status": "Up 2 hours",
     "Created": 1_700_000_000},
    {"Id": "c2", "Names": ["/job"], "Image": "busybox", "State": "exited", "Status": "Exited (0)",
     "Created": 1_700_000_100},
    {"Id": "c3", "Names": ["/cache"], "Image": "redis:7", "State": "paused", "Status": "Paused",
     "Created": 1_700_000_200},
]
IMAGES = [
    {"Id": f"sha256:{n:02x}", "ParentId": "", "RepoTags": [tag], "RepoDigests": [], "Created": 1_690_000_000 + n,
     "Size": 1_000_000 * (n + 1), "SharedSize": -1, "Labels": {}, "Containers": 1}
    for n, tag in enumerate(["nginx:1.27", "busybox:latest", "redis:7"])
]


class FakeDocker:
    """containers, images: what the engine lists (default CONTAINERS, IMAGES).
    mode: "healthy" answers at once; "gated" holds /containers/json until release();
    "failing" answers /containers/json with HTTP 500."""

    def __init__(self, socket_path: Path, mode: str = "healthy", containers: list[dict] | None = None,
                 images: list[dict] | None = None):
        self.socket_path = socket_path
        self.mode = mode
        # What the engine lists; a test may replace them between refreshes.
        self.containers = CONTAINERS if containers is None else containers
        self.images = IMAGES if images is None else images
        self.gate = threading.Event()
        self.waiting = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

            def do_GET(self):
                path = self.path.split("?", 1)[0].lstrip("/")
                head, _, rest = path.partition("/")
                if head.startswith("v1.") and rest:
                    path = rest
                if path == "version":
                    return self.reply(200, {"Version": "27.1.0", "ApiVersion": "1.46"})
                if path == "info":
                    return self.reply(200, {"Name": "node-a", "OperatingSystem": "Debian GNU/Linux 12",
                                            "KernelVersion": "6.1.0", "Architecture": "x86_64", "NCPU": 4,
                                            "MemTotal": 8_000_000_000})
                if path == "containers/json":
                    if fake.mode == "failing":
                        return self.reply(500, {"message": "engine exploded"})
                    if fake.mode == "gated":
                        fake.waiting.set()
                        fake.gate.wait(120)
                    return self.reply(200, fake.containers)
                if path == "images/json":
                    return self.reply(200, fake.images)
                return self.reply(404, {"message": f"no such endpoint {self.path}"})

            def reply(self, status: int, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if socket_path.exists():
            os.unlink(socket_path)
        self.server = Server(str(socket_path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeDocker":
        self.thread.start()
        return self

    def release(self):
        self.gate.set()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
