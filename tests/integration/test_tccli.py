"""tccli (the official CLI) with `--endpoint http://127.0.0.1:PORT` and env credentials: it sends and
signs `Host: http://127.0.0.1:PORT`. Success prints the response JSON on stdout; an API error exits
255 with the code on stderr."""

import json

from support import MAIN_SDK_APP, UNKNOWN_TASK_ID, assert_uuid


def stdout_json(proc) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return json.loads(proc.stdout)


def test_unfinish_refresh_task(tccli):
    doc = stdout_json(tccli("tcss", "DescribeUnfinishRefreshTask"))
    assert doc["TaskId"] == 0
    assert doc["TaskStatus"] == "Task_NoExist"
    assert_uuid(doc["RequestId"])


def test_custom_image_task_with_json_filters(tccli):
    doc = stdout_json(tccli("ecm", "DescribeCustomImageTask", "--Filters", '[{"Name":"task-id","Values":["21"]}]'))
    assert doc["TotalCount"] == 0
    assert doc["ImageTaskSet"] == []


def test_custom_image_task_with_unfolded_filters_gives_the_same_answer(tccli):
    unfolded = stdout_json(tccli("ecm", "DescribeCustomImageTask", "--cli-unfold-argument",
                                 "--Filters.0.Name", "task-id", "--Filters.0.Values", "21"))
    folded = stdout_json(tccli("ecm", "DescribeCustomImageTask", "--Filters", '[{"Name":"task-id","Values":["21"]}]'))
    unfolded.pop("RequestId"), folded.pop("RequestId")
    assert unfolded == folded


def test_unknown_snapshot_task_exits_255_with_the_code_on_stderr(tccli):
    proc = tccli("tiw", "DescribeSnapshotTask", "--region", "ap-singapore",
                 "--SdkAppId", str(MAIN_SDK_APP), "--TaskID", UNKNOWN_TASK_ID)
    assert proc.returncode == 255, proc
    assert "code:InvalidParameter " in proc.stderr, proc.stderr


def test_tiw_in_the_default_region_exits_255_with_unsupported_region(tccli):
    # tccli's default region is ap-guangzhou; tiw serves only ap-singapore
    proc = tccli("tiw", "DescribeSnapshotTask", "--SdkAppId", str(MAIN_SDK_APP), "--TaskID", UNKNOWN_TASK_ID)
    assert proc.returncode == 255, proc
    assert "code:UnsupportedRegion " in proc.stderr, proc.stderr


def test_unknown_filter_name_exits_255_with_invalid_parameter(tccli):
    proc = tccli("ecm", "DescribeCustomImageTask", "--Filters", '[{"Name":"colour","Values":["red"]}]')
    assert proc.returncode == 255, proc
    assert "code:InvalidParameter " in proc.stderr, proc.stderr
