"""tiw document transcoding through the official Python SDK: documents the tests make (a PDF with
reportlab, a PPTX with python-pptx, a DOCX with python-docx, an XLSX with openpyxl) served over
HTTP, converted by the real LibreOffice and pdftoppm; page images checked by their pixels, the
dynamic deck driven in headless Chromium, archives opened, callbacks received and verified, and
every failure answered with tiw's own error code."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import subprocess
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tiw.v20190919 import models

import support
from conftest import Sdk
from documents import make_docx, make_encrypted_pdf, make_pdf, make_pptx, make_xlsx
from image_server import ImageServer
from support import MAIN_SDK_APP, MAIN_SDK_APP_2

DEADLINE = 120.0
CALLBACK_KEY = "transcode-callback-key"
NODE_DIR = Path(__file__).resolve().parent.parent / "node"
RED = (255, 0, 0)
_names = itertools.count(1)



# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """Documents served over HTTP from a temporary directory."""
    directory = tmp_path_factory.mktemp("documents")
    served = ImageServer(directory).start()
    served.dir = directory
    yield served
    served.stop()


@pytest.fixture(scope="module")
def sdk(server, receiver) -> Sdk:
    client = Sdk(server)
    request = models.SetTranscodeCallbackRequest()
    request.SdkAppId, request.Callback = MAIN_SDK_APP, receiver.url
    client.tiw().SetTranscodeCallback(request)
    request = models.SetTranscodeCallbackKeyRequest()
    request.SdkAppId, request.CallbackKey = MAIN_SDK_APP, CALLBACK_KEY
    client.tiw().SetTranscodeCallbackKey(request)
    return client


def unique(name: str) -> str:
    """A file name no other test uses: `Url`s and titles stay apart."""
    stem, _, extension = name.rpartition(".")
    return f"{stem}-{next(_names)}.{extension}"


def create(sdk: Sdk, url: str, **fields) -> str:
    request = models.CreateTranscodeRequest()
    request.SdkAppId, request.Url = fields.pop("SdkAppId", MAIN_SDK_APP), url
    for key, value in fields.items():
        setattr(request, key, value)
    return sdk.tiw().CreateTranscode(request).TaskId


def describe(sdk: Sdk, task_id: str, sdk_app_id: int = MAIN_SDK_APP):
    request = models.DescribeTranscodeRequest()
    request.SdkAppId, request.TaskId = sdk_app_id, task_id
    return sdk.tiw().DescribeTranscode(request)


def wait_finished(sdk: Sdk, task_id: str):
    """The task's DescribeTranscode once FINISHED; its error (raised) if it failed."""
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = describe(sdk, task_id)
        if answer.Status == "FINISHED":
            return answer
        assert time.monotonic() < deadline, f"transcode {task_id} still {answer.Status} at {answer.Progress}%"
        time.sleep(0.2)


def wait_failed(sdk: Sdk, task_id: str) -> TencentCloudSDKException:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            answer = describe(sdk, task_id)
        except TencentCloudSDKException as e:
            return e
        assert answer.Status != "FINISHED", f"transcode {task_id} finished; it was expected to fail"
        assert time.monotonic() < deadline, f"transcode {task_id} still {answer.Status}"
        time.sleep(0.2)


def fetch(server, url: str) -> bytes:
    """A returned URL, with the test config's `public_url` swapped for the real server."""
    public = support.base_config("", "")["public_url"]
    assert url.startswith(public), url
    response = requests.get(server.base_url + url[len(public):], timeout=30)
    assert response.status_code == 200, (url, response.status_code)
    return response.content


def image(server, url: str) -> Image.Image:
    return Image.open(io.BytesIO(fetch(server, url))).convert("RGB")


def is_red(pixel) -> bool:
    r, g, b = pixel
    return r > 200 and g < 60 and b < 60


def serve(docs, name: str, make) -> str:
    """Makes the document `name` with `make(path)` and returns its URL."""
    make(docs.dir / name)
    return docs.url(name)


# ---- static documents ---------------------------------------------------------------------------

def test_a_pdf_becomes_one_image_per_page_at_its_own_resolution(sdk, server, docs):
    name = unique("lesson.pdf")
    answer = wait_finished(sdk, create(sdk, serve(docs, name, make_pdf)))
    assert (answer.Pages, answer.Progress, answer.Resolution, answer.Title) == (3, 100, "1280x720", name)
    assert answer.ResultUrl.endswith("/") and answer.Ext == ""
    for page in (1, 2, 3):
        assert image(server, f"{answer.ResultUrl}{page}.jpg").size == (1280, 720)
    assert answer.CreateTime <= answer.AssignTime <= answer.FinishedTime


