"""The official Python SDK (tencentcloud-sdk-python-{common,tiw,tcss,ecm}) against the server, with
each transport/signature combination it offers: POST+TC3 (default), GET+TC3, GET+HmacSHA256,
POST+HmacSHA1. Real clock."""

import json

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.tcss.v20201101 import models as tcss_models
from tencentcloud.tiw.v20190919 import models as tiw_models

from support import MAIN, MAIN_SDK_APP, SDK_PROFILES, UNKNOWN_TASK_ID, Cred, assert_uuid

profiles = pytest.mark.parametrize("kind", SDK_PROFILES)


def image_task_request(name="task-id", values=("21",)):
    f = ecm_models.Filter()
    f.Name, f.Values = name, list(values)
    req = ecm_models.DescribeCustomImageTaskRequest()
    req.Filters = [f]
    return req


def snapshot_request(task_id=UNKNOWN_TASK_ID, sdk_app_id=MAIN_SDK_APP):
    req = tiw_models.DescribeSnapshotTaskRequest()
    req.TaskID, req.SdkAppId = task_id, sdk_app_id
    return req


def fields(resp) -> dict:
    doc = json.loads(resp.to_json_string())
    doc.pop("RequestId")
    return doc


@profiles
def test_unfinish_refresh_task_without_any_task_is_task_no_exist(sdk, kind):
    resp = sdk.tcss(kind).DescribeUnfinishRefreshTask(tcss_models.DescribeUnfinishRefreshTaskRequest())
    assert resp.TaskId == 0
    assert resp.TaskStatus == "Task_NoExist"
    assert_uuid(resp.RequestId)


@profiles
def test_unfinish_refresh_task_with_region_is_served(sdk, kind):
    resp = sdk.tcss(kind, region="ap-guangzhou").DescribeUnfinishRefreshTask(
        tcss_models.DescribeUnfinishRefreshTaskRequest())
    assert resp.TaskStatus == "Task_NoExist"


@profiles
def test_custom_image_task_with_filters_is_empty(sdk, kind):
    resp = sdk.ecm(kind).DescribeCustomImageTask(image_task_request())
    assert resp.TotalCount == 0
    assert resp.ImageTaskSet == []


def test_custom_image_task_answer_is_the_same_for_every_encoding(sdk):
    answers = {kind: fields(sdk.ecm(kind).DescribeCustomImageTask(image_task_request())) for kind in SDK_PROFILES}
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers


@profiles
def test_custom_image_task_without_filters_is_missing_parameter(sdk, kind):
    with pytest.raises(TencentCloudSDKException) as exc:
        sdk.ecm(kind).DescribeCustomImageTask(ecm_models.DescribeCustomImageTaskRequest())
    assert exc.value.get_code() == "MissingParameter"


@profiles
def test_custom_image_task_with_unknown_filter_is_invalid_parameter(sdk, kind):
    with pytest.raises(TencentCloudSDKException) as exc:
        sdk.ecm(kind).DescribeCustomImageTask(image_task_request(name="colour"))
    assert exc.value.get_code() == "InvalidParameter"


@profiles
def test_unknown_snapshot_task_raises_invalid_parameter(sdk, kind):
    with pytest.raises(TencentCloudSDKException) as exc:
        sdk.tiw(kind).DescribeSnapshotTask(snapshot_request())
    assert exc.value.get_code() == "InvalidParameter"
    assert_uuid(exc.value.get_request_id())


@profiles
def test_unknown_whiteboard_push_raises_task_not_found(sdk, kind):
    req = tiw_models.DescribeWhiteboardPushRequest()
    req.SdkAppId, req.TaskId = MAIN_SDK_APP, "0c69baivvc3lp8t4f80b"
    with pytest.raises(TencentCloudSDKException) as exc:
        sdk.tiw(kind).DescribeWhiteboardPush(req)
    assert exc.value.get_code() == "InvalidParameter.TaskNotFound"


def test_tiw_client_in_ap_guangzhou_raises_unsupported_region(sdk):
    with pytest.raises(TencentCloudSDKException) as exc:
        sdk.tiw(region="ap-guangzhou").DescribeSnapshotTask(snapshot_request())
    assert exc.value.get_code() == "UnsupportedRegion"


@profiles
def test_wrong_secret_key_raises_signature_failure(sdk, kind):
    client = sdk.tcss(kind, cred=Cred(MAIN.uin, MAIN.secret_id, "wrong-key"))
    with pytest.raises(TencentCloudSDKException) as exc:
        client.DescribeUnfinishRefreshTask(tcss_models.DescribeUnfinishRefreshTaskRequest())
    assert exc.value.get_code() == "AuthFailure.SignatureFailure"


def test_english_profile_gets_english_messages(sdk):
    client = sdk.tcss(cred=Cred(MAIN.uin, MAIN.secret_id, "wrong-key"), language="en-US")
    with pytest.raises(TencentCloudSDKException) as exc:
        client.DescribeUnfinishRefreshTask(tcss_models.DescribeUnfinishRefreshTaskRequest())
    assert exc.value.get_message().isascii()
