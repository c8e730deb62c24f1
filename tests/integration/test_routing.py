"""Routing by (X-TC-Version, X-TC-Action), regions, HTTP methods, and the response envelope."""

import time

import pytest

import support
import tc_sign

TCSS = "DescribeUnfinishRefreshTask"


def test_unknown_action_for_known_version_is_invalid_action(api):
    resp = api.tc3("DescribeNothingAtAll", {}, service="tcss", version="2020-11-01")
    support.error(resp, "InvalidAction")


def test_action_of_another_version_is_invalid_action(api):
    # DescribeSnapshotTask exists, but in tiw 2019-09-19, not in tcss 2020-11-01
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": "x", "SdkAppId": 1}, service="tcss", version="2020-11-01")
    support.error(resp, "InvalidAction")


def test_unknown_version_is_no_such_version(api):
    support.error(api.tc3(TCSS, {}, version="2099-01-01"), "NoSuchVersion")


def test_v1_unknown_action_is_invalid_action(api):
    support.error(api.v1("DescribeNothingAtAll", {}, version="2019-07-19"), "InvalidAction")


def test_tiw_in_ap_guangzhou_is_unsupported_region(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": support.UNKNOWN_TASK_ID, "SdkAppId": support.MAIN_SDK_APP},
                   region="ap-guangzhou")
    support.error(resp, "UnsupportedRegion")


def test_tiw_in_ap_singapore_is_served(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": support.UNKNOWN_TASK_ID, "SdkAppId": support.MAIN_SDK_APP},
                   region="ap-singapore")
    support.error(resp, "InvalidParameter")   # routed and authenticated: the task is unknown


def test_tcss_in_unconfigured_region_is_unsupported_region(api):
    support.error(api.tc3(TCSS, {}, region="eu-frankfurt"), "UnsupportedRegion")


@pytest.mark.parametrize("region", ["ap-guangzhou", "ap-singapore"])
def test_tcss_in_configured_region_is_served(api, region):
    support.ok(api.tc3(TCSS, {}, region=region))


def test_tcss_without_region_is_served(api):
    support.ok(api.tc3(TCSS, {}, region=None))


def test_ecm_without_region_is_served(api):
    support.ok(api.tc3("DescribeCustomImageTask", {"Filters": [{"Name": "task-id", "Values": ["21"]}]}, region=None))


def test_ecm_in_unconfigured_region_is_unsupported_region(api):
    resp = api.tc3("DescribeCustomImageTask", {"Filters": [{"Name": "task-id", "Values": ["21"]}]},
                   region="eu-frankfurt")
    support.error(resp, "UnsupportedRegion")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_methods_other_than_get_and_post_are_unsupported_protocol(api, method):
    headers = tc_sign.tc3_headers(secret_id=support.MAIN.secret_id, secret_key=support.MAIN.secret_key,
                                  service="tcss", host=api.host, action=TCSS, version="2020-11-01",
                                  timestamp=int(time.time()), payload=b"{}")
    resp = api.session.request(method, api.base_url + "/", data=b"{}", headers=headers, timeout=30)
    support.error(resp, "UnsupportedProtocol")


def test_every_answer_has_its_own_request_id(api):
    answers = [api.tc3(TCSS, {}) for _ in range(3)] + [api.tc3(TCSS, {}, version="2099-01-01") for _ in range(2)]
    ids = {a.json()["Response"]["RequestId"] for a in answers}
    assert len(ids) == 5


def test_success_answer_is_exact_json_content_type_without_charset(api):
    resp = api.tc3(TCSS, {})
    assert resp.headers["Content-Type"] == "application/json"


def test_unparsable_json_body_is_invalid_parameter(api):
    support.error(api.tc3(TCSS, body=b"{not json"), "InvalidParameter")


def test_json_body_that_is_not_an_object_is_invalid_parameter(api):
    support.error(api.tc3(TCSS, body=b"[1, 2]"), "InvalidParameter")
