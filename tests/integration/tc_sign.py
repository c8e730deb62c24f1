"""A minimal, independent Tencent Cloud API 3.0 request signer (protocol.md §3 and §4).

Used by the raw-HTTP tests to build requests the official SDKs would never send (bad
signatures, expired timestamps, odd headers). Checked against the §13 vectors in
test_tc_sign.py, so a failure elsewhere is the server's, not this file's.
"""

from __future__ import annotations

import random

import base64
import datetime as _dt
import hashlib
import hmac
import json
import urllib.parse

TC3 = "TC3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return _dt.datetime.fromtimestamp(int(timestamp), _dt.timezone.utc).strftime("%Y-%m-%d")


def tc3_canonical_request(
    method: str,
    query: str,
    signed_header_values: dict[str, str],
    payload_hash: str,
) -> str:
    names = sorted(signed_header_values)
    canonical_headers = "".join(f"{n}:{signed_header_values[n]}\n" for n in names)
    return "\n".join([method.upper(), "/", query, canonical_headers, ";".join(names), payload_hash])


def tc3_string_to_sign(timestamp: int, service: str, canonical_request: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{TC3}\n{timestamp}\n{scope}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def tc3_signature(secret_key: str, timestamp: int, service: str, string_to_sign: str) -> str:
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), utc_date(timestamp))
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_authorization(secret_id: str, timestamp: int, service: str, signed_headers: list[str], signature: str) -> str:
    return (
        f"{TC3} Credential={secret_id}/{utc_date(timestamp)}/{service}/tc3_request, "
        f"SignedHeaders={';'.join(sorted(signed_headers))}, Signature={signature}"
    )


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    action: str,
    version: str,
    timestamp: int,
    method: str = "POST",
    payload: bytes = b"",
    query: str = "",
    content_type: str | None = None,
    region: str | None = None,
    token: str | None = None,
    language: str | None = None,
    signed_host: str | None = None,
    unsigned_payload: bool = False,
    sign_action_header: bool = False,
) -> dict[str, str]:
    """The headers of a TC3-HMAC-SHA256 request, as the Python SDK builds them.

    `signed_host` lets a caller sign a host different from the one sent (the Node SDK
    signs the host without its port); `sign_action_header` signs `x-tc-action` with its
    value lower-cased, like Tencent's newer demos.
    """
    if content_type is None:
        content_type = "application/json" if method.upper() == "POST" else "application/x-www-form-urlencoded"
    if unsigned_payload:
        payload_hash = sha256_hex(b"UNSIGNED-PAYLOAD")
    else:
        payload_hash = sha256_hex(payload if method.upper() == "POST" else b"")
    signed = {"content-type": content_type, "host": signed_host if signed_host is not None else host}
    if sign_action_header:
        signed["x-tc-action"] = action.lower()
    canonical = tc3_canonical_request(method, query if method.upper() == "GET" else "", signed, payload_hash)
    sts = tc3_string_to_sign(timestamp, service, canonical)
    signature = tc3_signature(secret_key, timestamp, service, sts)
    headers = {
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(timestamp),
        "Authorization": tc3_authorization(secret_id, timestamp, service, list(signed), signature),
    }
    if region:
        headers["X-TC-Region"] = region
    if token is not None:
        headers["X-TC-Token"] = token
    if language is not None:
        headers["X-TC-Language"] = language
    if unsigned_payload:
        headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    return headers


def json_body(params: dict) -> bytes:
    """JSON bytes as the Python SDK serialises them (json.dumps defaults)."""
    return json.dumps(params).encode("utf-8")


# ---- flattened form (protocol.md §5.2) -------------------------------------------------


def flatten(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten_into(out, f"{prefix}{key}", value)
    return out


def _flatten_into(out: list[tuple[str, str]], name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten_into(out, f"{name}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten_into(out, f"{name}.{i}", v)
    elif isinstance(value, bool):
        out.append((name, "true" if value else "false"))
    else:
        out.append((name, str(value)))


def urlencode(pairs: list[tuple[str, str]]) -> str:
    return urllib.parse.urlencode(pairs)


# ---- signature v1 (protocol.md §4) ------------------------------------------------------


def v1_string_to_sign(method: str, host: str, params: list[tuple[str, str]]) -> str:
    joined = "&".join(f"{k}={v}" for k, v in sorted((k, v) for k, v in params if k != "Signature"))
    return f"{method.upper()}{host}/?{joined}"


def v1_signature(secret_key: str, string_to_sign: str, method: str = "HmacSHA1") -> str:
    digest = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}[method]
    mac = hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def v1_params(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    version: str,
    timestamp: int,
    params: dict | None = None,
    method: str = "GET",
    sign_method: str = "HmacSHA256",
    region: str | None = None,
    nonce: int | None = None,
    token: str | None = None,
    language: str | None = None,
) -> list[tuple[str, str]]:
    """Every parameter of a v1-signed request, `Signature` last (decoded values). A fresh random
    Nonce unless one is given: the server accepts a (SecretId, Timestamp, Nonce) once."""
    if nonce is None:
        nonce = random.randint(1, 2**31 - 1)
    pairs = flatten(params or {})
    pairs += [("Action", action), ("Version", version), ("Timestamp", str(timestamp)), ("Nonce", str(nonce))]
    pairs += [("SecretId", secret_id), ("SignatureMethod", sign_method)]
    if region:
        pairs.append(("Region", region))
    if token is not None:
        pairs.append(("Token", token))
    if language is not None:
        pairs.append(("Language", language))
    sts = v1_string_to_sign(method, host, pairs)
    pairs.append(("Signature", v1_signature(secret_key, sts, sign_method)))
    return pairs
