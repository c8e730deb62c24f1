"""ecm lists at their edges through the official Python SDK: DescribeImage's paging (Offset past
the end, Limit 0 and its maximum), filters AND-ed and values OR-ed, TotalCount independent of
the page, newest first; DescribeCustomImageTask's filters over many imports. The imports point at
a closed port, so they fail at once; lists show failed images like any other."""

from __future__ import annotations

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models

IMAGES = 105
NOWHERE = "http://127.0.0.1:9/disk.qcow2"


def filter_of(name: str, values: list[str]) -> models.Filter:
    f = models.Filter()
    f.Name, f.Values = name, values
    return f


@pytest.fixture(scope="module")
def server(start_server):
    return start_server()


@pytest.fixture(scope="module")
def imported(sdk) -> list[models.ImportCustomImageResponse]:
    """IMAGES imports, oldest first: `List-000` … ; every third one Ubuntu 22.04, the others CentOS 7."""
    created = []
    for i in range(IMAGES):
        request = models.ImportCustomImageRequest()
        request.ImageName = f"List-{i:03d}"
        request.Architecture = "x86_64"
        request.OsType, request.OsVersion = ("Ubuntu", "22.04") if i % 3 == 0 else ("CentOS", "7")
        url = models.ImageUrl()
        url.ImageFile = NOWHERE
        request.ImageUrls = [url]
        created.append(sdk.ecm().ImportCustomImage(request))
    return created


def images(sdk, *filters: models.Filter, offset: int | None = None, limit: int | None = None):
    request = models.DescribeImageRequest()
    request.Filters = list(filters)
    request.Offset, request.Limit = offset, limit
    return sdk.ecm().DescribeImage(request)


def test_describe_image_lists_newest_first_twenty_by_default(sdk, imported):
    answer = images(sdk)
    assert [i.ImageId for i in answer.ImageSet] == [c.ImageId for c in reversed(imported)][:20]


def test_describe_image_offset_past_the_end_is_an_empty_page_with_the_total(sdk, imported):
    answer = images(sdk, offset=IMAGES + 10, limit=10)
    assert (answer.ImageSet, answer.TotalCount) == ([], IMAGES)


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_describe_image_limit_outside_1_to_100_is_invalid_page_param(sdk, imported, limit):
    with pytest.raises(TencentCloudSDKException) as raised:
        images(sdk, limit=limit)
    assert raised.value.code == "InvalidParameterValue.InvaildPageParam"


def test_describe_image_limit_100_returns_100_images(sdk, imported):
    answer = images(sdk, limit=100)
    assert (len(answer.ImageSet), answer.TotalCount) == (100, IMAGES)


def test_describe_image_pages_follow_each_other_without_overlap(sdk, imported):
    pages = [images(sdk, offset=offset, limit=40) for offset in (0, 40, 80)]
    listed = [i.ImageId for page in pages for i in page.ImageSet]
    assert listed == [c.ImageId for c in reversed(imported)]


def test_describe_image_total_count_does_not_depend_on_the_page(sdk, imported):
    ubuntu = filter_of("image-os", ["ubuntu"])
    counts = {images(sdk, ubuntu, offset=offset, limit=limit).TotalCount for offset, limit in
              [(0, 1), (0, 100), (30, 5), (500, 10)]}
    assert counts == {35}


def test_describe_image_filters_are_anded(sdk, imported):
    answer = images(sdk, filter_of("image-name", ["list-01"]), filter_of("image-os", ["UBUNTU 22"]), limit=100)
    assert sorted(i.ImageName for i in answer.ImageSet) == ["List-012", "List-015", "List-018"]
    assert answer.TotalCount == 3


def test_describe_image_image_id_values_are_ored(sdk, imported):
    wanted = [imported[3].ImageId, imported[70].ImageId, "img-notthere"]
    answer = images(sdk, filter_of("image-id", wanted))
    assert [i.ImageId for i in answer.ImageSet] == [imported[70].ImageId, imported[3].ImageId]


def test_describe_image_name_matches_case_insensitively_anywhere(sdk, imported):
    assert images(sdk, filter_of("image-name", ["ST-10"])).TotalCount == 5


