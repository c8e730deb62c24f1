"""tiw document transcoding in pages per second: CreateTranscode of a 50-page PDF and a 20-slide
PPTX (static, and dynamic) until DescribeTranscode says FINISHED, against the same tools run by
hand on the same files in the same run. Run by bench/transcode.sh.

By hand is what the server runs, without the server: for the PPTX, `soffice --headless
--convert-to pdf` with a fresh profile; then `pdfinfo` (the page count, to split the pages) and
`pdftoppm -jpeg -jpegopt quality=85 -r 96` over the pages, one contiguous range per core, the
ranges in parallel. By hand reads the local file; the server downloads it over loopback HTTP."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from documents import make_pdf, make_pptx  # noqa: E402
from image_server import ImageServer  # noqa: E402
from tiw_server import tiw_server  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.tiw.v20190919 import models, tiw_client  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PDF_PAGES, PPTX_SLIDES = 50, 20
SDK_APP, APP_KEY = 1400000098, "bench-transcode-usersig-key"
SECRET_ID, SECRET_KEY = "AKIDbenchTranscode0000000000000000001", "bench-transcode-secret"
CORES = os.cpu_count() or 1
DPI, QUALITY = 96, 85  # the server's: BASE_DPI, and its `-jpegopt quality=85`
# DescribeTranscode every 20 ms (the rate limit is raised for it): FINISHED is seen 10 ms late on
# average, and the polling costs the machine about 5 % of a core.
POLL_SECS = 0.02
SERVER_TOML = "allow_private_callback_targets = true\n[rate_limit]\nper_second = 1000000000"  # loopback Url
# (name, document, IsStaticPPT); the dynamic deck is the static pages plus an index.html.
CASES = [("PDF 50 pages", "bench.pdf", True), ("PDF 50 pages, a photo each", "photos.pdf", True),
         ("PPTX 20 slides, static", "bench.pptx", True), ("PPTX 20 slides, dynamic", "bench.pptx", False)]
# DescribeTranscode's Progress marks the phases: 10 = queued, downloaded and detected; 30 = soffice
# done (office documents) or pdfinfo done (PDFs); 90 = pages rendered (with pdfinfo for office
# documents); then storing the pages in the public bucket until FINISHED.
PHASES = [("download", 10), ("convert", 30), ("render", 90)]


def page_count(pdf: Path) -> int:
    report = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split(":", 1)[1] for line in report.splitlines() if line.startswith("Pages:")))


def render(pdf: Path, out: Path, ranges: list[tuple[int, int]]) -> None:
    """pdftoppm over `ranges`, as many at once as there are cores."""
    def one(r):
        subprocess.run(["pdftoppm", "-jpeg", "-jpegopt", f"quality={QUALITY}", "-r", str(DPI), "-f", str(r[0]),
                        "-l", str(r[1]), str(pdf), str(out / "page")], check=True)
    with ThreadPoolExecutor(CORES) as pool:
        list(pool.map(one, ranges))


def core_ranges(pages: int) -> list[tuple[int, int]]:
    """One contiguous range per core: what one would type by hand."""
    per = -(-pages // CORES)
    return [(first, min(first + per - 1, pages)) for first in range(1, pages + 1, per)]


def server_ranges(pages: int) -> list[tuple[int, int]]:
    """The server's split (executor.rs `render_pages`): cores × clamp(pages / (16 × cores), 1, 4) ranges."""
    per_core = min(max(pages // (CORES * 16), 1), 4)
    per = max(-(-pages // (CORES * per_core)), 1)
    return [(first, min(first + per - 1, pages)) for first in range(1, pages + 1, per)]


def make_photo_pdf(path: Path, pages: int) -> Path:
    """`pages` pages of 960×540 points, each a full-page noisy colour picture and a caption: pages
    that cost the renderer what a real scanned or photo-heavy deck does."""
    import random

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    rng = random.Random(7)
    doc = canvas.Canvas(str(path), pagesize=(960, 540))
    for page in range(1, pages + 1):
        picture = Image.effect_noise((640, 360), 64).convert("RGB")
        tint = Image.new("RGB", picture.size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        doc.drawImage(ImageReader(Image.blend(picture, tint, 0.5)), 0, 0, width=960, height=540)
        doc.drawString(40, 500, f"page {page}")
        doc.showPage()
    doc.save()
    return path


def by_hand(document: Path, scratch: Path, split=core_ranges) -> tuple[float, float, int]:
    """Seconds in all and in soffice, and pages, of turning `document` into page JPEGs with the
    tools alone."""
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "pages").mkdir(parents=True)
    started = time.monotonic()
    pdf, converting = document, 0.0
    if document.suffix == ".pptx":
        subprocess.run(["soffice", f"-env:UserInstallation=file://{scratch / 'profile'}", "--headless",
                        "--convert-to", "pdf", "--outdir", str(scratch), str(document)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pdf, converting = scratch / document.with_suffix(".pdf").name, time.monotonic() - started
    pages = page_count(pdf)
    render(pdf, scratch / "pages", split(pages))
    elapsed = time.monotonic() - started
    rendered = len(list((scratch / "pages").glob("page-*.jpg")))
    assert rendered == pages, (rendered, pages)
    return elapsed, converting, pages


def through_server(client, url: str, static: bool) -> tuple[float, int, dict[int, float]]:
    """Seconds from CreateTranscode to FINISHED, the pages, and when each Progress was first seen."""
    request = models.CreateTranscodeRequest()
    request.SdkAppId, request.Url, request.IsStaticPPT = SDK_APP, url, static
    started = time.monotonic()
    task_id = client.CreateTranscode(request).TaskId
    query = models.DescribeTranscodeRequest()
    query.SdkAppId, query.TaskId = SDK_APP, task_id
    seen: dict[int, float] = {}
    while True:
        answer = client.DescribeTranscode(query)
        seen.setdefault(answer.Progress, time.monotonic() - started)
        if answer.Status == "FINISHED":
            return time.monotonic() - started, answer.Pages, seen
        time.sleep(POLL_SECS)


def phases(seen: dict[int, float], total: float) -> list[float]:
    """Seconds of each of PHASES and of the upload, from the first sightings of progress marks."""
    marks, at = [], 0.0
    for _, progress in PHASES:
        reached = min((t for p, t in seen.items() if p >= progress), default=total)
        marks.append(reached - at)
        at = reached
    return marks + [total - at]


def main():
    work = Path(tempfile.mkdtemp(prefix="taskgate-bench-transcode-"))
    docs = work / "docs"
    docs.mkdir()
    make_pdf(docs / "bench.pdf", pages=PDF_PAGES)
    make_photo_pdf(docs / "photos.pdf", pages=PDF_PAGES)
    make_pptx(docs / "bench.pptx", slides=PPTX_SLIDES)
    served = ImageServer(docs).start()
    results = {name: {"server": [], "hand": [], "soffice": [], "split": [], "phases": []} for name, _, _ in CASES}
    pages_of = {}
    try:
        with tiw_server(work, uin="100000000012", secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app=SDK_APP,
                        app_key=APP_KEY, extra_toml=SERVER_TOML) as (_, base):
            client = tiw_client.TiwClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-singapore",
                                          ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=base[7:])))
            # One untimed pass of each warms the page cache and LibreOffice's files for both sides.
            for run in range(RUNS + 1):
                for name, document, static in CASES:
                    source = docs / document
                    # A URL per task (hard links of the same bytes): no task is a repeat of another.
                    linked = docs / f"{source.stem}-{run}-{static}{source.suffix}"
                    os.link(source, linked)
                    # Alternate which goes first, so load that drifts during the run hits both.
                    order = ["hand", "server"] if run % 2 else ["server", "hand"]
                    for side in order:
                        if side == "hand":
                            hand, soffice, pages = by_hand(source, work / "hand")
                            split, _, _ = by_hand(source, work / "hand", server_ranges)
                        else:
                            secs, pages, seen = through_server(client, served.url(linked.name), static)
                    assert pages == (PDF_PAGES if document.endswith(".pdf") else PPTX_SLIDES), pages
                    pages_of[name] = pages
                    if run == 0:
                        continue
                    results[name]["server"].append(secs)
                    results[name]["hand"].append(hand)
                    results[name]["soffice"].append(soffice)
                    results[name]["split"].append(split)
                    results[name]["phases"].append(phases(seen, secs))
                    print(f"run {run}: {name}: server {secs:.2f} s, by hand {hand:.2f} s "
                          f"(server's page split {split:.2f} s)", flush=True)
    finally:
        served.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nmedian of {RUNS} runs, {CORES} cores; by hand: pdftoppm over {CORES} page ranges at once "
          f"(one per core), after soffice for the PPTX; the server downloads over loopback HTTP")
    print(f"{'case':26} {'pages':>5} {'server s':>9} {'hand s':>8} {'server p/s':>10} {'hand p/s':>9} "
          f"{'ratio':>6}  (target >= 0.80)")
    for name, _, _ in CASES:
        r, pages = results[name], pages_of[name]
        server, hand = statistics.median(r["server"]), statistics.median(r["hand"])
        print(f"{name:26} {pages:5d} {server:9.2f} {hand:8.2f} {pages / server:10.1f} {pages / hand:9.1f} "
              f"{hand / server:6.2f}")
    print(f"\nwhere the time goes, median s. Server: first sightings of DescribeTranscode's Progress (polled "
          f"every {POLL_SECS * 1000:.0f} ms);\nby hand: soffice, then pdfinfo + pdftoppm; last column: by hand with "
          f"the server's page split ({len(server_ranges(PDF_PAGES))} ranges for {PDF_PAGES} pages, {CORES} at a time)")
    print(f"{'case':26} " + " ".join(f"{label:>9}" for label, _ in PHASES) + f" {'store':>9} | "
          f"{'soffice':>9} {'render':>9} | {'hand, server split':>18}")
    for name, _, _ in CASES:
        r = results[name]
        server = [statistics.median(p[i] for p in r["phases"]) for i in range(len(PHASES) + 1)]
        soffice = statistics.median(r["soffice"])
        render_secs = statistics.median(h - c for h, c in zip(r["hand"], r["soffice"]))
        print(f"{name:26} " + " ".join(f"{s:9.2f}" for s in server) + f" | {soffice:9.2f} {render_secs:9.2f} | "
              f"{statistics.median(r['split']):18.2f}")


if __name__ == "__main__":
    main()
