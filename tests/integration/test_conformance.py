"""Conformance to Tencent's own API definitions (`definitions.py`), generated for every served
action rather than listed by hand: whatever a documented request member holds, of its declared
type, is never refused as unknown or mistyped; an optional member sent as `null` is absent.

Known gaps are listed in KNOWN_GAPS with the issue that tracks them; they are strict xfails, so a
gap that closes fails the run until it leaves the list.
"""

from __future__ import annotations

import pytest

import definitions
import support

# (action, member): documented but not yet honoured; none today.
KNOWN_GAPS: set[tuple[str, str]] = set()


def _cases():
    for service, action in definitions.served():
        for member in definitions.input_members(service, action):
            marks = []
            if (action, member["name"]) in KNOWN_GAPS:
                marks.append(pytest.mark.xfail(strict=True, reason="issue #14: not yet honoured"))
            yield pytest.param(service, action, member, id=f"{action}.{member['name']}", marks=marks)


CASES = list(_cases())


def _refusal_names(resp, name: str) -> str | None:
    """The refusal of `resp` as unknown or mistyped when it names `name` (or a member inside
    it), else None. Refusals of the value itself (a filter name taskgate does not know) are the
    business of the action."""
    err = support._envelope(resp).get("Error")
    if not err:
        return None
    unknown = err["Code"] == "UnknownParameter"
    mistyped = err["Code"] == "InvalidParameter" and "The value type of parameter" in err["Message"]
    if (unknown or mistyped) and f"`{name}" in err["Message"]:
        return f"{err['Code']}: {err['Message']}"
    return None


def test_every_served_action_has_a_definition():
    for service, action in definitions.served():
        assert action in definitions.api(service)["actions"], f"{service} {action}"


@pytest.mark.parametrize("service,action,member", CASES)
def test_a_documented_member_of_its_declared_type_is_never_refused_as_unknown_or_mistyped(api, service, action, member):
    params = definitions.required_params(service, definitions.input_members(service, action))
    params[member["name"]] = definitions.sample(service, member)
    refusal = _refusal_names(api.tc3(action, params), member["name"])
    assert refusal is None, refusal


@pytest.mark.parametrize("service,action,member", [c for c in CASES if not c.values[2]["required"]])
def test_an_optional_member_sent_as_null_is_never_refused(api, service, action, member):
    params = definitions.required_params(service, definitions.input_members(service, action))
    params[member["name"]] = None
    refusal = _refusal_names(api.tc3(action, params), member["name"])
    assert refusal is None, refusal


# Calls that succeed on a fresh server, each with the parameters it needs.
ANSWERED = [
    ("ecm", "DescribeImportImageOs", {}),
    ("ecm", "DescribeImage", {}),
    ("ecm", "DescribeCustomImageTask", {"Filters": [{"Name": "image-name", "Values": ["nothing"]}]}),
    ("tcss", "DescribeUnfinishRefreshTask", {}),
    ("tcss", "DescribeRefreshTask", {"TaskId": 1}),
    ("tcss", "DescribeAssetSummary", {}),
    ("tcss", "DescribeAssetHostList", {}),
    ("tcss", "DescribeAssetContainerList", {}),
    ("tcss", "DescribeAssetImageList", {}),
    ("tcss", "CreateRefreshTask", {}),
    ("ecm", "ImportCustomImage", {"ImageName": "shape", "Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12",
                                  "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}]}),
    ("tiw", "SetWhiteboardPushCallbackKey", {"SdkAppId": support.MAIN_SDK_APP, "CallbackKey": "k"}),
    ("tiw", "DescribeWhiteboardPushCallback", {"SdkAppId": support.MAIN_SDK_APP}),
]


@pytest.mark.parametrize("service,action,params", ANSWERED, ids=[a for _, a, _ in ANSWERED])
def test_an_answer_has_every_declared_non_nullable_member_and_nothing_undeclared(api, service, action, params):
    answer = support.ok(api.tc3(action, params))
    assert definitions.shape_errors(service, action, answer) == []


def test_a_snapshot_tasks_answer_has_the_declared_shape(api):
    created = support.ok(api.tc3("CreateSnapshotTask", {"SdkAppId": support.MAIN_SDK_APP, "RoomId": 31,
                                                        "Whiteboard": {"Width": 320, "Height": 180}}))
    assert definitions.shape_errors("tiw", "CreateSnapshotTask", created) == []
    params = {"SdkAppId": support.MAIN_SDK_APP, "TaskID": created["TaskID"]}
    answer = support.ok(api.tc3("DescribeSnapshotTask", params))
    assert definitions.shape_errors("tiw", "DescribeSnapshotTask", answer) == []


# Tencent Cloud API 3.0's common error codes (the "公共错误码" page of the API documentation):
# any product may answer them.
COMMON_ERROR_CODES = {
    "ActionOffline", "AuthFailure.InvalidAuthorization", "AuthFailure.InvalidSecretId", "AuthFailure.MFAFailure",
    "AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire", "AuthFailure.SignatureFailure",
    "AuthFailure.TokenFailure", "AuthFailure.UnauthorizedOperation", "DryRunOperation", "FailedOperation",
    "InternalError", "InvalidAction", "InvalidParameter", "InvalidParameterValue", "InvalidRequest",
    "IpInBlacklist", "IpNotInWhitelist", "LimitExceeded", "MissingParameter", "NoSuchProduct", "NoSuchVersion",
    "RequestLimitExceeded", "RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded",
    "RequestLimitExceeded.UinLimitExceeded", "RequestSizeLimitExceeded", "ResourceInUse", "ResourceInsufficient",
    "ResourceNotFound", "ResourceUnavailable", "ResponseSizeLimitExceeded", "ServiceUnavailable",
    "UnauthorizedOperation", "UnknownParameter", "UnsupportedOperation", "UnsupportedProtocol", "UnsupportedRegion",
}
ERROR_CODE_SOURCE = support.SOURCE.parents[1] / "tcapi" / "src" / "error_code.rs"


def _product_error_codes() -> set[str]:
    import importlib

    codes = set()
    for service, version in definitions.PACKAGE_VERSION.items():
        module = importlib.import_module(f"tencentcloud.{service}.{version}.errorcodes")
        codes |= {value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)}
    return codes


def test_every_error_code_taskgate_can_answer_is_common_or_a_served_products():
    import re

    answered = set(re.findall(r'"([A-Z][A-Za-z]+(?:\.[A-Za-z]+)?)"', ERROR_CODE_SOURCE.read_text(encoding="utf-8")))
    assert len(answered) > 30, "the ErrorCode catalogue moved: update ERROR_CODE_SOURCE"
    assert sorted(answered - COMMON_ERROR_CODES - _product_error_codes()) == []
