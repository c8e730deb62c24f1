//! The transcode executor: downloads the document (capped by its priority), detects its format
//! from its content, converts office formats to PDF with LibreOffice, renders the pages to JPEG
//! with `pdftoppm` on every core, builds the dynamic deck, thumbnails and archive it asked for,
//! stores everything in the public bucket, and announces progress and the end to the
//! application's transcode callback.
//!
//! A task is idempotent: every execution starts from a fresh work directory and writes the
//! same object names, so a task resumed after a crash redoes its work and overwrites what the
//! dead execution left.

use super::convert::{ConvertError, PdfInfo, Scale, Tools, jpeg_size, page_number};
use super::detect::{Detection, Format, detect};
use super::{
    CompressFileType, EventError, FINISHED_EVENT, FinishedEvent, PROGRESS_EVENT, ProgressEvent, TRANSCODE_PREFIX,
    Transcode, TranscodeFailure, TranscodeFiles, TranscodeInput, TranscodeProgress, TranscodeResult, task_dir,
};
use crate::download::{AsyncProgress, DownloadError, Progress, download};
use crate::products::tiw::callback;
use crate::products::tiw::callback_settings::EventFamily;
use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskgate_engine::objects::{Destination, Objects};
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{Abandonment, Callback, ExecError, Executor, Forced, Outbox, Outcome, Store, Task, TaskContext};
use tcapi::ErrorCode;

/// Pixels per inch of a page at the document's own resolution (an A4 page is 793×1122, as
/// Tencent's DescribeTranscode example shows).
const BASE_DPI: f64 = 96.0;
/// Where a dynamic deck's page opens; its pages are `N.jpg` beside it.
const DECK_PAGE: &str = "index.html";
const DECK_TEMPLATE: &str = include_str!("deck.html");
/// `Ext` of a dynamic deck: it is made of page images, without the animations and embedded
/// media of Tencent's HTML5 conversion.
const DECK_EXT: &str = "Office;StaticSlides";
/// `Ext` of office documents (Tencent's example says `Office`); PDFs have none.
const OFFICE_EXT: &str = "Office";
/// How often progress is read from the pages written while they render.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Result files stored at once.
const UPLOADS_AT_ONCE: usize = 8;

pub struct TranscodeExecutor {
    pub store: Store,
    pub outbox: Outbox,
    pub objects: Objects,
    /// Downloads within the normal priority's 2 minutes, and the low priority's 10.
    pub normal_client: GuardedClient,
    pub low_client: GuardedClient,
    pub tools: Tools,
    /// Parent of each task's work directory.
    pub work_root: PathBuf,
}

/// How an execution ends early: a tenant-visible failure, or a server fault worth retrying.
enum Stop {
    Failed(TranscodeFailure),
    Retry(ExecError),
}

fn failed(code: ErrorCode, message: impl Into<String>) -> Stop {
    Stop::Failed(TranscodeFailure { code, message: message.into() })
}

/// A server fault: logged with its cause (which may name paths), retried without it.
fn server_fault(what: &'static str, cause: impl std::fmt::Display) -> Stop {
    tracing::error!(%cause, "{what}");
    Stop::Retry(ExecError::retryable(format!("{what} on the server")))
}

fn conversion_failure(error: ConvertError, what: &str) -> Stop {
    match error {
        ConvertError::Server => Stop::Retry(ExecError::retryable("the conversion tools could not be started")),
        ConvertError::Timeout(after) => failed(
            ErrorCode::FailedOperationTranscode,
            format!("{what} took longer than {}s and was stopped", after.as_secs()),
        ),
        ConvertError::Unreadable => {
            failed(ErrorCode::FailedOperationFileOpenFail, "The document could not be opened; it may be damaged.")
        }
        ConvertError::Encrypted => failed(
            ErrorCode::FailedOperationFileFormatError,
            "The document is encrypted; transcoding accepts documents without a password or encryption.",
        ),
    }
}

/// Removes a task's work directory on every way out.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Progress of one execution, reported to the engine and, when it moves, to the callback.
struct Reporter<'a> {
    executor: &'a TranscodeExecutor,
    ctx: &'a TaskContext,
    input: &'a TranscodeInput,
    progress: TranscodeProgress,
}

