"""SIGTERM (issue #12, fault 7): the server stops accepting at once, gives open requests a bounded
drain, and exits within its grace period whatever its clients are doing."""

import socket
import time

import websocket

from room_client import usersig
from support import MAIN_SDK_APP, USERSIG_KEY

# The HTTP drain (3 s) plus the engine's grace for running tasks (10 s), with start-up slack.
GRACE_SECS = 15


def test_sigterm_with_an_open_websocket_and_a_stalled_request_exits_within_the_grace(start_server):
    server = start_server()
    sig = usersig(USERSIG_KEY, MAIN_SDK_APP, "alice")
    url = f"{server.base_url.replace('http', 'ws')}/whiteboard/v1/rooms/{MAIN_SDK_APP}/77/ws"
    board = websocket.create_connection(f"{url}?user_id=alice&user_sig={sig}", timeout=30)
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    keep_alive = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        assert board.recv()  # the log frame: the socket is live
        started = time.monotonic()
        status = server.terminate(deadline=GRACE_SECS)
        elapsed = time.monotonic() - started
        assert status == 0, f"exit status {status} after {elapsed:.1f}s\n{server.log_tail()}"
        assert elapsed < GRACE_SECS
    finally:
        for conn in (board, stalled, keep_alive):
            conn.close()
