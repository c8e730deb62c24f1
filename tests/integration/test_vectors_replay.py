"""protocol.md §13: the captured requests (tests/fixtures/sign_vectors.json), replayed byte for byte against a server whose clock is
frozen at their timestamp (1700000000). They were signed for `Host: 127.0.0.1:18080`, which is
sent literally although the server listens elsewhere.

A replay "authenticates" when the answer is not an AuthFailure.*: for DescribeSnapshotTask the
task is unknown, so the expected answer is InvalidParameter.
"""

import time

import pytest

import support
import vectors
from support import raw_http

FROZEN = vectors.TIMESTAMP


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(frozen_time=FROZEN)


def replay(server, method, headers, body=b"", target="/"):
    return raw_http(server.port, method, target, headers, body)


def test_vector_a_post_tc3_authenticates(server):
    resp = replay(server, "POST", vectors.A.headers, vectors.A.body)
    support.error(resp, "InvalidParameter")


def test_vector_a_with_one_body_byte_changed_is_signature_failure(server):
    body = vectors.A.body.replace(b"1400127230", b"1400127231")
    resp = replay(server, "POST", vectors.A.headers, body)
    support.error(resp, "AuthFailure.SignatureFailure")


def test_vector_b_get_tc3_authenticates(server):
    resp = replay(server, "GET", vectors.B.headers, target=vectors.B.target)
    inner = support.ok(resp)
    assert inner["TotalCount"] == 0
    assert inner["ImageTaskSet"] == []


def test_vector_b_query_is_signed_as_received_not_sorted(server):
    name, values = vectors.B.query.split("&")[1], vectors.B.query.split("&")[0]
    resp = replay(server, "GET", vectors.B.headers, target=f"/?{name}&{values}")
    support.error(resp, "AuthFailure.SignatureFailure")


def test_vector_c_get_hmac_sha256_authenticates(server):
    resp = replay(server, "GET", vectors.C.headers, target=vectors.C.target)
    inner = support.ok(resp)
    assert inner["TotalCount"] == 0
    assert inner["ImageTaskSet"] == []


def test_vector_d_post_hmac_sha1_authenticates(server):
    resp = replay(server, "POST", vectors.D.headers, vectors.D.body)
    support.error(resp, "InvalidParameter")


def test_vector_d_with_another_nonce_is_signature_failure(server):
    body = vectors.D.body.replace(b"Nonce=1234567890", b"Nonce=1234567891")
    resp = replay(server, "POST", vectors.D.headers, body)
    support.error(resp, "AuthFailure.SignatureFailure")


def test_vector_e_post_tc3_with_token_authenticates(server):
    resp = replay(server, "POST", vectors.E.headers, vectors.E.body)
    code = support.error_code(resp)
    assert code is None or not code.startswith("AuthFailure"), code
    assert code != "UnauthorizedOperation.SdkAppId"


def test_vector_e_with_an_unlisted_token_is_token_failure(server):
    headers = {**vectors.E.headers, "X-TC-Token": "tok-not-listed"}
    resp = replay(server, "POST", headers, vectors.E.body)
    support.error(resp, "AuthFailure.TokenFailure")


def test_tccli_capture_with_scheme_in_host_authenticates(server):
    resp = replay(server, "POST", vectors.TCCLI.headers, vectors.TCCLI.body)
    support.error(resp, "InvalidParameter")


def test_node_capture_with_service_127_and_portless_host_authenticates(server):
    resp = replay(server, "POST", vectors.NODE.headers, vectors.NODE.body)
    support.error(resp, "InvalidParameter")


def test_frozen_time_is_the_server_clock(server):
    api = support.Api(server.base_url)
    resp = api.tc3("DescribeUnfinishRefreshTask", {}, timestamp=int(time.time()))
    support.error(resp, "AuthFailure.SignatureExpire")
    support.ok(api.tc3("DescribeUnfinishRefreshTask", {}, timestamp=FROZEN + 299))


def test_frozen_time_fixes_only_the_signature_clock(server):
    api = support.Api(server.base_url)
    params = {"SdkAppId": support.MAIN_SDK_APP, "RoomId": 4242, "Whiteboard": {"Width": 320, "Height": 180}}
    task_id = support.ok(api.tc3("CreateSnapshotTask", params, timestamp=FROZEN + 1))["TaskID"]
    deadline = time.monotonic() + 30
    while True:
        answer = support.ok(api.tc3("DescribeSnapshotTask", {"SdkAppId": support.MAIN_SDK_APP, "TaskID": task_id},
                                    timestamp=FROZEN + 1))
        if answer["Status"] == "Finished":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    now = time.time()
    assert now - 60 < answer["CreateTime"] <= answer["FinishTime"] <= now + 1
