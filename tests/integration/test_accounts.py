"""Account checks shared by all products: enabled services, expiry, SdkAppId ownership."""

import support
from support import EXPIRED, MAIN, MAIN_SDK_APP, OTHER_SDK_APP, TCSS_ONLY, UNKNOWN_TASK_ID

TASK_21 = {"Filters": [{"Name": "task-id", "Values": ["21"]}]}


# tcss and ecm document no code of their own for a service not enabled or expired (the Go
# SDK's per-action lists, tests/fixtures/action_error_codes.json): the common ResourceUnavailable.
def test_ecm_not_enabled_for_account_is_resource_unavailable(api):
    resp = api.tc3("DescribeCustomImageTask", TASK_21, cred=TCSS_ONLY)
    support.error(resp, "ResourceUnavailable")


def test_tiw_not_enabled_for_account_is_not_registered(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": OTHER_SDK_APP}, cred=TCSS_ONLY)
    support.error(resp, "ResourceUnavailable.NotRegistered")


def test_enabled_service_is_served(api):
    support.ok(api.tc3("DescribeUnfinishRefreshTask", {}, cred=TCSS_ONLY))


def test_expired_tiw_account_is_service_expired(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP}, cred=EXPIRED)
    support.error(resp, "ResourceUnavailable.ServiceExpired")


def test_expired_tcss_account_is_resource_unavailable(api):
    support.error(api.tc3("DescribeUnfinishRefreshTask", {}, cred=EXPIRED), "ResourceUnavailable")


def test_expired_ecm_account_is_resource_unavailable(api):
    support.error(api.tc3("DescribeCustomImageTask", TASK_21, cred=EXPIRED), "ResourceUnavailable")


def test_sdk_app_id_of_another_account_is_unauthorized(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": OTHER_SDK_APP}, cred=MAIN)
    support.error(resp, "UnauthorizedOperation.SdkAppId")


def test_sdk_app_id_of_nobody_is_unauthorized(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": 1400999999}, cred=MAIN)
    support.error(resp, "UnauthorizedOperation.SdkAppId")


def test_sdk_app_id_ownership_is_checked_for_whiteboard_push_too(api):
    resp = api.tc3("DescribeWhiteboardPush", {"SdkAppId": OTHER_SDK_APP, "TaskId": "t"}, cred=MAIN)
    support.error(resp, "UnauthorizedOperation.SdkAppId")


def test_own_sdk_app_id_is_accepted(api):
    resp = api.tc3("DescribeSnapshotTask", {"TaskID": UNKNOWN_TASK_ID, "SdkAppId": MAIN_SDK_APP}, cred=MAIN)
    support.error(resp, "InvalidParameter")   # past the ownership check: the task is unknown
