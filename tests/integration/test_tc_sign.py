"""The test signer (tc_sign.py) reproduces every signature vector of protocol.md §13
(tests/fixtures/sign_vectors.json).

No server involved: these keep the raw-HTTP tests honest.
"""

import urllib.parse

import pytest

import vectors
from tc_sign import (
    flatten,
    json_body,
    sha256_hex,
    tc3_canonical_request,
    tc3_headers,
    tc3_signature,
    tc3_string_to_sign,
    urlencode,
    v1_params,
    v1_signature,
    v1_string_to_sign,
)

SID = vectors.SECRET_ID
SKEY = vectors.SECRET_KEY
TS = vectors.TIMESTAMP


def _signature_of(authorization: str) -> str:
    return authorization.rsplit("Signature=", 1)[1]


@pytest.mark.parametrize("v", vectors.TC3.values(), ids=list(vectors.TC3))
def test_every_tc3_vector_hashes_and_signs_as_recorded(v):
    payload_hash = sha256_hex(v.body)
    if v.payload_sha256 is not None:
        assert payload_hash == v.payload_sha256
    canonical = tc3_canonical_request(v.method, v.query, v.signed_headers, payload_hash)
    if v.canonical_request_sha256 is not None:
        assert sha256_hex(canonical.encode()) == v.canonical_request_sha256
    sts = tc3_string_to_sign(v.timestamp, v.service, canonical)
    assert tc3_signature(SKEY, v.timestamp, v.service, sts) == v.signature


@pytest.mark.parametrize("v", vectors.V1.values(), ids=list(vectors.V1))
def test_every_v1_vector_signs_as_recorded(v):
    # The Signature parameter is among what the server receives; it is not signed.
    sts = v1_string_to_sign(v.method, v.host, [*v.params, ("Signature", "ignored")])
    if v.string_to_sign is not None:
        assert sts == v.string_to_sign
    assert v1_signature(SKEY, sts, v.signature_method) == v.signature


def test_official_v3_example_with_signed_action_header():
    v = vectors.TC3["official_example_with_signed_action_header"]
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="cvm", host="cvm.tencentcloudapi.com",
        action="DescribeInstances", version="2017-03-12", timestamp=v.timestamp, payload=v.body,
        content_type="application/json; charset=utf-8", sign_action_header=True,
    )
    assert "SignedHeaders=content-type;host;x-tc-action," in headers["Authorization"]
    assert _signature_of(headers["Authorization"]) == v.signature


def test_vector_a_post_tc3():
    assert json_body({"TaskID": vectors.TASK_ID, "SdkAppId": 1400127230}) == vectors.A.body
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.A.body,
        region="ap-singapore", language="zh-CN",
    )
    assert headers["Authorization"] == vectors.A.headers["Authorization"]


def test_vector_b_get_tc3():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="ecm", host="127.0.0.1:18080", method="GET",
        action="DescribeCustomImageTask", version="2019-07-19", timestamp=TS, query=vectors.B.query,
    )
    assert headers["Authorization"] == vectors.B.headers["Authorization"]


def test_vector_c_get_hmac_sha256():
    query = vectors.C.target.removeprefix("/?")
    decoded = [(k, urllib.parse.unquote(v)) for k, v in (p.split("=", 1) for p in query.split("&"))]
    sts = v1_string_to_sign("GET", "127.0.0.1:18080", decoded)
    assert sts == vectors.C.string_to_sign
    assert v1_signature(SKEY, sts, "HmacSHA256") == vectors.C.signature


def test_vector_d_post_hmac_sha1():
    built = v1_params(
        secret_id=SID, secret_key=SKEY, host="127.0.0.1:18080", action="DescribeSnapshotTask",
        version="2019-09-19", timestamp=TS, method="POST", sign_method="HmacSHA1", region="ap-singapore",
        params={"TaskID": vectors.TASK_ID, "SdkAppId": 1400127230, "RequestClient": "SDK_PYTHON_3.1.105"},
        language="zh-CN", nonce=1234567890,
    )
    assert dict(built)["Signature"] == vectors.D.signature
    assert "Signature=ujJ59JB7mdzTyEI5sts%2FP7u0nQQ%3D" in vectors.D.body.decode()


def test_vector_e_post_tc3_with_token_and_non_ascii():
    params = {
        "Whiteboard": {"Width": 1280, "Height": 720, "InitParams": '{"ratio":"16:9"}'},
        "SdkAppId": 1400123480, "RoomId": 12345,
        "CallbackURL": "http://127.0.0.1:9/cb?a=1&b=\u767d\u677f", "SnapshotMode": "AllMarks",
    }
    assert json_body(params) == vectors.E.body
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080", action="CreateSnapshotTask",
        version="2019-09-19", timestamp=TS, payload=vectors.E.body, region="ap-singapore", token="tok-123",
        language="en-US",
    )
    assert headers["Authorization"] == vectors.E.headers["Authorization"]
    query = urlencode(flatten(params))
    assert query == vectors.E_GET.query
    get_headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080", action="CreateSnapshotTask",
        version="2019-09-19", timestamp=TS, method="GET", query=query, region="ap-singapore",
    )
    assert _signature_of(get_headers["Authorization"]) == vectors.E_GET.signature


def test_tccli_capture_signs_host_with_scheme():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="http://127.0.0.1:18080",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.TCCLI.body,
    )
    assert headers["Authorization"] == vectors.TCCLI.headers["Authorization"]


def test_node_capture_signs_host_without_port_and_service_127():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="127", host="127.0.0.1:18080", signed_host="127.0.0.1",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.NODE.body,
    )
    assert headers["Authorization"] == vectors.NODE.headers["Authorization"]
