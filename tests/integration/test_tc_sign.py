"""The test signer (tc_sign.py) reproduces every signature vector of protocol.md §13.

No server involved: these keep the raw-HTTP tests honest.
"""

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


def test_official_v3_example_payload_hash_and_signature():
    body = rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'
    assert sha256_hex(body) == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    canonical = tc3_canonical_request(
        "POST",
        "",
        {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"},
        sha256_hex(body),
    )
    assert sha256_hex(canonical.encode()) == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    sts = tc3_string_to_sign(1551113065, "cvm", canonical)
    assert tc3_signature(SKEY, 1551113065, "cvm", sts) == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_official_v3_example_with_signed_action_header():
    body = rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="cvm", host="cvm.tencentcloudapi.com",
        action="DescribeInstances", version="2017-03-12", timestamp=1551113065, payload=body,
        content_type="application/json; charset=utf-8", sign_action_header=True,
    )
    assert "SignedHeaders=content-type;host;x-tc-action," in headers["Authorization"]
    assert _signature_of(headers["Authorization"]) == "644be983de9a8a3f00db8eadaba61467c3b429e2215758ba897b738ca469fd26"


def test_official_v1_example_hmac_sha1():
    sts = ("GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886"
           "&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Timestamp=1465185768"
           "&Version=2017-03-12")
    assert v1_signature(SKEY, sts, "HmacSHA1") == "EliP9YW3pW28FpsEdkXt/+WcGeI="


def test_vector_a_post_tc3():
    assert json_body({"TaskID": vectors.TASK_ID, "SdkAppId": 1400127230}) == vectors.A_BODY
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.A_BODY,
        region="ap-singapore", language="zh-CN",
    )
    assert headers["Authorization"] == vectors.A_HEADERS["Authorization"]


def test_vector_b_get_tc3():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="ecm", host="127.0.0.1:18080", method="GET",
        action="DescribeCustomImageTask", version="2019-07-19", timestamp=TS, query=vectors.B_QUERY,
    )
    assert headers["Authorization"] == vectors.B_HEADERS["Authorization"]


def test_vector_c_get_hmac_sha256():
    pairs = [tuple(p.split("=", 1)) for p in vectors.C_QUERY.split("&")]
    decoded = [(k, __import__("urllib.parse").parse.unquote(v)) for k, v in pairs]
    sts = v1_string_to_sign("GET", "127.0.0.1:18080", decoded)
    assert sts == vectors.C_STRING_TO_SIGN
    assert v1_signature(SKEY, sts, "HmacSHA256") == "ISrIwCzflKkc2eNDRbevFTazNM7QxDrUlJTTw2JyAls="


def test_vector_d_post_hmac_sha1():
    built = v1_params(
        secret_id=SID, secret_key=SKEY, host="127.0.0.1:18080", action="DescribeSnapshotTask",
        version="2019-09-19", timestamp=TS, method="POST", sign_method="HmacSHA1", region="ap-singapore",
        params={"TaskID": vectors.TASK_ID, "SdkAppId": 1400127230, "RequestClient": "SDK_PYTHON_3.1.105"},
        language="zh-CN", nonce=1234567890,
    )
    assert dict(built)["Signature"] == "ujJ59JB7mdzTyEI5sts/P7u0nQQ="
    assert "Signature=ujJ59JB7mdzTyEI5sts%2FP7u0nQQ%3D" in vectors.D_BODY.decode()


def test_vector_e_post_tc3_with_token_and_non_ascii():
    params = {
        "Whiteboard": {"Width": 1280, "Height": 720, "InitParams": '{"ratio":"16:9"}'},
        "SdkAppId": 1400123480, "RoomId": 12345,
        "CallbackURL": "http://127.0.0.1:9/cb?a=1&b=\u767d\u677f", "SnapshotMode": "AllMarks",
    }
    assert json_body(params) == vectors.E_BODY
    assert sha256_hex(vectors.E_BODY) == "839af94033a0dd65d30fb4a5b727c010c559ec1e98b58fc9b59f615fd2e73b4b"
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080", action="CreateSnapshotTask",
        version="2019-09-19", timestamp=TS, payload=vectors.E_BODY, region="ap-singapore", token="tok-123",
        language="en-US",
    )
    assert headers["Authorization"] == vectors.E_HEADERS["Authorization"]
    query = urlencode(flatten(params))
    assert query == vectors.E_GET_QUERY
    get_headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="127.0.0.1:18080", action="CreateSnapshotTask",
        version="2019-09-19", timestamp=TS, method="GET", query=query, region="ap-singapore",
    )
    assert _signature_of(get_headers["Authorization"]) == "14f0d8f8467b762d2e2f4c88ad46d6cf0dbb9f11d1601f6defb9593704696fda"


def test_tccli_capture_signs_host_with_scheme():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="tiw", host="http://127.0.0.1:18080",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.A_BODY,
    )
    assert headers["Authorization"] == vectors.TCCLI_HEADERS["Authorization"]


def test_node_capture_signs_host_without_port_and_service_127():
    headers = tc3_headers(
        secret_id=SID, secret_key=SKEY, service="127", host="127.0.0.1:18080", signed_host="127.0.0.1",
        action="DescribeSnapshotTask", version="2019-09-19", timestamp=TS, payload=vectors.NODE_BODY,
    )
    assert sha256_hex(vectors.NODE_BODY) == "5c32dbe80e76255528ce99f89582f99f4322efc850dbc11beb0c530a92b2a4a4"
    assert headers["Authorization"] == vectors.NODE_HEADERS["Authorization"]
