"""Authentication (protocol.md §3, §4, §8): TC3-HMAC-SHA256 and HmacSHA1/HmacSHA256 as raw HTTP."""

import time

import pytest

import support
import tc_sign
from support import MAIN, MAIN_SDK_APP, MAIN_TOKEN, UNKNOWN

ACTION = "DescribeUnfinishRefreshTask"   # no parameters, answers from any account with tcss
ZH_SIGNATURE_FAILURE = "请求签名验证失败，请检查您的签名计算是否正确。"
EN_SIGNATURE_FAILURE = "The provided credentials could not be validated. Please check your signature is correct."


def _post(api, headers, body=b"{}"):
    return api.session.post(api.base_url + "/", data=body, headers=headers, timeout=30)


def _headers(api, **kw):
    args = dict(secret_id=MAIN.secret_id, secret_key=MAIN.secret_key, service="tcss", host=api.host,
                action=ACTION, version="2020-11-01", timestamp=int(time.time()), payload=b"{}")
    args.update(kw)
    return tc_sign.tc3_headers(**args)


# ---- a correct request ---------------------------------------------------------------------------


def test_correctly_signed_tc3_post_succeeds(api):
    inner = support.ok(api.tc3(ACTION))
    assert inner["TaskStatus"] == "Task_NoExist"


def test_correctly_signed_tc3_get_succeeds(api):
    support.ok(api.tc3(ACTION, method="GET"))


# ---- malformed Authorization ---------------------------------------------------------------------


def test_missing_authorization_is_invalid_authorization(api):
    headers = _headers(api)
    del headers["Authorization"]
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


def test_missing_timestamp_names_the_common_parameter_as_the_real_service_does(api):
    headers = _headers(api)
    del headers["X-TC-Timestamp"]
    err = support.error(_post(api, headers), "MissingParameter")
    assert err["Message"] == "The request is missing a required parameter `Timestamp`."


def test_unknown_algorithm_is_invalid_authorization(api):
    headers = _headers(api)
    headers["Authorization"] = headers["Authorization"].replace("TC3-HMAC-SHA256", "TC3-HMAC-SHA1", 1)
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


def test_garbage_authorization_is_invalid_authorization(api):
    headers = {**_headers(api), "Authorization": "Bearer abc"}
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


def test_credential_without_scope_is_invalid_authorization(api):
    headers = _headers(api)
    headers["Authorization"] = (f"TC3-HMAC-SHA256 Credential={MAIN.secret_id}, SignedHeaders=content-type;host, "
                                f"Signature={'0' * 64}")
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


def test_authorization_without_signature_is_invalid_authorization(api):
    headers = _headers(api)
    headers["Authorization"] = headers["Authorization"].rsplit(", Signature=", 1)[0]
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


def test_skip_sign_is_rejected_as_invalid_authorization(api):
    headers = {**_headers(api), "Authorization": "SKIP"}
    support.error(_post(api, headers), "AuthFailure.InvalidAuthorization")


# ---- key, signature, time, token -----------------------------------------------------------------


def test_unknown_secret_id_is_secret_id_not_found(api):
    support.error(api.tc3(ACTION, cred=UNKNOWN), "AuthFailure.SecretIdNotFound")


def test_wrong_secret_key_is_signature_failure(api):
    support.error(api.tc3(ACTION, secret_key="not-the-key"), "AuthFailure.SignatureFailure")


def test_body_changed_after_signing_is_signature_failure(api):
    headers = _headers(api)
    support.error(_post(api, headers, b'{ }'), "AuthFailure.SignatureFailure")


def test_timestamp_301_seconds_old_is_signature_expire(api):
    support.error(api.tc3(ACTION, timestamp=int(time.time()) - 301), "AuthFailure.SignatureExpire")


def test_timestamp_301_seconds_ahead_is_signature_expire(api):
    support.error(api.tc3(ACTION, timestamp=int(time.time()) + 301), "AuthFailure.SignatureExpire")