impl Reporter<'_> {
    async fn set(&mut self, progress: u8) {
        if progress <= self.progress.progress && progress != 0 {
            return;
        }
        self.progress.progress = progress.min(100);
        // Progress is informative: a lost lease shows when the task finishes.
        let _ = self.ctx.report::<Transcode>(&self.progress).await;
        let data = ProgressEvent {
            task_id: self.ctx.id().as_str(),
            progress: self.progress.progress,
            resolution: &self.progress.resolution,
            title: &self.input.title,
            pages: self.progress.pages,
        };
        let now = self.ctx.clock().now_ms();
        let event_id = format!("{}-progress-{}", self.ctx.id(), self.progress.progress);
        match self.executor.event(self.input, PROGRESS_EVENT, data, event_id, now).await {
            Ok(Some(event)) => {
                if let Err(error) = self.executor.outbox.enqueue(event, Some(self.ctx.id())).await {
                    tracing::warn!(task = %self.ctx.id(), %error, "recording a transcode progress event failed");
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(task = %self.ctx.id(), error = %error.message, "a progress event was lost"),
        }
    }
}

struct DownloadProgress<'a, 'b>(&'a mut Reporter<'b>);

impl AsyncProgress for DownloadProgress<'_, '_> {
    async fn report(&mut self, p: Progress) {
        // The download is the first tenth of the work.
        if let Some(total) = p.total.filter(|t| *t > 0) {
            let percent = u8::try_from(p.bytes.saturating_mul(10) / total).unwrap_or(10);
            self.0.set(percent).await;
        }
    }
}

impl TranscodeExecutor {
    /// An event to the application's transcode callback, if it has one, stamped `now_ms`.
    async fn event(
        &self,
        input: &TranscodeInput,
        event_type: &str,
        data: impl serde::Serialize,
        event_id: String,
        now_ms: i64,
    ) -> Result<Option<Callback>, ExecError> {
        callback::event(&self.store, input.sdk_app_id, EventFamily::Transcode, event_type, data, event_id, now_ms).await
    }

    fn destination(&self, task_id: &str, input: &TranscodeInput) -> Result<Destination, Stop> {
        self.objects
            .public_bucket(TRANSCODE_PREFIX)
            .and_then(|d| d.join(&task_dir(input.sdk_app_id, task_id)))
            .map_err(|e| server_fault("choosing where results go failed", e))
    }

    async fn fetch(&self, reporter: &mut Reporter<'_>, path: &Path, dynamic_allowed: bool) -> Result<(), Stop> {
        let input = reporter.input;
        let limits = input.priority.limits(dynamic_allowed);
        let client = match input.priority {
            super::Priority::Normal => &self.normal_client,
            super::Priority::Low => &self.low_client,
        };
        let cancel = reporter.ctx.cancel_token().clone();
        let result = download(client, &input.url, path, limits.max_bytes, &cancel, DownloadProgress(reporter)).await;
        match result {
            Ok(_) => Ok(()),
            Err(DownloadError::Cancelled) => Err(Stop::Retry(ExecError::retryable("the transcode was interrupted"))),
            Err(DownloadError::Disk(cause)) => Err(server_fault("storing the download failed", cause)),
            Err(DownloadError::TooLarge { limit, .. }) => Err(failed(
                ErrorCode::FailedOperationFileDownloadFail,
                format!("The document is larger than the {} MB this priority accepts.", limit >> 20),
            )),
            Err(error) if error.is_transient() && !reporter.ctx.is_final_attempt() => {
                Err(Stop::Retry(ExecError::retryable(error.to_string())))
            }
            Err(error) => Err(failed(
                ErrorCode::FailedOperationFileDownloadFail,
                format!("The document could not be downloaded: {error}."),
            )),
        }
    }

    /// Everything after the download: the result files of the task.
    async fn run(&self, reporter: &mut Reporter<'_>, work: &Path) -> Result<TranscodeFiles, Stop> {
        let input = reporter.input;
        let task_id = reporter.ctx.id().as_str().to_owned();
        let downloaded = work.join("download");
        // A presentation may be dynamic and get the low priority's larger limits; which it is
        // shows only after the download, so the cap is the one that could apply.
        self.fetch(reporter, &downloaded, !input.static_ppt).await?;
        let detection = detect(&downloaded).map_err(|e| server_fault("reading the download failed", e))?;
        let format = match detection {
            Detection::Document(format) => format,
            Detection::Encrypted => {
                return Err(failed(
                    ErrorCode::FailedOperationFileFormatError,
                    "The document is encrypted; transcoding accepts documents without a password.",
                ));
            }
            Detection::Unsupported(what) => {
                return Err(failed(
                    ErrorCode::InvalidParameterFileFormatUnsupported,
                    format!(
                        "The file at `Url` is {what}; transcoding accepts PDF, PPT, PPTX, DOC, DOCX, XLS and XLSX."
                    ),
                ));
            }
        };
        let dynamic = format.is_presentation() && !input.static_ppt;
        let limits = input.priority.limits(dynamic);
        let size =
            tokio::fs::metadata(&downloaded).await.map_err(|e| server_fault("reading the download failed", e))?;
        if size.len() > limits.max_bytes {
            return Err(failed(
                ErrorCode::FailedOperationFileDownloadFail,
                format!("The document is larger than the {} MB this priority accepts.", limits.max_bytes >> 20),
            ));
        }
        let document = work.join(format!("document.{}", format.extension()));
        tokio::fs::rename(&downloaded, &document)
            .await
            .map_err(|e| server_fault("preparing the document failed", e))?;
        reporter.set(10).await;
        let pdf = if format == Format::Pdf {
            document
        } else {
            let pdf = self
                .tools
                .to_pdf(work, &document, format)
                .await
                .map_err(|e| conversion_failure(e, "The conversion"))?;
            reporter.set(30).await;
            pdf
        };
        let info = self.tools.pdf_info(work, &pdf).await.map_err(|e| conversion_failure(e, "Reading the document"))?;
        if info.encrypted {
            return Err(conversion_failure(ConvertError::Encrypted, ""));
        }
        if info.pages == 0 {
            return Err(failed(ErrorCode::FailedOperationFileOpenFail, "The document has no pages."));
        }
        if info.pages > limits.max_pages {
            return Err(failed(
                ErrorCode::LimitExceededTranscodePagesLimitation,
                format!(
                    "The document has {} pages; this priority transcodes at most {}.",
                    info.pages, limits.max_pages
                ),
            ));
        }
        let dpi = page_dpi(&info, input.min_resolution);
        reporter.progress.pages = info.pages;
        reporter.set(reporter.progress.progress.max(30)).await;

        let pages_dir = work.join("pages");
        self.render_pages(reporter, work, &pdf, info.pages, Scale::Dpi(dpi), &pages_dir, (30, 90)).await?;
        let first =
            tokio::fs::read(pages_dir.join("1.jpg")).await.map_err(|e| server_fault("reading page 1 failed", e))?;
        let resolution = match jpeg_size(&first) {
            Some((width, height)) => format!("{width}x{height}"),
            None => return Err(failed(ErrorCode::FailedOperationTranscode, "Page 1 could not be rendered.")),
        };
        reporter.progress.resolution = resolution.clone();
        let thumbnails = match input.thumbnail_resolution.filter(|_| dynamic) {
            Some(size) => {
                let dir = work.join("thumbnails");
                let fit = Scale::Fit { width: size.width, height: size.height };
                self.render_pages(reporter, work, &pdf, info.pages, fit, &dir, (90, 95)).await?;
                Some((dir, size))
            }
            None => None,
        };

        let destination = self.destination(&task_id, input)?;
        let mut stored = self.upload_pages(&destination, &pages_dir, info.pages).await?;
        let thumbnail_url = match &thumbnails {
            Some((dir, _)) => {
                let thumbs = destination.join("thumbnail").map_err(|e| server_fault("naming thumbnails failed", e))?;
                stored.extend(self.upload_pages(&thumbs, dir, info.pages).await?);
                prefix_of(&thumbs)
            }
            None => String::new(),
        };
        let result_url = if dynamic {
            let deck = deck_html(&input.title, info.pages);
            tokio::fs::write(pages_dir.join(DECK_PAGE), &deck)
                .await
                .map_err(|e| server_fault("writing the deck failed", e))?;
            let url = self.upload(&destination, DECK_PAGE, Bytes::from(deck)).await?;
            stored.push(url.clone());
            url
        } else {
            prefix_of(&destination)
        };
        let compress_file_url = match input.compress {
            Some(kind) => {
                let archive = work.join(format!("{task_id}.{}", kind.extension()));
                let (pages_dir, thumbs) = (pages_dir.clone(), thumbnails.as_ref().map(|(d, _)| d.clone()));
                let target = archive.clone();
                tokio::task::spawn_blocking(move || write_archive(kind, &target, &pages_dir, thumbs.as_deref()))
                    .await
                    .map_err(|e| server_fault("archiving stopped", e))?
                    .map_err(|e| server_fault("archiving the result failed", e))?;
                let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let url = self.upload_file(&destination, &name, &archive).await?;
                stored.push(url.clone());
                url
            }
            None => String::new(),
        };
        let list: String = stored.iter().map(|url| format!("{url}\n")).collect();
        let resource_list_url = self.upload(&destination, "resources.txt", Bytes::from(list)).await?;
        Ok(TranscodeFiles {
            pages: info.pages,
            resolution,
            result_url,
            thumbnail_url,
            thumbnail_resolution: thumbnails.map(|(_, size)| size.to_string()).unwrap_or_default(),
            compress_file_url,
            resource_list_url,
            ext: match (dynamic, format) {
                (true, _) => DECK_EXT.to_owned(),
                (false, Format::Pdf) => String::new(),
                (false, _) => OFFICE_EXT.to_owned(),
            },
        })
    }

    /// Renders every page into `out` as `N.jpg`, page ranges in parallel (one confined
    /// `pdftoppm` per core), moving the progress from `span.0` to `span.1`.
    #[allow(clippy::too_many_arguments)]
    async fn render_pages(
        &self,
        reporter: &mut Reporter<'_>,
        work: &Path,
        pdf: &Path,
        pages: u32,
        scale: Scale,
        out: &Path,
        span: (u8, u8),
    ) -> Result<(), Stop> {
        tokio::fs::create_dir_all(out).await.map_err(|e| server_fault("creating the page directory failed", e))?;
        let cores = u32::try_from(std::thread::available_parallelism().map_or(1, std::num::NonZero::get)).unwrap_or(1);
        // A range per core keeps every core busy; more ranges (up to 4 a core, at least 16 pages
        // each) even out pages of unequal cost, but each costs a confined process start (tens of
        // ms), more than a light page takes to render.
        let per_core = (pages / (cores * 16)).clamp(1, 4);
        let per_range = pages.div_ceil(cores * per_core).max(1);
        let ranges: Vec<_> =
            (1..=pages).step_by(per_range as usize).map(|first| first..=(first + per_range - 1).min(pages)).collect();
        let mut pending = futures_util::stream::iter(
            ranges.into_iter().map(|range| async move { self.tools.render(work, pdf, range, scale, out).await }),
        )
        .buffer_unordered(cores as usize);
        use futures_util::StreamExt as _;
        // Progress counts the pages written so far, so it moves within a range too.
        let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                done = pending.next() => match done {
                    Some(done) => done.map_err(|e| conversion_failure(e, "Rendering the pages"))?,
                    None => break,
                },
                _ = tick.tick() => {
                    let rendered = count_pages(out).await.min(pages);
                    let percent = u32::from(span.0) + u32::from(span.1 - span.0) * rendered / pages;
                    reporter.set(u8::try_from(percent).unwrap_or(span.1)).await;
                }
            }
        }
        reporter.set(span.1).await;
        drop(pending);
        let mut entries = tokio::fs::read_dir(out).await.map_err(|e| server_fault("listing pages failed", e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| server_fault("listing pages failed", e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(page) = page_number(&name) {
                tokio::fs::rename(entry.path(), out.join(format!("{page}.jpg")))
                    .await
                    .map_err(|e| server_fault("naming pages failed", e))?;
            }
        }
        for page in 1..=pages {
            if !out.join(format!("{page}.jpg")).is_file() {
                return Err(failed(ErrorCode::FailedOperationTranscode, format!("Page {page} could not be rendered.")));
            }
        }
        Ok(())
    }

    async fn upload(&self, destination: &Destination, name: &str, bytes: Bytes) -> Result<String, Stop> {
        match self.objects.put(destination, name, bytes).await {
            Ok(stored) => Ok(stored.url),
            Err(e) => Err(server_fault("storing a result file failed", e)),
        }
    }

    /// Stores `dir/1.jpg` … `dir/{pages}.jpg` under `destination`, several at once (each is a
    /// round trip to the bucket and a row of its expiry), and answers their URLs in page order.
    async fn upload_pages(&self, destination: &Destination, dir: &Path, pages: u32) -> Result<Vec<String>, Stop> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        futures_util::stream::iter(1..=pages)
            .map(|page| async move {
                let name = format!("{page}.jpg");
                self.upload_file(destination, &name, &dir.join(&name)).await
            })
            .buffered(UPLOADS_AT_ONCE)
            .try_collect()
            .await
    }

    async fn upload_file(&self, destination: &Destination, name: &str, path: &Path) -> Result<String, Stop> {
        let file = tokio::fs::File::open(path).await.map_err(|e| server_fault("reading a result file failed", e))?;
        let stream = tokio_util::io::ReaderStream::new(file);
        match self.objects.put_stream(destination, name, stream).await {
            Ok(stored) => Ok(stored.url),
            Err(e) => Err(server_fault("storing a result file failed", e)),
        }
    }

    /// The task's end with `result`: the outcome and its `TranscodeFinished` event.
    async fn ended(
        &self,
        ctx: &TaskContext,
        input: &TranscodeInput,
        result: TranscodeResult,
    ) -> Result<Outcome, ExecError> {
        let finished_at_ms = ctx.clock().now_ms();
        let callback = self.finished_event(ctx.task(), input, &result, finished_at_ms).await?;
        let outcome = Outcome::of::<Transcode>(&result)
            .map_err(|e| ExecError::permanent(e.to_string()))?
            .finished_at_ms(finished_at_ms);
        Ok(match callback {
            Some(callback) => outcome.with_callback(callback),
            None => outcome,
        })
    }

    async fn finished_event(
        &self,
        task: &Task,
        input: &TranscodeInput,
        result: &TranscodeResult,
        at_ms: i64,
    ) -> Result<Option<Callback>, ExecError> {
        let progress = task.progress_of::<Transcode>().ok().flatten().unwrap_or_default();
        let empty = String::new();
        let data = match result {
            TranscodeResult::Finished(files) => FinishedEvent {
                task_id: task.id.as_str(),
                resolution: &files.resolution,
                title: &input.title,
                pages: files.pages,
                result_url: &files.result_url,
                thumbnail_url: &files.thumbnail_url,
                thumbnail_resolution: &files.thumbnail_resolution,
                compress_file_url: &files.compress_file_url,
                error: None,
            },
            TranscodeResult::Failed(failure) => FinishedEvent {
                task_id: task.id.as_str(),
                resolution: &progress.resolution,
                title: &input.title,
                pages: progress.pages,
                result_url: &empty,
                thumbnail_url: &empty,
                thumbnail_resolution: &empty,
                compress_file_url: &empty,
                error: Some(EventError { code: failure.code, message: &failure.message }),
            },
        };
        // The task id is the event id: a receiver de-duplicates repeated deliveries by it.
        self.event(input, FINISHED_EVENT, data, task.id.as_str().to_owned(), at_ms).await
    }
}

