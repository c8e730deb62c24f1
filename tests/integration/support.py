"""Plain helpers shared by the integration tests (fixtures live in conftest.py).

- the accounts every test server is configured with;
- a TOML writer for the server config;
- a raw HTTP/1.1 client (exact header bytes, e.g. `Host: http://127.0.0.1:18080`);
- `Api`: signed raw requests (TC3 and v1) built with tc_sign.py;
- assertions on the Tencent envelope;
- buckets of the S3 test server (moto), HLS playlists.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

import tc_sign

# ---- accounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cred:
    uin: str
    secret_id: str
    secret_key: str


# The main account uses Tencent's documentation example key, so the §13 vectors authenticate.
MAIN = Cred("100000000001", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
MAIN_TOKEN = "tok-123"
MAIN_SDK_APP = 1400127230          # vectors A, D, tccli, Node
MAIN_APP_ID = 1250000000           # Tencent APPID: COS buckets `<name>-1250000000` are MAIN's
MAIN_SDK_APP_2 = 1400123480        # vector E
# Enabled for tcss only; owns an SdkAppId of its own.
TCSS_ONLY = Cred("100000000002", "AKIDtaskgateTcssOnly0000000000000002", "tcss-only-secret-key-000000000002")
OTHER_SDK_APP = 1400000002
# Every service enabled, but expired.
EXPIRED = Cred("100000000003", "AKIDtaskgateExpired00000000000000003", "expired-secret-key-0000000000000003")
UNKNOWN = Cred("0", "AKIDtaskgateNoSuchKey000000000000000", "no-such-secret-key")
USERSIG_KEY = "usersig-signing-key"

SERVICE_VERSIONS = {"tiw": "2019-09-19", "tcss": "2020-11-01", "ecm": "2019-07-19"}
SOURCE = Path(__file__).resolve().parents[2] / "crates" / "taskgate" / "src"
_ACTION_ENTRY = re.compile(r"entry::<(?:\w+::)*(\w+)(?:<(?:\w+::)*(\w+)>)?>\(\)")
_ACTION_NAME = re.compile(r'const NAME: &\'static str = "(\w+)";')
# A generic action (`SetCallback<PushEvents>`) takes its name from a constant of its parameter:
# `impl<F: Family> Action for SetCallback<F> { const NAME: &'static str = F::SET;` and
# `impl Family for PushEvents { … const SET: &'static str = "SetWhiteboardPushCallback"; … }`.
_GENERIC_NAME = re.compile(r"impl<F: \w+> Action for (\w+)<F> \{\s*const NAME: &'static str = F::(\w+);")
_FAMILY_IMPL = re.compile(r"impl \w+ for (\w+) \{(.*?)\n\}", re.S)
_FAMILY_CONST = re.compile(r'const (\w+): &\'static str = "(\w+)";')


def served_actions() -> dict[str, tuple[str, str]]:
    """Every action the server routes, action -> (service, version), read from the action tables
    (`entry::<…::Action>()` in `products/<service>/mod.rs`) in the server's source: the one list,
    so a new action shows up here without anyone adding it."""
    sources = [path.read_text(encoding="utf-8") for path in sorted(SOURCE.rglob("*.rs"))]
    generic = {kind: const for text in sources for kind, const in _GENERIC_NAME.findall(text)}
    family = {ty: dict(_FAMILY_CONST.findall(body)) for text in sources for ty, body in _FAMILY_IMPL.findall(text)}

    def name(kind: str, parameter: str) -> str:
        return family[parameter][generic[kind]] if parameter else kind

    entries = [
        (name(kind, parameter), service)
        for service in SERVICE_VERSIONS
        for kind, parameter in _ACTION_ENTRY.findall((SOURCE / "products" / service / "mod.rs").read_text(encoding="utf-8"))
    ]
    declared = {name for text in sources for name in _ACTION_NAME.findall(text)} | {
        value for consts in family.values() for value in consts.values()}
    assert entries, f"no action table found under {SOURCE}: update support.served_actions"
    assert {name for name, _ in entries} <= declared, "an action table entry whose NAME differs from its type"
    return {name: (service, SERVICE_VERSIONS[service]) for name, service in entries}


ACTIONS = served_actions()
DEFAULT_REGION = {"tiw": "ap-singapore", "tcss": None, "ecm": None}
UNKNOWN_TASK_ID = "f2e1728c-6e87-4481-abe1-cde8542a5a10"
# The Python SDK's transport/signature combinations (conftest.Sdk.profile)
SDK_PROFILES = ["post-tc3", "get-tc3", "get-hmacsha256", "post-hmacsha1"]


def base_config(data_dir: str, database_url: str, **overrides) -> dict:
    """The config every test server starts from; tests override top-level keys."""
    config = {
        "listen": "127.0.0.1:0",
        "data_dir": data_dir,
        "database_url": database_url,
        "public_url": "http://127.0.0.1:8080",
        "allow_private_callback_targets": True,
        "regions": ["ap-guangzhou", "ap-singapore"],
        # Generous, so that only test_rate_limit.py ever meets the limiter.
        "rate_limit": {"per_second": 100000},
        "accounts": [
            {
                "uin": MAIN.uin,
                "services": ["tiw", "tcss", "ecm"],
                "app_id": MAIN_APP_ID,
                "credentials": [{"secret_id": MAIN.secret_id, "secret_key": MAIN.secret_key, "tokens": [MAIN_TOKEN]}],
                "sdk_apps": [
                    {"sdk_app_id": MAIN_SDK_APP, "secret_key": USERSIG_KEY},
                    {"sdk_app_id": MAIN_SDK_APP_2, "secret_key": USERSIG_KEY + "-2"},
                ],
            },
            {
                "uin": TCSS_ONLY.uin,
                "services": ["tcss"],
                "credentials": [{"secret_id": TCSS_ONLY.secret_id, "secret_key": TCSS_ONLY.secret_key}],
                "sdk_apps": [{"sdk_app_id": OTHER_SDK_APP, "secret_key": "other-usersig-key"}],
            },
            {
                "uin": EXPIRED.uin,
                "services": ["tiw", "tcss", "ecm"],
                "service_expires_at": "2020-01-01T00:00:00Z",
                "credentials": [{"secret_id": EXPIRED.secret_id, "secret_key": EXPIRED.secret_key}],
            },
        ],
    }
    config.update(overrides)
    return config


# ---- TOML ---------------------------------------------------------------------------------


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(doc: dict, prefix: str = "") -> str:
    """Enough TOML for our config: scalars, arrays, tables, arrays of tables."""
    scalars, tables, table_arrays = [], [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            table_arrays.append((k, v))
        else:
            scalars.append(f"{k} = {_toml_value(v)}")
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for k, v in tables:
        out += f"\n[{prefix}{k}]\n" + to_toml(v, f"{prefix}{k}.")
    for k, items in table_arrays:
        for item in items:
            out += f"\n[[{prefix}{k}]]\n" + to_toml(item, f"{prefix}{k}.")
    return out


# ---- raw HTTP -----------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]   # lower-cased names
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_code(self) -> int:  # same spelling as requests.Response
        return self.status

    def json(self):
        return json.loads(self.body)


def raw_http(port: int, method: str, target: str, headers: dict[str, str], body: bytes = b"",
             timeout: float = 30) -> RawResponse:
    """Send exactly these request-line and header bytes (plus Content-Length, Connection: close)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("iso-8859-1").split("\r\n")
    status = int(head_lines[0].split(" ")[1])
    header_list = []
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        header_list.append((name.strip(), value.strip()))
    hdrs = {k.lower(): v for k, v in header_list}
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    elif "content-length" in hdrs:
        rest = rest[: int(hdrs["content-length"])]
    return RawResponse(status, hdrs, rest, header_list)


