"""ecm image import through the official Python SDK: real qemu-img images served over HTTP,
imported, inspected and stored; failures end with a message a user can act on."""

from __future__ import annotations

import hashlib
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ecm.v20190719 import models

import support
from image_server import ImageServer, make_image, sha256_of

DEADLINE = 120.0
MAX_IMAGE_BYTES = 16 << 20


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    make_image(directory, "disk.qcow2", "qcow2", "8M")
    make_image(directory, "disk.raw", "raw", "4M")
    make_image(directory, "disk.vmdk", "vmdk", "8M")
    make_image(directory, "disk.vhd", "vpc", "8M")
    make_image(directory, "base.qcow2", "qcow2", "8M")
    make_image(directory, "child.qcow2", "qcow2", "8M", "-b", "base.qcow2", "-F", "qcow2")
    make_image(directory, "huge.raw", "raw", "32M")
    corrupt = bytearray((directory / "disk.qcow2").read_bytes())
    corrupt[48:56] = (0x7F_FFFF_0000).to_bytes(8, "big")  # refcount table far past the end
    (directory / "corrupt.qcow2").write_bytes(bytes(corrupt))
    (directory / "page.qcow2").write_text("<html><body>Access denied</body></html>\n")
    server = ImageServer(directory).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(ecm={"max_image_bytes": MAX_IMAGE_BYTES})


_names = iter(range(10_000))


def import_image(sdk, *urls: str, name: str | None = None, **fields) -> models.ImportCustomImageResponse:
    request = models.ImportCustomImageRequest()
    request.ImageName = name or f"img{next(_names)}"
    request.Architecture = fields.pop("Architecture", "x86_64")
    request.OsType = fields.pop("OsType", "CentOS")
    request.OsVersion = fields.pop("OsVersion", "7")
    request.ImageUrls = []
    for url in urls:
        entry = models.ImageUrl()
        entry.ImageFile = url
        request.ImageUrls.append(entry)
    for key, value in fields.items():
        setattr(request, key, value)
    return sdk.ecm().ImportCustomImage(request)


def tasks(sdk, kind="post-tc3", **filters: list[str]) -> models.DescribeCustomImageTaskResponse:
    request = models.DescribeCustomImageTaskRequest()
    request.Filters = []
    for name, values in filters.items():
        f = models.Filter()
        f.Name, f.Values = name.replace("_", "-"), values
        request.Filters.append(f)
    return sdk.ecm(kind).DescribeCustomImageTask(request)


def wait_finished(sdk, task_id: int) -> models.ImageTask:
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = tasks(sdk, task_id=[str(task_id)])
        assert answer.TotalCount == 1
        task = answer.ImageTaskSet[0]
        if task.State in ("SUCCESS", "FAILED"):
            return task
        assert time.monotonic() < deadline, f"task {task_id} stayed {task.State}: {task.Message}"
        time.sleep(0.1)


def describe_image(sdk, image_id: str) -> models.Image:
    request = models.DescribeImageRequest()
    f = models.Filter()
    f.Name, f.Values = "image-id", [image_id]
    request.Filters = [f]
    answer = sdk.ecm().DescribeImage(request)
    assert answer.TotalCount == 1
    return answer.ImageSet[0]


@pytest.mark.parametrize("file,stored_ext", [("disk.qcow2", "qcow2"), ("disk.raw", "raw"), ("disk.vmdk", "vmdk"),
                                             ("disk.vhd", "vhd")])
def test_real_image_imports_and_is_stored_unchanged(sdk, server, images, file, stored_ext):
    created = import_image(sdk, images.url(file))
    assert created.ImageId.startswith("img-") and len(created.ImageId) == 12 and created.TaskId > 0
    task = wait_finished(sdk, created.TaskId)
    assert (task.State, task.Message) == ("SUCCESS", "success"), task.Message
    assert len(task.CreateTime) == 19
    image = describe_image(sdk, created.ImageId)
    assert (image.ImageState, image.ImageSource, image.ImageType) == ("NORMAL", "EXTERNAL_IMPORT", "PRIVATE_IMAGE")
    stored = server.workdir / "data" / "images" / f"{created.ImageId}.{stored_ext}"
    assert sha256_of(stored) == sha256_of(images.directory / file)


def test_image_under_import_is_importing_in_describe_image(sdk, images):
    created = import_image(sdk, images.url("disk.raw"))
    state = describe_image(sdk, created.ImageId).ImageState
    assert state in ("IMPORTING", "NORMAL")
    wait_finished(sdk, created.TaskId)
    assert describe_image(sdk, created.ImageId).ImageState == "NORMAL"


