"""The browser board page, end to end: two people in headless Chromium (tests/node/board.mjs)
share a room over the WebSocket, and a snapshot task renders what one of them drew."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

import png_pixels
from conftest import NODE_DIR
from room_client import Room, usersig
from support import MAIN_SDK_APP, USERSIG_KEY
from test_tiw_snapshot import create, fetch, wait_finished

CHROMIUM = Path("/usr/bin/chromium")
# A horizontal stroke across the middle of the board, in board coordinates.
STROKE = [[0.2, 0.5], [0.4, 0.5], [0.6, 0.5], [0.8, 0.5]]
INK = "#E02020"  # the page's default colour
_rooms = itertools.count(4242)


def page_url(server, room: Room, user: str) -> str:
    query = urlencode({"user_id": user, "user_sig": usersig(USERSIG_KEY, room.sdk_app_id, user)})
    return f"{server.base_url}/whiteboard/rooms/{room.sdk_app_id}/{room.room_id}?{query}"


def run_browser(pages: dict[str, str], steps: list[dict]) -> list:
    """Runs board.mjs; returns the values of its `eval` steps."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium missing: `apt-get install chromium` (scripts/test does)")
    if not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/node/node_modules missing: run `npm ci` in tests/node (scripts/test does)")
    proc = subprocess.run(["node", str(NODE_DIR / "board.mjs"), json.dumps({"pages": pages, "steps": steps})],
                          capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert proc.returncode == 0, f"board.mjs failed: {proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == [], "uncaught errors in the page"
    return out["results"]


@pytest.fixture
def room(server) -> Room:
    return Room(server.base_url, MAIN_SDK_APP, next(_rooms), USERSIG_KEY)


def test_board_page_is_served_as_html(server, room):
    response = requests.get(page_url(server, room, "alice"), timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<canvas" in response.text


def test_stroke_drawn_in_one_browser_reaches_the_other_and_the_snapshot(sdk, server, room, tmp_path):
    screenshot = tmp_path / "board.png"
    a_ids, b_ids = run_browser(
        {"a": page_url(server, room, "alice"), "b": page_url(server, room, "bob")},
        [{"page": "a", "do": "drag", "points": STROKE},
         {"page": "b", "do": "wait", "expr": "board.elementCount() === 1"},
         {"page": "a", "do": "wait", "expr": "board.elementCount() === 1"},
         {"page": "a", "do": "eval", "expr": "board.elementIds()"},
         {"page": "b", "do": "eval", "expr": "board.elementIds()"},
         {"page": "a", "do": "click", "selector": "#mark"},
         {"page": "a", "do": "wait", "expr": "board.lastSeq() === 2"},
         {"page": "a", "do": "screenshot", "path": str(screenshot)}],
    )
    assert a_ids == b_ids and len(a_ids) == 1, "both people see the one stroke"

    stroke, mark = room.log()
    assert (stroke["op"], stroke["user_id"], stroke["id"], stroke["color"]) == ("stroke", "alice", a_ids[0], INK)
    assert len(stroke["points"]) >= 2
    assert all(0.19 <= x <= 0.81 and 0.49 <= y <= 0.51 for x, y in stroke["points"]), stroke["points"]
    assert (mark["op"], mark["user_id"]) == ("mark", "alice")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    answer = wait_finished(sdk, create(sdk, room))
    assert (answer.Result.ErrorCode, answer.Result.Total) == ("OK", 1)
    image = png_pixels.decode(fetch(server, answer.Result.Snapshots[0]))
    width, height = image[0], image[1]

    def inked(x: float, y: float) -> bool:
        """Some pixel within 3 px of (x, y) is the stroke's red."""
        cx, cy = round(x * width), round(y * height)
        return any(r > 180 and g < 90 and b < 90
                   for px in range(cx - 3, cx + 4) for py in range(cy - 3, cy + 4)
                   for r, g, b, _ in [png_pixels.pixel(image, px, py)])

    assert all(inked(x, 0.5) for x in (0.25, 0.5, 0.75)), "the stroke is in the snapshot where it was drawn"
    assert not any(inked(x, y) for x, y in ((0.5, 0.25), (0.1, 0.5), (0.9, 0.5))), "and nowhere else"


def test_tools_edit_the_shared_board(server, room):
    """Shapes, text, eraser, undo/redo and pages, each checked in the other person's browser."""
    showing = "board.currentPage() === {page!r} && board.elementCount() === {n}"
    run_browser(
        {"a": page_url(server, room, "alice"), "b": page_url(server, room, "bob")},
        [{"page": "a", "do": "click", "selector": "[data-tool=rect]"},
         {"page": "a", "do": "drag", "points": [[0.1, 0.1], [0.3, 0.3]]},
         {"page": "a", "do": "click", "selector": "[data-tool=arrow]"},
         {"page": "a", "do": "drag", "points": [[0.5, 0.1], [0.8, 0.3]]},
         {"page": "a", "do": "click", "selector": "[data-tool=text]"},
         {"page": "a", "do": "prompt", "text": "Hello, 白板"},
         {"page": "a", "do": "drag", "points": [[0.5, 0.6]]},
         {"page": "b", "do": "wait", "expr": showing.format(page="#DEFAULT", n=3)},
         # A click on the rectangle's left edge erases it.
         {"page": "a", "do": "click", "selector": "[data-tool=eraser]"},
         {"page": "a", "do": "drag", "points": [[0.1, 0.2]]},
         {"page": "b", "do": "wait", "expr": showing.format(page="#DEFAULT", n=2)},
         {"page": "a", "do": "click", "selector": "#undo"},
         {"page": "b", "do": "wait", "expr": showing.format(page="#DEFAULT", n=3)},
         {"page": "a", "do": "click", "selector": "#redo"},
         {"page": "b", "do": "wait", "expr": showing.format(page="#DEFAULT", n=2)},
         {"page": "a", "do": "click", "selector": "#page-add"},
         {"page": "b", "do": "wait", "expr": showing.format(page="Page 2", n=0)},
         {"page": "b", "do": "click", "selector": "[data-tool=highlighter]"},
         {"page": "b", "do": "drag", "points": [[0.2, 0.5], [0.6, 0.55]]},
         {"page": "a", "do": "wait", "expr": showing.format(page="Page 2", n=1)},
         {"page": "b", "do": "select", "selector": "#page", "value": "#DEFAULT"},
         {"page": "a", "do": "wait", "expr": showing.format(page="#DEFAULT", n=2)}],
    )
    log = room.log()
    assert [op["op"] for op in log] == ["shape", "shape", "text", "erase", "undo", "redo", "page", "page",
                                        "stroke", "page"]
    rect, arrow, text, erase = log[:4]
    assert (rect["kind"], arrow["kind"], text["text"]) == ("rect", "arrow", "Hello, 白板")
    assert erase["ids"] == [rect["id"]]
    assert (log[8]["tool"], log[8]["page"], log[8]["user_id"]) == ("highlighter", "Page 2", "bob")