def test_describe_image_name_filter_takes_percent_and_underscore_literally(sdk, imported):
    for needle in ["%", "_", "List_0"]:
        assert images(sdk, filter_of("image-name", [needle])).TotalCount == 0, needle


def test_describe_image_name_substring_spanning_a_case_change_matches(sdk, imported):
    # `List-…`: upper then lower case in the name, the other way round in the value.
    assert images(sdk, filter_of("image-name", ["lIST-00"]), limit=100).TotalCount == 10
    assert images(sdk, filter_of("image-name", ["iST-10"]), limit=100).TotalCount == 5
    ubuntu = sum(1 for i in range(IMAGES) if i % 3 == 0)
    assert images(sdk, filter_of("image-os", ["uBUNTU 22"]), limit=100).TotalCount == ubuntu


def test_describe_image_substrings_shorter_than_three_characters_match_without_the_index(sdk, imported):
    # Two characters or fewer are matched against each of the account's images (see README).
    for needle in ["9", "-1", "T-", "s"]:
        expected = sum(1 for i in range(IMAGES) if needle.lower() in f"list-{i:03d}")
        assert images(sdk, filter_of("image-name", [needle]), limit=100).TotalCount == expected, needle
    assert images(sdk, filter_of("image-os", ["7"]), limit=100).TotalCount == IMAGES - sum(
        1 for i in range(IMAGES) if i % 3 == 0)
    assert images(sdk, filter_of("image-name", ["%"])).TotalCount == 0
    assert images(sdk, filter_of("image-name", ["_"])).TotalCount == 0


def test_describe_image_type_other_than_private_lists_nothing(sdk, imported):
    assert images(sdk, filter_of("image-type", ["PUBLIC_IMAGE"])).TotalCount == 0
    assert images(sdk, filter_of("image-type", ["PUBLIC_IMAGE", "PRIVATE_IMAGE"])).TotalCount == IMAGES


def custom_image_tasks(sdk, *filters: models.Filter):
    request = models.DescribeCustomImageTaskRequest()
    request.Filters = list(filters)
    return sdk.ecm().DescribeCustomImageTask(request)


def test_custom_image_task_values_are_ored_newest_first(sdk, imported):
    names = ["List-004", "List-100", "List-050"]
    answer = custom_image_tasks(sdk, filter_of("image-name", names))
    assert ([t.ImageName for t in answer.ImageTaskSet], answer.TotalCount) == (["List-100", "List-050", "List-004"], 3)


def test_custom_image_task_filters_are_anded(sdk, imported):
    tasks = [str(imported[i].TaskId) for i in (1, 2, 3)]
    answer = custom_image_tasks(sdk, filter_of("task-id", tasks), filter_of("image-id", [imported[2].ImageId]))
    assert [t.ImageName for t in answer.ImageTaskSet] == ["List-002"]


def test_custom_image_task_id_that_is_no_number_names_no_task(sdk, imported):
    answer = custom_image_tasks(sdk, filter_of("task-id", ["abc", f" {imported[7].TaskId} "]))
    assert [t.ImageName for t in answer.ImageTaskSet] == ["List-007"]
    assert custom_image_tasks(sdk, filter_of("task-id", ["abc"])).TotalCount == 0


@pytest.mark.parametrize("action", ["DescribeImage", "DescribeCustomImageTask"])
def test_more_filter_values_than_the_cap_are_invalid_parameter_value(sdk, imported, action):
    many = [f"img-{i}" for i in range(60)]
    request = getattr(models, f"{action}Request")()
    request.Filters = [filter_of("image-id", many), filter_of("image-id", many)]
    with pytest.raises(TencentCloudSDKException) as raised:
        getattr(sdk.ecm(), action)(request)
    assert raised.value.code == "InvalidParameterValue"
    assert "at most 100 values" in raised.value.message


def test_describe_image_names_up_to_the_cap_of_filter_values(sdk, imported):
    wanted = [c.ImageId for c in imported[:100]]
    assert images(sdk, filter_of("image-id", wanted), limit=100).TotalCount == 100