def test_later_url_is_used_when_the_first_fails(sdk, images):
    created = import_image(sdk, images.url("missing.qcow2"), images.url("disk.qcow2"))
    assert wait_finished(sdk, created.TaskId).State == "SUCCESS"


@pytest.mark.parametrize("file,expected", [
    ("missing.qcow2", "HTTP 404"),
    ("corrupt.qcow2", "corrupt"),
    ("page.qcow2", "not a disk image"),
    ("child.qcow2", "backing file"),
    ("huge.raw", "larger than"),
])
def test_bad_image_fails_with_an_actionable_message(sdk, images, file, expected):
    created = import_image(sdk, images.url(file))
    task = wait_finished(sdk, created.TaskId)
    assert task.State == "FAILED"
    assert expected in task.Message, task.Message
    assert describe_image(sdk, created.ImageId).ImageState == "IMPORTFAILED"


def test_failed_import_leaves_no_file_behind(sdk, server, images):
    created = import_image(sdk, images.url("corrupt.qcow2"))
    wait_finished(sdk, created.TaskId)
    leftovers = [p.name for p in (server.workdir / "data" / "images").rglob(f"{created.ImageId}*")]
    assert leftovers == []


def test_duplicate_image_name_is_image_name_duplicate(sdk, images):
    import_image(sdk, images.url("disk.raw"), name="dup-name")
    with pytest.raises(TencentCloudSDKException) as raised:
        import_image(sdk, images.url("disk.raw"), name="dup-name")
    assert raised.value.code == "InvalidParameterValue.ImageNameDuplicate"


@pytest.mark.parametrize("field,value", [("OsType", "Plan9"), ("OsVersion", "99"), ("OsVersion", "7.x"),
                                         ("Architecture", "arm64"),
                                         ("InitFlag", "magic"), ("ImageName", "bad name!")])
def test_invalid_field_is_invalid_parameter_value_naming_it(sdk, images, field, value):
    with pytest.raises(TencentCloudSDKException) as raised:
        import_image(sdk, images.url("disk.raw"), **{field: value})
    assert raised.value.code == "InvalidParameterValue"
    assert field in raised.value.message


def test_a_point_release_of_a_listed_os_version_is_accepted(sdk, images):
    # Tencent's own ImportCustomImage example declares CentOS 7.6; DescribeImportImageOs lists 7.
    created = import_image(sdk, images.url("disk.raw"), OsType="CentOS", OsVersion="7.6")
    assert wait_finished(sdk, created.TaskId).State == "SUCCESS"


def test_import_without_urls_is_missing_parameter(sdk):
    with pytest.raises(TencentCloudSDKException) as raised:
        import_image(sdk)
    assert raised.value.code == "MissingParameter"


def test_filters_or_values_and_and_filters(sdk, images):
    a = import_image(sdk, images.url("disk.raw"), name="filter-a")
    b = import_image(sdk, images.url("disk.raw"), name="filter-b")
    both = tasks(sdk, task_id=[str(a.TaskId), str(b.TaskId)])
    assert sorted(t.ImageName for t in both.ImageTaskSet) == ["filter-a", "filter-b"]
    narrowed = tasks(sdk, task_id=[str(a.TaskId), str(b.TaskId)], image_name=["filter-b"])
    assert [t.ImageName for t in narrowed.ImageTaskSet] == ["filter-b"]
    assert tasks(sdk, image_id=[b.ImageId], image_name=["filter-a"]).TotalCount == 0


def test_get_hmacsha256_with_flattened_filters_reports_the_task(sdk, images):
    created = import_image(sdk, images.url("disk.raw"), name="flat-get")
    wait_finished(sdk, created.TaskId)
    answer = tasks(sdk, "get-hmacsha256", task_id=[str(created.TaskId)])
    assert [(t.ImageName, t.State) for t in answer.ImageTaskSet] == [("flat-get", "SUCCESS")]


def test_loopback_image_url_is_refused_unless_allowed(start_server, images):
    from conftest import Sdk

    strict = Sdk(start_server(allow_private_callback_targets=False))
    with pytest.raises(TencentCloudSDKException) as raised:
        import_image(strict, images.url("disk.raw"))
    assert raised.value.code == "InvalidParameterValue"
    assert "ImageUrls.0.ImageFile" in raised.value.message


