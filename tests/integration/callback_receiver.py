"""A real HTTP callback receiver: records every POSTed JSON body and lets a test wait for one."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

DEADLINE = 60.0


class CallbackReceiver:
    def __init__(self):
        self.bodies: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.arrived:
                    receiver.bodies.append(body)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"error_code":0}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tiw-events"

    def wait_until(self, matches: Callable[[dict], bool], what: str, deadline: float = DEADLINE) -> dict:
        """The first body that `matches`, waiting up to `deadline` seconds for it."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: any(matches(b) for b in self.bodies), deadline), f"no callback {what}"
            return next(b for b in self.bodies if matches(b))

    def matching(self, matches: Callable[[dict], bool]) -> list[dict]:
        with self.arrived:
            return [b for b in self.bodies if matches(b)]

    def close(self):
        self.httpd.shutdown()


class HangingReceiver:
    """Accepts connections and never answers; counts them."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hang"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    @property
    def accepted(self) -> int:
        return len(self.held)

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()