/// The DPI that renders the first page at least at `min`, aspect kept, never below the
/// document's own 96-DPI size.
fn page_dpi(info: &PdfInfo, min: Option<super::Resolution>) -> f64 {
    let (width, height) = (info.width_pts * BASE_DPI / 72.0, info.height_pts * BASE_DPI / 72.0);
    let scale = match min {
        Some(min) if width > 0.0 && height > 0.0 => {
            (f64::from(min.width) / width).max(f64::from(min.height) / height).max(1.0)
        }
        _ => 1.0,
    };
    BASE_DPI * scale
}

/// The URL prefix of a destination: its objects are `<prefix><name>`.
fn prefix_of(destination: &Destination) -> String {
    let mut url = destination.url_for_key(&destination.key_for("x").unwrap_or_default());
    url.pop();
    url
}

/// The dynamic deck: one page that shows the slides (`N.jpg` beside it) with navigation.
fn deck_html(title: &str, pages: u32) -> String {
    let escaped: String = title
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    DECK_TEMPLATE.replace("{{TITLE}}", &escaped).replace("{{PAGES}}", &pages.to_string())
}

/// How many rendered pages `dir` holds (pdftoppm names them `page-N.jpg`).
async fn count_pages(dir: &Path) -> u32 {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return 0 };
    let mut count = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        if page_number(&entry.file_name().to_string_lossy()).is_some() {
            count += 1;
        }
    }
    count
}

