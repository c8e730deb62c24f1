"""A whiteboard room client: TLS-Sig-API v2 UserSigs made independently of the server, and the
room protocol's HTTP calls."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib

import requests


def usersig(key: str, sdk_app_id: int, user_id: str, expire: int = 86400, now: int | None = None) -> str:
    """Tencent's TLSSigAPIv2 algorithm."""
    now = int(time.time()) if now is None else now
    content = f"TLS.identifier:{user_id}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{now}\nTLS.expire:{expire}\n"
    sig = base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()
    doc = {"TLS.ver": "2.0", "TLS.identifier": user_id, "TLS.sdkappid": sdk_app_id, "TLS.expire": expire,
           "TLS.time": now, "TLS.sig": sig}
    packed = base64.b64encode(zlib.compress(json.dumps(doc, separators=(",", ":")).encode())).decode()
    return packed.translate(str.maketrans("+/=", "*-_"))


class Room:
    def __init__(self, base_url: str, sdk_app_id: int, room_id: int, key: str, user_id: str = "alice"):
        self.url = f"{base_url}/whiteboard/v1/rooms/{sdk_app_id}/{room_id}"
        self.sdk_app_id, self.room_id, self.user_id = sdk_app_id, room_id, user_id
        self.headers = {"X-User-Id": user_id, "X-User-Sig": usersig(key, sdk_app_id, user_id)}

    def post(self, *ops: dict) -> requests.Response:
        return requests.post(self.url + "/ops", data=json.dumps(list(ops)), headers=self.headers, timeout=30)

    def send(self, *ops: dict) -> list[dict]:
        response = self.post(*ops)
        assert response.status_code == 200, response.text
        return response.json()["ops"]

    def page(self, after: int = 0, limit: int | None = None) -> dict:
        """One page of the log: {"ops": [...], "next_after": N, "more": bool}."""
        params = {"after": after} if limit is None else {"after": after, "limit": limit}
        response = requests.get(self.url + "/ops", params=params, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def log(self, after: int = 0) -> list[dict]:
        """The whole log after `after`, read page by page."""
        ops = []
        while True:
            page = self.page(after)
            ops += page["ops"]
            after = page["next_after"]
            if not page["more"]:
                return ops


def stroke(op_id: str, y: float, color: str = "#E02020") -> dict:
    return {"op": "stroke", "id": op_id, "points": [[0.1, y], [0.5, y], [0.9, y + 0.05]], "color": color, "width": 0.01}