def test_a_shape_on_page_two_is_in_image_two_only(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("shape.pdf"), make_pdf)))
    assert is_red(image(server, f"{answer.ResultUrl}2.jpg").getpixel((640, 360)))
    assert not is_red(image(server, f"{answer.ResultUrl}1.jpg").getpixel((640, 360)))


def test_min_scale_resolution_renders_larger_pages_keeping_the_aspect(sdk, server, docs):
    url = serve(docs, unique("large.pdf"), make_pdf)
    answer = wait_finished(sdk, create(sdk, url, MinScaleResolution="1920x1080"))
    assert answer.Resolution == "1920x1080"
    assert image(server, f"{answer.ResultUrl}1.jpg").size == (1920, 1080)


def test_a_malformed_min_resolution_keeps_the_documents_own(sdk, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("own.pdf"), make_pdf), MinResolution="big"))
    assert answer.Resolution == "1280x720"


def test_a_static_pptx_becomes_page_images_with_its_shape(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("deck.pptx"), make_pptx), IsStaticPPT=True))
    assert (answer.Pages, answer.Resolution, answer.Ext) == (3, "1280x720", "Office")
    assert answer.ResultUrl.endswith("/")
    assert is_red(image(server, f"{answer.ResultUrl}2.jpg").getpixel((640, 360)))
    assert not is_red(image(server, f"{answer.ResultUrl}3.jpg").getpixel((640, 360)))


def test_a_docx_becomes_a_page_image_per_page(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("notes.docx"), make_docx)))
    assert answer.Pages == 2 and answer.Ext == "Office"
    width, height = image(server, f"{answer.ResultUrl}2.jpg").size
    assert height > width, "a portrait page"


def test_an_xlsx_becomes_page_images(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("sheet.xlsx"), make_xlsx)))
    assert answer.Pages >= 1
    assert image(server, f"{answer.ResultUrl}1.jpg").size[0] > 0


def test_the_format_is_read_from_the_content_not_the_extension(sdk, docs):
    name = unique("misnamed.doc")
    make_pdf(docs.dir / name, pages=2)
    assert wait_finished(sdk, create(sdk, docs.url(name))).Pages == 2


def test_the_resource_list_names_every_page(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("listed.pdf"), make_pdf)))
    listed = fetch(server, answer.ResourceListUrl).decode().split()
    assert listed == [f"{answer.ResultUrl}{page}.jpg" for page in (1, 2, 3)]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_holds_every_page(sdk, server, docs, kind):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("packed.pdf"), make_pdf), CompressFileType=kind))
    assert answer.CompressFileUrl.endswith(f".{kind}")
    data = fetch(server, answer.CompressFileUrl)
    if kind == "zip":
        names = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    else:
        names = sorted(tarfile.open(fileobj=io.BytesIO(data), mode="r:gz").getnames())
    assert names == ["1.jpg", "2.jpg", "3.jpg"]


def test_an_unknown_archive_type_makes_no_archive(sdk, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("plain.pdf"), make_pdf), CompressFileType="rar"))
    assert answer.CompressFileUrl == ""


# ---- dynamic decks ------------------------------------------------------------------------------