def test_import_image_os_lists_what_import_accepts(sdk):
    answer = sdk.ecm().DescribeImportImageOs(models.DescribeImportImageOsRequest())
    assert "CentOS" in answer.ImportImageOsListSupported.Linux
    centos = next(v for v in answer.ImportImageOsVersionSet if v.OsName == "CentOS")
    assert "7" in centos.OsVersions and centos.Architecture == ["x86_64", "i386"]


def test_images_go_to_the_configured_bucket(start_server, images, s3_endpoint):
    from conftest import Sdk

    bucket = support.s3_bucket(s3_endpoint, "images")
    with_bucket = Sdk(start_server(
        objects={"s3": [{"region": "ap-test", "endpoint": s3_endpoint, "access_key_id": "testing",
                         "secret_access_key": "testing", "path_style": True, "allow_http": True}]},
        ecm={"bucket": {"region": "ap-test", "bucket": bucket, "prefix": "ecm/images"}},
    ))
    created = import_image(with_bucket, images.url("disk.qcow2"))
    assert wait_finished(with_bucket, created.TaskId).State == "SUCCESS"
    stored = support.s3_get(s3_endpoint, bucket, f"ecm/images/{created.ImageId}.qcow2")
    assert hashlib.sha256(stored).hexdigest() == sha256_of(images.directory / "disk.qcow2")


# Images that name another file of the host (issue #12, fault 2) and absurd virtual sizes
# (fault 8). The sentinel is a file outside the staging folder with random content; no import
# may read it, store it, or say whether it exists.

VMDK_DESCRIPTOR_HEAD = ('# Disk DescriptorFile\nversion=1\nCID=f2c05116\nparentCID=ffffffff\n'
                        'createType="monolithicSparse"\n\n')


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    import secrets

    directory = tmp_path_factory.mktemp("sentinel")
    content = secrets.token_hex(2048).encode()  # 4096 bytes: a whole number of sectors, a valid raw disk
    path = directory / "secret.raw"
    path.write_bytes(content)
    # A path of the same length, for images whose file names must be patched in place.
    placeholder = tmp_path_factory.mktemp("sentinel") / "secret.raw"
    assert len(str(placeholder)) == len(str(path))
    return path, content, placeholder


def _vmdk_with_descriptor(directory, name: str, descriptor: str, capacity_zero: bool = False) -> None:
    make_image(directory, "vmdk-base.vmdk", "vmdk", "1M")
    data = bytearray((directory / "vmdk-base.vmdk").read_bytes())
    data[512:512 + 10240] = bytes(10240)
    data[512:512 + len(descriptor)] = descriptor.encode()
    if capacity_zero:
        data[12:20] = bytes(8)
    (directory / name).write_bytes(bytes(data))


def _qcow2_with_data_file(directory, name: str, target: str, placeholder: str) -> None:
    make_image(directory, name, "qcow2", "1M", "-o", f"data_file={placeholder}")
    data = (directory / name).read_bytes().replace(placeholder.encode(), target.encode())
    (directory / name).write_bytes(data)


def _vhd_differencing(directory, name: str) -> None:
    make_image(directory, name, "vpc", "1M")
    data = bytearray((directory / name).read_bytes())
    data[60:64] = (4).to_bytes(4, "big")
    (directory / name).write_bytes(bytes(data))