def _dechunk(data: bytes) -> bytes:
    out, pos = b"", 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return out
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


# ---- signed requests ----------------------------------------------------------------------


class Api:
    """Signed raw requests against one server. Returns `requests.Response`."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.host = self.base_url.split("://", 1)[1]
        self.port = int(self.host.rsplit(":", 1)[1])
        self.session = requests.Session()

    def close(self):
        self.session.close()

    def tc3(self, action: str, params: dict | None = None, *, cred: Cred = MAIN, method: str = "POST",
            service: str | None = None, version: str | None = None, region: str | None = "default",
            timestamp: int | None = None, body: bytes | None = None, query: str | None = None,
            extra_headers: dict | None = None, secret_key: str | None = None, **sign_kw) -> requests.Response:
        svc, ver = ACTIONS.get(action, (None, None))
        service = service or svc or "tiw"
        version = version or ver
        if region == "default":
            region = DEFAULT_REGION.get(svc)
        params = params if params is not None else {}
        if method == "GET":
            query = query if query is not None else tc_sign.urlencode(tc_sign.flatten(params))
            payload = b""
        else:
            query = ""
            payload = body if body is not None else tc_sign.json_body(params)
        headers = tc_sign.tc3_headers(
            secret_id=cred.secret_id, secret_key=secret_key or cred.secret_key, service=service, host=self.host,
            action=action, version=version, timestamp=timestamp if timestamp is not None else int(time.time()),
            method=method, payload=payload, query=query, region=region, **sign_kw,
        )
        headers.update(extra_headers or {})
        url = self.base_url + "/" + (f"?{query}" if query else "")
        return self.session.request(method, url, data=payload if method != "GET" else None, headers=headers,
                                    timeout=60)

    def v1(self, action: str, params: dict | None = None, *, cred: Cred = MAIN, method: str = "GET",
           sign_method: str = "HmacSHA256", version: str | None = None, region: str | None = "default",
           timestamp: int | None = None, secret_key: str | None = None, **kw) -> requests.Response:
        svc, ver = ACTIONS.get(action, (None, None))
        if region == "default":
            region = DEFAULT_REGION.get(svc)
        pairs = tc_sign.v1_params(
            secret_id=cred.secret_id, secret_key=secret_key or cred.secret_key, host=self.host, action=action,
            version=version or ver, timestamp=timestamp if timestamp is not None else int(time.time()),
            params=params, method=method, sign_method=sign_method, region=region, **kw,
        )
        encoded = tc_sign.urlencode(pairs)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if method == "GET":
            return self.session.get(f"{self.base_url}/?{encoded}", headers=headers, timeout=60)
        return self.session.post(f"{self.base_url}/", data=encoded.encode(), headers=headers, timeout=60)


# ---- assertions ---------------------------------------------------------------------------


def _envelope(resp) -> dict:
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:500]!r}"
    content_type = resp.headers.get("content-type")
    assert content_type == "application/json", f"Content-Type {content_type!r} (must be exactly application/json)"
    doc = resp.json()
    assert list(doc) == ["Response"], f"top level must be only Response: {doc}"
    inner = doc["Response"]
    assert_uuid(inner.get("RequestId"))
    return inner


def assert_uuid(value) -> None:
    assert isinstance(value, str), f"RequestId {value!r}"
    parsed = uuid.UUID(value)
    assert str(parsed) == value.lower() and parsed.version == 4, f"RequestId {value!r} is not a UUID v4"


def ok(resp) -> dict:
    """The `Response` object of a successful answer."""
    inner = _envelope(resp)
    assert "Error" not in inner, f"expected success, got {inner['Error']}"
    return inner


def error(resp, code: str) -> dict:
    """The `Response.Error` object, after checking its code and the envelope."""
    inner = _envelope(resp)
    assert "Error" in inner, f"expected {code}, got success {inner}"
    err = inner["Error"]
    assert err.get("Code") == code, f"expected {code}, got {err}"
    assert isinstance(err.get("Message"), str) and err["Message"], f"empty message: {err}"
    return err


def error_code(resp) -> str | None:
    inner = _envelope(resp)
    return inner.get("Error", {}).get("Code")


def without_request_id(inner: dict) -> dict:
    return {k: v for k, v in inner.items() if k != "RequestId"}


# ---- the S3 test server ------------------------------------------------------------------------

PUBLIC_REGION = "ap-public"


def s3_client(s3_endpoint: str, region: str = "us-east-1"):
    """A boto3 client of the S3 test server with the owner's credentials (boto3 comes with moto)."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def s3_bucket(s3_endpoint: str, name: str, app_id: int | None = None) -> str:
    """A fresh bucket `{name}-{random}` on the S3 test server, owned by the account of `app_id`
    (its `-{app_id}` suffix) if one is given; its name."""
    bucket = f"{name}-{uuid.uuid4().hex[:12]}" + (f"-{app_id}" if app_id is not None else "")
    response = requests.put(f"{s3_endpoint}/{bucket}", timeout=30)
    assert response.status_code == 200, response.text
    return bucket