def test_timestamp_290_seconds_old_is_accepted(api):
    support.ok(api.tc3(ACTION, timestamp=int(time.time()) - 290))


def test_listed_token_is_accepted(api):
    support.ok(api.tc3(ACTION, token=MAIN_TOKEN))


def test_unlisted_token_is_token_failure(api):
    support.error(api.tc3(ACTION, token="tok-unknown"), "AuthFailure.TokenFailure")


# ---- what the official clients put in (protocol.md §3.1, §3.2) ------------------------------------


def test_any_credential_scope_service_is_accepted(api):
    support.ok(api.tc3(ACTION, service="127"))


def test_host_signed_without_port_is_accepted(api):
    support.ok(api.tc3(ACTION, signed_host=api.host.rsplit(":", 1)[0]))


def test_signed_x_tc_action_header_with_lowercased_value_is_accepted(api):
    support.ok(api.tc3(ACTION, sign_action_header=True))


def test_json_content_type_with_charset_is_accepted(api):
    support.ok(api.tc3(ACTION, content_type="application/json; charset=utf-8"))


def test_unsigned_payload_is_accepted(api):
    support.ok(api.tc3(ACTION, unsigned_payload=True))


def test_scheme_inside_host_header_is_accepted(server):
    host = f"http://{server.host}"
    headers = tc_sign.tc3_headers(secret_id=MAIN.secret_id, secret_key=MAIN.secret_key, service="tcss", host=host,
                                  action=ACTION, version="2020-11-01", timestamp=int(time.time()), payload=b"{}")
    support.ok(support.raw_http(server.port, "POST", "/", headers, b"{}"))


# ---- signature v1 ------------------------------------------------------------------------------------


def test_v1_hmac_sha256_get_succeeds(api):
    support.ok(api.v1(ACTION, method="GET", sign_method="HmacSHA256"))


def test_v1_hmac_sha1_post_succeeds(api):
    support.ok(api.v1(ACTION, method="POST", sign_method="HmacSHA1"))


def test_v1_wrong_secret_key_is_signature_failure(api):
    support.error(api.v1(ACTION, secret_key="not-the-key"), "AuthFailure.SignatureFailure")


def test_v1_unknown_secret_id_is_secret_id_not_found(api):
    support.error(api.v1(ACTION, cred=UNKNOWN), "AuthFailure.SecretIdNotFound")


def test_v1_timestamp_301_seconds_old_is_signature_expire(api):
    support.error(api.v1(ACTION, timestamp=int(time.time()) - 301), "AuthFailure.SignatureExpire")


def test_v1_unlisted_token_is_token_failure(api):
    support.error(api.v1(ACTION, token="tok-unknown"), "AuthFailure.TokenFailure")


# ---- message language ------------------------------------------------------------------------------


def test_signature_failure_message_is_chinese_for_zh_cn(api):
    err = support.error(api.tc3(ACTION, secret_key="x", language="zh-CN"), "AuthFailure.SignatureFailure")
    assert err["Message"] == ZH_SIGNATURE_FAILURE


def test_signature_failure_message_is_english_for_en_us(api):
    err = support.error(api.tc3(ACTION, secret_key="x", language="en-US"), "AuthFailure.SignatureFailure")
    assert err["Message"] == EN_SIGNATURE_FAILURE


# Texts of the "公共错误码" page's solutions, which pair each English message with its Chinese one
# (quoted in teco-project/teco-core Sources/TecoCore/Errors/TCCommonError.swift, commit 3b8b2a5).
MISSING_TASK = {"SdkAppId": MAIN_SDK_APP}


def test_a_missing_action_parameter_is_answered_in_chinese_for_zh_cn(api):
    err = support.error(api.tc3("DescribeSnapshotTask", MISSING_TASK, language="zh-CN"), "MissingParameter")
    assert err["Message"] == "请求缺少必传参数 `TaskID`。"


