"""ClientToken: an idempotency key accepted by every action; the same token on the same action and
account within 24 h returns the first answer."""

import uuid

import support
from support import MAIN, TCSS_ONLY

REFRESH = "DescribeUnfinishRefreshTask"
IMG = "DescribeCustomImageTask"


def token() -> str:
    return "ct-" + uuid.uuid4().hex


def test_same_token_returns_the_same_answer(api):
    t = token()
    first = support.ok(api.tc3(REFRESH, {"ClientToken": t}))
    second = support.ok(api.tc3(REFRESH, {"ClientToken": t}))
    assert support.without_request_id(second) == support.without_request_id(first)


def test_same_token_with_other_parameters_returns_the_first_answer(api):
    t = token()
    first = support.ok(api.tc3(IMG, {"Filters": [{"Name": "task-id", "Values": ["21"]}], "ClientToken": t}))
    # on its own this request is InvalidParameter (unknown filter name); with a used token it is a replay
    replay = support.ok(api.tc3(IMG, {"Filters": [{"Name": "colour", "Values": ["red"]}], "ClientToken": t}))
    assert support.without_request_id(replay) == support.without_request_id(first)


def test_same_token_on_another_action_is_a_new_request(api):
    t = token()
    support.ok(api.tc3(REFRESH, {"ClientToken": t}))
    other = support.ok(api.tc3(IMG, {"Filters": [{"Name": "task-id", "Values": ["21"]}], "ClientToken": t}))
    assert "ImageTaskSet" in other and "TaskStatus" not in other


def test_same_token_from_another_account_is_a_new_request(api):
    t = token()
    support.ok(api.tc3(IMG, {"Filters": [{"Name": "task-id", "Values": ["21"]}], "ClientToken": t}, cred=MAIN))
    resp = api.tc3(IMG, {"Filters": [{"Name": "task-id", "Values": ["21"]}], "ClientToken": t}, cred=TCSS_ONLY)
    support.error(resp, "ResourceUnavailable")


def test_token_is_accepted_in_query_and_form(api):
    t = token()
    first = support.ok(api.tc3(REFRESH, {"ClientToken": t}, method="GET"))
    second = support.ok(api.v1(REFRESH, {"ClientToken": t}, method="POST", sign_method="HmacSHA256"))
    assert support.without_request_id(second) == support.without_request_id(first)