def s3_public_objects(s3_endpoint: str, base_url: str | None = None, anonymous_read: bool = False) -> dict:
    """An `[objects]` table whose public bucket is a fresh bucket on the S3 test server, with a
    prefix; `base_url` defaults to the bucket's URL on the endpoint. The test server refuses
    anonymous reads unless `anonymous_read`: then a bucket policy lets anyone get the objects under
    the prefix, as docs/deploy.md asks of a bucket that clients read directly."""
    bucket, prefix = s3_bucket(s3_endpoint, "public"), "taskgate"
    if anonymous_read:
        s3_client(s3_endpoint).put_bucket_policy(Bucket=bucket, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*"}],
        }))
    return {
        "s3": [{"region": PUBLIC_REGION, "endpoint": s3_endpoint, "access_key_id": "testing",
                "secret_access_key": "testing", "path_style": True, "allow_http": True}],
        "public": {"region": PUBLIC_REGION, "bucket": bucket, "prefix": prefix,
                   "base_url": base_url or f"{s3_endpoint}/{bucket}"},
    }


def s3_get(s3_endpoint: str, bucket: str, key: str):
    """The object's bytes read with the owner's credentials (the test server refuses anonymous
    reads), or None."""
    from botocore.exceptions import ClientError

    try:
        return s3_client(s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def s3_keys(s3_endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every key of the bucket under `prefix`, listed page by page, in order."""
    pages = s3_client(s3_endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


# ---- HLS --------------------------------------------------------------------------------------


def segments(playlist: str) -> list[str]:
    """The segment names an HLS playlist lists, in order."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]