def test_a_missing_action_parameter_is_answered_in_english_for_en_us(api):
    err = support.error(api.tc3("DescribeSnapshotTask", MISSING_TASK, language="en-US"), "MissingParameter")
    assert err["Message"] == "The request is missing a required parameter `TaskID`."


def test_a_missing_common_parameter_is_answered_in_english_for_zh_cn(api):
    # tencentcloud-sdk-nodejs issue 99: sent with X-TC-Language zh-CN, answered in English.
    headers = _headers(api)
    del headers["X-TC-Timestamp"]
    headers["X-TC-Language"] = "zh-CN"
    err = support.error(_post(api, headers), "MissingParameter")
    assert err["Message"] == "The request is missing a required parameter `Timestamp`."


@pytest.mark.parametrize("language,message", [
    ("zh-CN", "参数 `SdkAppId` 取值类型错误。传入值 `abc`。"),
    ("en-US", "The value type of parameter `SdkAppId` is not valid, input value is `abc`."),
])
def test_a_mistyped_parameter_quotes_the_input_value_in_the_callers_language(api, language, message):
    params = {"SdkAppId": "abc", "TaskID": support.UNKNOWN_TASK_ID}
    err = support.error(api.tc3("DescribeSnapshotTask", params, language=language), "InvalidParameter")
    assert err["Message"] == message


def test_v1_language_parameter_picks_english(api):
    err = support.error(api.v1(ACTION, secret_key="x", language="en-US"), "AuthFailure.SignatureFailure")
    assert err["Message"] == EN_SIGNATURE_FAILURE



# ---- v1 replays ----------------------------------------------------------------------------------


def _v1_pairs(api, host=None, **kw):
    args = dict(secret_id=MAIN.secret_id, secret_key=MAIN.secret_key, host=host or api.host, action=ACTION,
                version="2020-11-01", timestamp=int(time.time()))
    args.update(kw)
    return tc_sign.urlencode(tc_sign.v1_params(**args))


def test_v1_get_sent_twice_is_refused_the_second_time(api):
    url = f"{api.base_url}/?{_v1_pairs(api)}"
    support.ok(api.session.get(url, timeout=30))
    err = support.error(api.session.get(url, timeout=30), "AuthFailure.SignatureExpire")
    assert "already used" in err["Message"]


def test_v1_hmac_sha1_post_sent_twice_is_refused_the_second_time(api):
    body = _v1_pairs(api, method="POST", sign_method="HmacSHA1").encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    support.ok(api.session.post(api.base_url + "/", data=body, headers=headers, timeout=30))
    support.error(api.session.post(api.base_url + "/", data=body, headers=headers, timeout=30),
                  "AuthFailure.SignatureExpire")


def test_v1_same_nonce_with_another_timestamp_is_a_new_request(api):
    now = int(time.time())
    for timestamp in (now, now - 1):
        support.ok(api.session.get(f"{api.base_url}/?{_v1_pairs(api, nonce=777, timestamp=timestamp)}", timeout=30))


def test_v1_replay_is_refused_by_another_node_on_the_same_database(api, server, start_server):
    second = start_server(config=server.config)
    query = _v1_pairs(api)  # signed for the first node's Host
    support.ok(api.session.get(f"{api.base_url}/?{query}", timeout=30))
    replayed = api.session.get(f"{second.base_url}/?{query}", headers={"Host": api.host}, timeout=30)
    support.error(replayed, "AuthFailure.SignatureExpire")


def test_official_sdk_v1_calls_in_the_same_second_all_succeed(sdk):
    from tencentcloud.tcss.v20201101 import models

    for kind in ("get-hmacsha256", "post-hmacsha1"):
        client = sdk.tcss(kind)
        for _ in range(5):
            client.DescribeUnfinishRefreshTask(models.DescribeUnfinishRefreshTaskRequest())


def test_v1_timestamp_far_outside_i64_arithmetic_is_signature_expire(api):
    support.error(api.v1(ACTION, timestamp=-(2**63)), "AuthFailure.SignatureExpire")