/// Writes the pages (and thumbnails under `thumbnail/`) into a ZIP or gzipped tar at `target`.
fn write_archive(
    kind: CompressFileType,
    target: &Path,
    pages: &Path,
    thumbnails: Option<&Path>,
) -> std::io::Result<()> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (prefix, dir) in [("", Some(pages)), ("thumbnail/", thumbnails)] {
        let Some(dir) = dir else { continue };
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            files.push((format!("{prefix}{}", entry.file_name().to_string_lossy()), entry.path()));
        }
    }
    files.sort();
    let out = std::fs::File::create(target)?;
    match kind {
        CompressFileType::Zip => {
            let mut zip = zip::ZipWriter::new(out);
            // JPEGs do not compress; storing them keeps the archive fast to build and open.
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            for (name, path) in &files {
                zip.start_file(name.as_str(), options).map_err(std::io::Error::other)?;
                std::io::copy(&mut std::fs::File::open(path)?, &mut zip)?;
            }
            zip.finish().map_err(std::io::Error::other)?;
        }
        CompressFileType::TarGz => {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            for (name, path) in &files {
                tar.append_path_with_name(path, name)?;
            }
            tar.into_inner()?.finish()?;
        }
    }
    Ok(())
}

#[async_trait]
impl Executor for TranscodeExecutor {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let input = ctx
            .input_of::<Transcode>()
            .map_err(|e| ExecError::permanent(format!("unreadable transcode input: {e}")))?;
        let work = self.work_root.join(ctx.id().as_str());
        let _ = tokio::fs::remove_dir_all(&work).await;
        tokio::fs::create_dir_all(&work)
            .await
            .map_err(|e| ExecError::retryable(format!("creating the work directory failed: {e}")))?;
        let _cleanup = WorkDir(work.clone());
        let mut reporter =
            Reporter { executor: self, ctx: &ctx, input: &input, progress: TranscodeProgress::default() };
        reporter.set(0).await;
        let result = tokio::select! {
            result = self.run(&mut reporter, &work) => result,
            () = ctx.cancel_token().cancelled() => Err(Stop::Retry(ExecError::retryable("the transcode was interrupted"))),
        };
        let result = match result {
            Ok(files) => TranscodeResult::Finished(files),
            Err(Stop::Failed(failure)) => TranscodeResult::Failed(failure),
            Err(Stop::Retry(error)) if ctx.cancel_token().is_cancelled() || !ctx.is_final_attempt() => {
                return Err(error);
            }
            // A task never stays unfinished for ever: the last attempt reports the failure.
            Err(Stop::Retry(error)) => {
                tracing::warn!(task = %ctx.id(), error = %error.message, "transcode failed on its last attempt");
                TranscodeResult::Failed(TranscodeFailure {
                    code: ErrorCode::FailedOperationTranscodeServerError,
                    message: "The server could not finish the transcode; create the task again.".into(),
                })
            }
        };
        self.ended(&ctx, &input, result).await
    }

    /// A forced failure finishes like a real one, with its code when tiw knows it; a forced
    /// success has no pages to show and is refused.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        let Forced::Failure { error_code, error_message } = forced else {
            return Err(ExecError::permanent("a transcode cannot succeed without converting its document"));
        };
        let input = ctx
            .input_of::<Transcode>()
            .map_err(|e| ExecError::permanent(format!("unreadable transcode input: {e}")))?;
        let failure = TranscodeFailure {
            code: ErrorCode::from_wire(error_code).unwrap_or(ErrorCode::FailedOperationTranscode),
            message: error_message.clone(),
        };
        self.ended(&ctx, &input, TranscodeResult::Failed(failure)).await
    }

    /// The transcode ended without an execution's report: the event says it failed.
    async fn abandoned(&self, task: &Task, why: Abandonment) -> Result<Option<Callback>, ExecError> {
        let Ok(input) = task.input_of::<Transcode>() else {
            return Ok(None);
        };
        let failure = TranscodeFailure {
            code: ErrorCode::FailedOperationTranscodeServerError,
            message: why.message().to_owned(),
        };
        let at = task.finished_at_ms.unwrap_or(task.created_at_ms);
        self.finished_event(task, &input, &TranscodeResult::Failed(failure), at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::tiw::transcode::Resolution;

    fn slide() -> PdfInfo {
        PdfInfo { pages: 3, width_pts: 959.981, height_pts: 540.0, encrypted: false }
    }

    #[test]
    fn a_page_keeps_its_own_size_at_96_dpi() {
        assert_eq!(page_dpi(&slide(), None), 96.0);
    }

    #[test]
    fn a_minimum_resolution_scales_up_keeping_the_aspect() {
        let dpi = page_dpi(&slide(), Some(Resolution { width: 1920, height: 1080 }));
        assert!((dpi - 144.0).abs() < 0.01, "{dpi}");
    }

    #[test]
    fn a_minimum_below_the_document_changes_nothing() {
        assert_eq!(page_dpi(&slide(), Some(Resolution { width: 640, height: 360 })), 96.0);
    }

    #[test]
    fn the_deck_escapes_its_title() {
        let html = deck_html("<script>x</script>&.pptx", 4);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;&amp;.pptx"));
        assert!(!html.contains("<script>x</script>"));
    }
}