def build_vector(directory, vector: str, target: str, placeholder: str) -> str:
    """Writes the image of `vector` naming `target` into `directory`; returns its file name."""
    name = f"{vector}-{abs(hash(target)) % 10_000}.img"
    extent = f'RW 8 FLAT "{target}" 0\n'
    json_target = '{"driver":"file","filename":"%s"}' % target
    if vector == "vmdk-commented-create-type-capacity-0":
        _vmdk_with_descriptor(directory, name, '# Disk DescriptorFile\n#createType="monolithicFlat"\n'
                              f'createType="monolithicSparse"\n{extent}', capacity_zero=True)
    elif vector == "vmdk-flat-extent":
        _vmdk_with_descriptor(directory, name, VMDK_DESCRIPTOR_HEAD + extent)
    elif vector == "vmdk-sparse-extent-naming-another-file":
        _vmdk_with_descriptor(directory, name, VMDK_DESCRIPTOR_HEAD + f'RW 2048 SPARSE "{target}"\n')
    elif vector == "vmdk-two-extents":
        _vmdk_with_descriptor(directory, name, VMDK_DESCRIPTOR_HEAD + f'RW 2048 SPARSE "a.vmdk"\n{extent}')
    elif vector == "vmdk-descriptor-only":
        (directory / name).write_text('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                                      f'createType="monolithicFlat"\n\n{extent}')
    elif vector == "vmdk-parent-hint":
        _vmdk_with_descriptor(directory, name, VMDK_DESCRIPTOR_HEAD + 'RW 2048 SPARSE "a.vmdk"\n'
                              f'parentFileNameHint="{target}"\n')
    elif vector == "qcow2-backing":
        make_image(directory, name, "qcow2", "1M", "-u", "-b", target, "-F", "raw")
    elif vector == "qcow2-json-backing":
        make_image(directory, name, "qcow2", "1M", "-u", "-b", f"json:{json_target}", "-F", "raw")
    elif vector == "qcow2-data-file":
        _qcow2_with_data_file(directory, name, target, placeholder)
    elif vector == "qed-backing":
        make_image(directory, name, "qed", "1M", "-u", "-b", target, "-F", "raw")
    elif vector == "vhd-differencing":
        _vhd_differencing(directory, name)
    else:
        raise AssertionError(vector)
    return name


VECTORS = ["vmdk-commented-create-type-capacity-0", "vmdk-flat-extent", "vmdk-sparse-extent-naming-another-file",
           "vmdk-two-extents", "vmdk-descriptor-only", "vmdk-parent-hint", "qcow2-backing", "qcow2-json-backing",
           "qcow2-data-file", "qed-backing", "vhd-differencing"]


@pytest.fixture(scope="module", params=[None, "raw"], ids=["stored-as-is", "converted-to-raw"])
def sandbox_sdk(request, start_server):
    from conftest import Sdk

    ecm = {"max_image_bytes": MAX_IMAGE_BYTES}
    if request.param:
        ecm["convert_to"] = request.param
    return Sdk(start_server(ecm=ecm))


@pytest.mark.parametrize("vector", VECTORS)
def test_image_naming_a_host_file_never_reads_it(sandbox_sdk, images, sentinel, vector):
    path, content, placeholder = sentinel
    name = build_vector(images.directory, vector, str(path), str(placeholder))
    created = import_image(sandbox_sdk, images.url(name))
    task = wait_finished(sandbox_sdk, created.TaskId)
    assert task.State == "FAILED", (vector, task.Message)
    assert "refers to another file" in task.Message, task.Message
    said = (tasks(sandbox_sdk, task_id=[str(created.TaskId)]).to_json_string()
            + describe_image(sandbox_sdk, created.ImageId).to_json_string())
    for secret in (str(path), path.name, content.decode()[:64]):
        assert secret not in said, (vector, secret)
    data_dir = sandbox_sdk.server.workdir / "data"
    for stored in (p for p in data_dir.rglob("*") if p.is_file()):
        assert content[:64] not in stored.read_bytes(), (vector, stored)


def test_refusal_does_not_tell_whether_a_host_file_exists(sdk, images, sentinel):
    path, _, placeholder = sentinel
    messages = []
    for target in (str(path), str(path.with_name("absent.raw"))):
        name = build_vector(images.directory, "vmdk-commented-create-type-capacity-0", target, str(placeholder))
        task = wait_finished(sdk, import_image(sdk, images.url(name)).TaskId)
        messages.append(task.Message.replace(images.url(name), "URL"))
    assert messages[0] == messages[1], messages


def test_qcow2_with_a_petabyte_virtual_size_is_refused(sdk, images):
    # 2 MiB clusters keep the L1 table, and the file, small.
    make_image(images.directory, "petabyte.qcow2", "qcow2", "1P", "-o", "cluster_size=2M")
    created = import_image(sdk, images.url("petabyte.qcow2"))
    task = wait_finished(sdk, created.TaskId)
    assert task.State == "FAILED"
    assert "virtual disk size of the image (1048576 GiB)" in task.Message, task.Message
    assert describe_image(sdk, created.ImageId).ImageState == "IMPORTFAILED"


def test_image_size_is_the_virtual_size_in_gib_rounded_up(sdk, images):
    make_image(images.directory, "just-over-2g.qcow2", "qcow2", "2049M")
    created = import_image(sdk, images.url("just-over-2g.qcow2"))
    assert wait_finished(sdk, created.TaskId).State == "SUCCESS"
    assert describe_image(sdk, created.ImageId).ImageSize == 3
