"""Hostile request shapes (issue #12, faults 1 and 11): every answer at `/` is the HTTP 200 JSON
envelope and the server stays up, whatever the nesting, count or size of what a client sends, up to
the transport's hard caps (a 64 KiB request line, 1 MiB of request head)."""

import socket

import support
import tc_sign

ACTION = "DescribeUnfinishRefreshTask"
VERSION = "2020-11-01"


def _alive(api):
    support.ok(api.tc3(ACTION))


def _deep_key(levels: int) -> str:
    return ".".join(["a"] * levels)


def test_flattened_key_of_6000_segments_before_authentication_is_an_envelope(api):
    resp = api.session.get(f"{api.base_url}/?Signature=x&Timestamp=1&Nonce=1&{_deep_key(6000)}=1", timeout=30)
    assert support.error_code(resp) is not None
    _alive(api)


def test_flattened_key_deeper_than_32_levels_is_invalid_parameter(api):
    resp = api.tc3(ACTION, method="GET", query=tc_sign.urlencode([(_deep_key(33), "1")]))
    err = support.error(resp, "InvalidParameter")
    assert "32 levels" in err["Message"]
    _alive(api)


def test_tc3_form_body_with_a_6000_segment_key_is_invalid_parameter(api):
    body = f"{_deep_key(6000)}=1".encode()
    resp = api.tc3(ACTION, body=body, content_type="application/x-www-form-urlencoded")
    err = support.error(resp, "InvalidParameter")
    assert len(err["Message"]) < 300, "the message must not echo a 12 KB name"
    _alive(api)


def test_v1_query_with_a_6000_segment_key_is_invalid_parameter(api):
    resp = api.v1(ACTION, {_deep_key(6000): "1"})
    support.error(resp, "InvalidParameter")
    _alive(api)


def test_json_body_nested_40_levels_is_invalid_parameter(api):
    nested = 1
    for _ in range(40):
        nested = {"a": nested}
    err = support.error(api.tc3(ACTION, {"Deep": nested}), "InvalidParameter")
    assert "32 levels" in err["Message"]


def test_json_body_nested_100000_levels_is_invalid_parameter(api):
    body = ('{"a":' * 100000 + "1" + "}" * 100000).encode()
    support.error(api.tc3(ACTION, body=body), "InvalidParameter")
    _alive(api)


def test_more_than_10000_flattened_parameters_are_invalid_parameter(api):
    body = "&".join(f"p{i}=1" for i in range(10_050)).encode()
    err = support.error(api.tc3(ACTION, body=body, content_type="application/x-www-form-urlencoded"), "InvalidParameter")
    assert "10000" in err["Message"]


def test_120_headers_are_answered_in_the_envelope(api):
    extra = {f"X-Filler-{i}": "x" for i in range(120)}
    support.ok(api.tc3(ACTION, extra_headers=extra))


def test_a_header_of_200_kb_is_answered_in_the_envelope(api):
    support.ok(api.tc3(ACTION, extra_headers={"X-Filler": "x" * (200 * 1024)}))


def test_a_query_of_60_kb_is_request_size_limit_exceeded_in_the_envelope(api):
    resp = api.session.get(f"{api.base_url}/?Filler={'x' * (60 * 1024)}", timeout=30)
    support.error(resp, "RequestSizeLimitExceeded")


def test_a_request_line_over_the_64_kib_cap_closes_without_harm(api):
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as conn:
        conn.sendall(f"GET /?x={'x' * (80 * 1024)} HTTP/1.1\r\nHost: {api.host}\r\n\r\n".encode())
        conn.settimeout(10)
        head = conn.recv(64)
    assert head.startswith(b"HTTP/1.1 414"), head
    _alive(api)


def test_nested_filters_values_decode_within_the_depth_bound(api):
    support.ok(api.tc3("DescribeCustomImageTask", {"Filters": [{"Name": "task-id", "Values": ["1"]}]}))
