"""The signing vectors of protocol.md §13, read from tests/fixtures/sign_vectors.json (the same file
crates/tcapi/tests/sign_vectors.rs checks the server's signer against).

A vector with a `request` is a captured request, rebuilt byte for byte: its headers in the captured
order, then `Authorization` (TC3), or its parameters then `Signature` in the query or form body (v1).
The captured ones were signed for host 127.0.0.1:18080 at timestamp 1700000000 (2023-11-14) with
Tencent's documentation example key.
"""

import datetime
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sign_vectors.json"
_DATA = json.loads(FIXTURE.read_text(encoding="utf-8"))

SECRET_ID: str = _DATA["secret_id"]
SECRET_KEY: str = _DATA["secret_key"]
TIMESTAMP = 1700000000
TASK_ID = "f2e1728c-6e87-4481-abe1-cde8542a5a10"
SIGNED_HOST = "127.0.0.1:18080"


@dataclass(frozen=True)
class Tc3Vector:
    name: str
    method: str
    query: str
    signed_headers: dict[str, str]
    body: bytes
    service: str
    timestamp: int
    signature: str
    payload_sha256: str | None
    canonical_request_sha256: str | None
    captured: dict[str, str] | None

    @property
    def authorization(self) -> str:
        date = _utc_date(self.timestamp)
        names = ";".join(sorted(self.signed_headers))
        return (f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{self.service}/tc3_request, "
                f"SignedHeaders={names}, Signature={self.signature}")

    @property
    def headers(self) -> dict[str, str]:
        """The captured request's headers, in order, `Authorization` last."""
        assert self.captured is not None, f"{self.name} is not a captured request"
        return {**self.captured, "Authorization": self.authorization}

    @property
    def target(self) -> str:
        return "/?" + self.query if self.query else "/"


@dataclass(frozen=True)
class V1Vector:
    name: str
    method: str
    host: str
    params: list[tuple[str, str]]
    signature_method: str
    signature: str
    string_to_sign: str | None
    captured: dict[str, str] | None

    @property
    def encoded(self) -> str:
        """The parameters as sent: form-encoded, `Signature` last."""
        return urllib.parse.urlencode([*self.params, ("Signature", self.signature)])

    @property
    def headers(self) -> dict[str, str]:
        assert self.captured is not None, f"{self.name} is not a captured request"
        return dict(self.captured)

    @property
    def target(self) -> str:
        return "/?" + self.encoded if self.method == "GET" else "/"

    @property
    def body(self) -> bytes:
        return b"" if self.method == "GET" else self.encoded.encode()


def _utc_date(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")


TC3 = {
    v["name"]: Tc3Vector(
        name=v["name"], method=v["method"], query=v["query"], signed_headers=v["signed_headers"],
        body=v["body"].encode(), service=v["service"], timestamp=v["timestamp"], signature=v["signature"],
        payload_sha256=v.get("payload_sha256"), canonical_request_sha256=v.get("canonical_request_sha256"),
        captured=v.get("request"),
    )
    for v in _DATA["tc3"]
}
V1 = {
    v["name"]: V1Vector(
        name=v["name"], method=v["method"], host=v["host"], params=[(k, val) for k, val in v["params"]],
        signature_method=v["signature_method"], signature=v["signature"], string_to_sign=v.get("string_to_sign"),
        captured=v.get("request"),
    )
    for v in _DATA["v1"]
}

# The captured requests by their protocol.md §13 letters.
A = TC3["a_python_sdk_post"]
B = TC3["b_python_sdk_get"]
C = V1["c_python_sdk_get_hmac_sha256"]
D = V1["d_python_sdk_post_hmac_sha1"]
E = TC3["e_python_sdk_post_with_token_nested_and_non_ascii"]
E_GET = TC3["e_python_sdk_get_with_encoded_query"]
TCCLI = TC3["tccli_host_with_scheme"]
NODE = TC3["node_sdk_portless_host_and_first_label_service"]