def run_deck(url: str, steps: list[dict]) -> list:
    """Opens the deck in headless Chromium (tests/node/board.mjs) and runs `steps`."""
    spec = {"pages": {"deck": url}, "ready": "window.taskgateDeck && document.getElementById('slide').complete",
            "steps": steps}
    proc = subprocess.run(["node", str(NODE_DIR / "board.mjs"), json.dumps(spec)],
                          capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert proc.returncode == 0, f"board.mjs failed: {proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == [], "uncaught errors in the deck"
    return out["results"]


def test_a_dynamic_pptx_becomes_a_deck_that_navigates_in_a_browser(sdk, server, docs):
    answer = wait_finished(sdk, create(sdk, serve(docs, unique("dynamic.pptx"), make_pptx)))
    assert answer.ResultUrl.endswith("/index.html") and answer.Pages == 3
    assert answer.Ext == "Office;StaticSlides"
    public = support.base_config("", "")["public_url"]
    deck = server.base_url + answer.ResultUrl[len(public):]
    slide = "document.getElementById('slide')"
    results = run_deck(deck, [
        {"page": "deck", "do": "eval", "expr": f"[taskgateDeck.total, {slide}.naturalWidth]"},
        {"page": "deck", "do": "click", "selector": "#next"},
        {"page": "deck", "do": "wait", "expr": f"{slide}.complete && {slide}.src.endsWith('/2.jpg')"},
        {"page": "deck", "do": "eval", "expr": "[taskgateDeck.page(), document.getElementById('counter').textContent]"},
        {"page": "deck", "do": "click", "selector": "#next"},
        {"page": "deck", "do": "eval", "expr": "[taskgateDeck.page(), document.getElementById('next').disabled]"},
    ])
    assert results == [[3, 1280], [2, "2 / 3"], [3, True]]
    assert is_red(image(server, answer.ResultUrl.replace("index.html", "2.jpg")).getpixel((640, 360)))


def test_a_dynamic_deck_has_thumbnails_at_the_asked_resolution(sdk, server, docs):
    url = serve(docs, unique("thumbs.pptx"), make_pptx)
    answer = wait_finished(sdk, create(sdk, url, ThumbnailResolution="320x180"))
    assert answer.ThumbnailResolution == "320x180" and answer.ThumbnailUrl.endswith("/")
    for page in (1, 2, 3):
        assert image(server, f"{answer.ThumbnailUrl}{page}.jpg").size == (320, 180)


def test_static_documents_get_no_thumbnails(sdk, docs):
    url = serve(docs, unique("nothumbs.pdf"), make_pdf)
    answer = wait_finished(sdk, create(sdk, url, ThumbnailResolution="320x180"))
    assert (answer.ThumbnailUrl, answer.ThumbnailResolution) == ("", "")


# ---- callbacks and lookups -------------------------------------------------------------------------

def test_progress_and_finished_events_are_signed_and_agree_with_describe(sdk, docs, receiver):
    task_id = create(sdk, serve(docs, unique("events.pdf"), make_pdf))
    answer = wait_finished(sdk, task_id)
    finished = receiver.wait_until(
        lambda b: b["EventType"] == "TranscodeFinished" and b["EventData"]["TaskId"] == task_id, "TranscodeFinished")
    assert finished["Sign"] == hashlib.md5(f"{CALLBACK_KEY}{finished['ExpireTime']}".encode()).hexdigest()
    data = finished["EventData"]
    assert (data["Pages"], data["Resolution"], data["ResultUrl"], data["Title"]) == (
        answer.Pages, answer.Resolution, answer.ResultUrl, answer.Title)
    assert "Error" not in data
    progress = receiver.matching(
        lambda b: b["EventType"] == "TranscodeProgressChanged" and b["EventData"]["TaskId"] == task_id)
    values = [b["EventData"]["Progress"] for b in progress]
    assert values and values == sorted(values) and max(values) <= 100


def test_describe_transcode_by_url_answers_the_newest_task_of_the_url(sdk, docs):
    url = serve(docs, unique("twice.pdf"), make_pdf)
    first = create(sdk, url)
    wait_finished(sdk, first)
    second = create(sdk, url)
    wait_finished(sdk, second)
    request = models.DescribeTranscodeByUrlRequest()
    request.SdkAppId, request.Url = MAIN_SDK_APP, url
    answer = sdk.tiw().DescribeTranscodeByUrl(request)
    assert (answer.TaskId, answer.Status, answer.Progress) == (second, "FINISHED", 100)


def test_describe_transcode_by_url_of_an_unknown_url_is_task_not_found(sdk):
    request = models.DescribeTranscodeByUrlRequest()
    request.SdkAppId, request.Url = MAIN_SDK_APP, "http://127.0.0.1:9/never-transcoded.pdf"
    with pytest.raises(TencentCloudSDKException) as e:
        sdk.tiw().DescribeTranscodeByUrl(request)
    assert e.value.code == "InvalidParameter.TaskNotFound"


def test_another_applications_task_is_not_found(sdk, docs):
    task_id = create(sdk, serve(docs, unique("mine.pdf"), make_pdf))
    with pytest.raises(TencentCloudSDKException) as e:
        describe(sdk, task_id, sdk_app_id=MAIN_SDK_APP_2)
    assert e.value.code == "InvalidParameter.TaskNotFound"


def test_transcode_callback_settings_read_back(sdk, receiver):
    request = models.DescribeTranscodeCallbackRequest()
    request.SdkAppId = MAIN_SDK_APP
    answer = sdk.tiw().DescribeTranscodeCallback(request)
    assert (answer.Callback, answer.CallbackKey) == (receiver.url, CALLBACK_KEY)


# ---- failures --------------------------------------------------------------------------------------

def assert_failed(sdk, receiver, task_id: str, code: str, words: str):
    """DescribeTranscode answers `code`, ByUrl `EXCEPTION`, the event carries the same error."""
    error = wait_failed(sdk, task_id)
    assert error.code == code, (error.code, error.message)
    assert words in error.message.lower(), error.message
    finished = receiver.wait_until(
        lambda b: b["EventType"] == "TranscodeFinished" and b["EventData"]["TaskId"] == task_id, "TranscodeFinished")
    assert finished["EventData"]["Error"] == {"Code": code, "Message": error.message}


def test_a_corrupt_pdf_fails_as_a_file_that_cannot_be_opened(sdk, docs, receiver):
    name = unique("corrupt.pdf")
    (docs.dir / name).write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\n" + bytes(range(256)) * 8)
    assert_failed(sdk, receiver, create(sdk, docs.url(name)), "FailedOperation.FileOpenFail", "could not be opened")


def test_a_corrupt_office_file_fails_as_a_file_that_cannot_be_opened(sdk, docs, receiver):
    name = unique("corrupt.pptx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "not xml at all")
        z.writestr("ppt/presentation.xml", "<broken")
    (docs.dir / name).write_bytes(buffer.getvalue())
    assert_failed(sdk, receiver, create(sdk, docs.url(name)), "FailedOperation.FileOpenFail", "could not be opened")


def test_an_encrypted_pdf_fails_with_a_format_error(sdk, docs, receiver):
    url = serve(docs, unique("locked.pdf"), make_encrypted_pdf)
    assert_failed(sdk, receiver, create(sdk, url), "FailedOperation.FileFormatError", "encrypted")


def test_an_html_page_fails_as_an_unsupported_format(sdk, docs, receiver):
    name = unique("page.pdf")
    (docs.dir / name).write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    assert_failed(sdk, receiver, create(sdk, docs.url(name)), "InvalidParameter.FileFormatUnsupported", "html page")


def test_a_missing_document_fails_to_download(sdk, docs, receiver):
    assert_failed(sdk, receiver, create(sdk, docs.url(unique("absent.pdf"))), "FailedOperation.FileDownloadFail",
                  "could not be downloaded")


class HugeDocument(BaseHTTPRequestHandler):
    """Declares a 300 MB body, beyond the normal priority's 200 MB, and sends a few bytes."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(300 << 20))
        self.end_headers()
        self.wfile.write(b"%PDF-1.7\n")


def test_an_oversized_document_fails_to_download(sdk, receiver):
    huge = ThreadingHTTPServer(("127.0.0.1", 0), HugeDocument)
    threading.Thread(target=huge.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{huge.server_address[1]}/{unique('huge.pdf')}"
        assert_failed(sdk, receiver, create(sdk, url), "FailedOperation.FileDownloadFail", "200 mb")
    finally:
        huge.shutdown()


def test_a_malformed_url_is_refused_at_creation(sdk):
    for url in ["not a url", "ftp://example.com/a.pdf", "file:///etc/passwd"]:
        with pytest.raises(TencentCloudSDKException) as e:
            create(sdk, url)
        assert e.value.code == "InvalidParameter.TranscodeParameter", url
        assert "`Url`" in e.value.message


def test_a_private_address_is_refused_unless_the_operator_allows_it(start_server, docs):
    guarded = Sdk(start_server(allow_private_callback_targets=False))
    error = wait_failed(guarded, create(guarded, serve(docs, unique("private.pdf"), make_pdf)))
    assert error.code == "FailedOperation.FileDownloadFail"
    assert "not an allowed address" in error.message


# ---- crash safety -------------------------------------------------------------------------------------

def test_a_transcode_killed_mid_work_finishes_once_after_restart(start_server, tmp_path_factory, receiver):
    directory = tmp_path_factory.mktemp("gated")
    gate = threading.Event()
    gated = ImageServer(directory, gate).start()
    try:
        name = unique("survivor.pptx")
        make_pptx(directory / name)
        first = start_server(engine={"lease_secs": 2, "reap_interval_secs": 1})
        client = Sdk(first)
        request = models.SetTranscodeCallbackRequest()
        request.SdkAppId, request.Callback = MAIN_SDK_APP, receiver.url
        client.tiw().SetTranscodeCallback(request)
        task_id = create(client, gated.url(name))
        deadline = time.monotonic() + DEADLINE
        while describe(client, task_id).Status != "PROCESSING":
            assert time.monotonic() < deadline, "the transcode never started"
            time.sleep(0.1)
        first.proc.kill()
        first.proc.wait(10)
        gate.set()
        second = start_server(config=first.config, workdir=first.workdir)
        answer = wait_finished(Sdk(second), task_id)
        assert answer.Pages == 3
        receiver.wait_until(
            lambda b: b["EventType"] == "TranscodeFinished" and b["EventData"]["TaskId"] == task_id, "finished")
        time.sleep(1)
        finished = receiver.matching(
            lambda b: b["EventType"] == "TranscodeFinished" and b["EventData"]["TaskId"] == task_id)
        assert len(finished) == 1, "the task finished once"
    finally:
        gate.set()
        gated.stop()
