//! Document transcoding: CreateTranscode turns a PPT, PDF, Word or Excel file into page images
//! (or, for a presentation, an HTML5 deck) that the whiteboard shows.
//!
//! The task's contract (input, progress, result), the view DescribeTranscode answers and the
//! `TranscodeFinished` event carries, and the event names. Fields and their meaning: tccli's
//! `api.json` for tiw 2019-09-19 (CreateTranscode, DescribeTranscode) and the event page
//! <https://cloud.tencent.com/document/product/1137/40260>.

pub mod api;
pub mod convert;
pub mod detect;
pub mod executor;
pub mod store;

use serde::{Deserialize, Serialize};
use taskgate_engine::{Task, TaskKind, TaskSpec, TaskState};
use tcapi::ErrorCode;

pub const TRANSCODE_KIND: TaskKind = TaskKind::from_static("tiw.transcode");

/// Where results go in the public bucket: `{prefix}/{SdkAppId}/{task id}/`.
pub const TRANSCODE_PREFIX: &str = "tiw/transcodes";

/// Sent while a task works, each time its progress moves.
pub const PROGRESS_EVENT: &str = "TranscodeProgressChanged";
/// Sent once when a task ends, successful or not.
pub const FINISHED_EVENT: &str = "TranscodeFinished";

/// The directory of one task's results under the transcode prefix.
pub fn task_dir(sdk_app_id: u64, task_id: &str) -> String {
    format!("{sdk_app_id}/{task_id}")
}

/// The transcode task kind: [`TranscodeInput`] in, [`TranscodeProgress`] while it works,
/// [`TranscodeResult`] out.
pub struct Transcode;

impl TaskSpec for Transcode {
    const KIND: TaskKind = TRANSCODE_KIND;
    type Input = TranscodeInput;
    type Progress = TranscodeProgress;
    type Output = TranscodeResult;
}

/// A resolution `WIDTHxHEIGHT` in pixels, as `MinScaleResolution` and `ThumbnailResolution`
/// spell it ("1280x720").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

/// The largest side a resolution may ask for: larger pages would be hundreds of megapixels.
pub const MAX_SIDE: u32 = 8192;

impl Resolution {
    /// `"1280x720"`; `None` for anything else (Tencent: a malformed value means "not given").
    pub fn parse(text: &str) -> Option<Self> {
        let (w, h) = text.trim().split_once('x')?;
        let (width, height) = (w.parse().ok()?, h.parse().ok()?);
        ((1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height)).then_some(Self { width, height })
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// `CompressFileType`: an archive of the whole result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompressFileType {
    #[serde(rename = "zip")]
    Zip,
    #[serde(rename = "tar.gz")]
    TarGz,
}

impl CompressFileType {
    /// Tencent: any other value, or none, makes no archive.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "zip" => Some(Self::Zip),
            "tar.gz" => Some(Self::TarGz),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::TarGz => "tar.gz",
        }
    }
}

/// `Priority` (deprecated but honoured): what a task may download and convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Priority {
    /// 200 MB, 2-minute download, 500 pages.
    #[default]
    Normal,
    /// `low`: 500 MB, 10-minute download, 2,000 pages, for dynamic PPT only; static documents
    /// stay at 200 MB.
    Low,
}

/// What one task may download and produce, by priority and mode (CreateTranscode's `Priority`
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimits {
    pub max_bytes: u64,
    pub download_timeout_secs: u64,
    pub max_pages: u32,
}

impl Priority {
    pub fn limits(self, dynamic: bool) -> TaskLimits {
        const MB: u64 = 1 << 20;
        match (self, dynamic) {
            (Priority::Low, true) => TaskLimits { max_bytes: 500 * MB, download_timeout_secs: 600, max_pages: 2000 },
            (Priority::Low, false) => TaskLimits { max_bytes: 200 * MB, download_timeout_secs: 600, max_pages: 2000 },
            (Priority::Normal, _) => TaskLimits { max_bytes: 200 * MB, download_timeout_secs: 120, max_pages: 500 },
        }
    }
}

/// `ExcelParam`: paper size and direction of spreadsheets turned into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcelPaper {
    /// `PaperSize`: 0 A4 (default), 1 A2, 2 A0, 3 A3 (tccli `api.json`, object ExcelParam).
    pub paper_size: i64,
    /// `PaperDirection`: 0 portrait (default), 1 landscape.
    pub landscape: bool,
}

/// What CreateTranscode asked, fixed when it was created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeInput {
    pub sdk_app_id: u64,
    /// The document's URL as received (URL-encoded, as Tencent asks).
    pub url: String,
    /// The document's file name, from the URL's last path segment, decoded: `Title`.
    pub title: String,
    /// `IsStaticPPT`: presentations become images too instead of an HTML5 deck.
    pub static_ppt: bool,
    /// `MinScaleResolution` (or the deprecated `MinResolution`); `None` keeps the document's.
    pub min_resolution: Option<Resolution>,
    /// `ThumbnailResolution`; thumbnails exist only for dynamic decks.
    pub thumbnail_resolution: Option<Resolution>,
    pub compress: Option<CompressFileType>,
    pub priority: Priority,
    pub excel: Option<ExcelPaper>,
}

/// What a task knows while it works, as `TranscodeProgressChanged` and DescribeTranscode show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscodeProgress {
    /// 0–100.
    pub progress: u8,
    /// 0 until the document was opened.
    pub pages: u32,
    /// `""` until the document was opened.
    pub resolution: String,
}

/// Why a task failed: a code of tiw's `errorcodes.py` and a message for the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscodeFailure {
    pub code: ErrorCode,
    pub message: String,
}

/// A finished task's outcome: its result files, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TranscodeResult {
    Finished(TranscodeFiles),
    Failed(TranscodeFailure),
}

/// What a successful task produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscodeFiles {
    pub pages: u32,
    /// The first page's size in pixels, `WxH`.
    pub resolution: String,
    /// Static: the prefix of `<prefix>N.jpg`; dynamic: the deck's `index.html`.
    pub result_url: String,
    /// The prefix of `<prefix>N.jpg` thumbnails; `""` without.
    pub thumbnail_url: String,
    pub thumbnail_resolution: String,
    /// `""` without an archive.
    pub compress_file_url: String,
    /// A JSON list of every result file's URL.
    pub resource_list_url: String,
    /// How the result was made: `""` for page images, a note for dynamic decks.
    pub ext: String,
}

/// A task's `Status`, as DescribeTranscode and DescribeTranscodeByUrl spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TranscodeStatus {
    Queued,
    Processing,
    Finished,
    /// Only DescribeTranscodeByUrl says it; DescribeTranscode answers the failure's error.
    Exception,
}

/// DescribeTranscode's answer for one task, and `TranscodeFinished`'s data: one shape from the
/// same facts, so the two always agree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscodeView {
    pub task_id: String,
    pub status: TranscodeStatus,
    pub progress: u8,
    pub pages: u32,
    pub resolution: String,
    pub title: String,
    pub result_url: String,
    pub thumbnail_url: String,
    pub thumbnail_resolution: String,
    pub compress_file_url: String,
    pub resource_list_url: String,
    pub ext: String,
    /// Unix seconds.
    pub create_time: i64,
    /// Unix seconds when a worker took the task; `None` while queued.
    pub assign_time: Option<i64>,
    /// Unix seconds; `None` until the end.
    pub finished_time: Option<i64>,
}

impl TranscodeView {
    /// `task` as it reads now; `Err` with its failure when it failed.
    pub fn of(task: &Task) -> Result<Self, ViewError> {
        let input = task.input_of::<Transcode>().map_err(ViewError::Unreadable)?;
        let progress = task.progress_of::<Transcode>().map_err(ViewError::Unreadable)?.unwrap_or_default();
        let mut view = Self {
            task_id: task.id.as_str().to_owned(),
            status: match task.state {
                TaskState::Queued => TranscodeStatus::Queued,
                _ => TranscodeStatus::Processing,
            },
            progress: progress.progress,
            pages: progress.pages,
            resolution: progress.resolution,
            title: input.title,
            result_url: String::new(),
            thumbnail_url: String::new(),
            thumbnail_resolution: String::new(),
            compress_file_url: String::new(),
            resource_list_url: String::new(),
            ext: String::new(),
            create_time: task.created_at_ms.div_euclid(1000),
            assign_time: task.started_at_ms.map(|ms| ms.div_euclid(1000)),
            finished_time: None,
        };
        if !task.state.is_finished() {
            return Ok(view);
        }
        let result = task.output_of::<Transcode>().map_err(ViewError::Unreadable)?.unwrap_or_else(|| {
            // Ended without an execution's report (cancelled, worker lost on its last attempt).
            TranscodeResult::Failed(TranscodeFailure {
                code: ErrorCode::FailedOperationTranscodeServerError,
                message: task.error.clone().unwrap_or_else(|| "the transcode stopped".into()),
            })
        });
        view.finished_time = task.finished_at_ms.map(|ms| ms.div_euclid(1000));
        match result {
            TranscodeResult::Finished(files) => {
                view.finish(files);
                Ok(view)
            }
            TranscodeResult::Failed(failure) => Err(ViewError::Failed(Box::new(view), failure)),
        }
    }

    fn finish(&mut self, files: TranscodeFiles) {
        self.status = TranscodeStatus::Finished;
        self.progress = 100;
        self.pages = files.pages;
        self.resolution = files.resolution;
        self.result_url = files.result_url;
        self.thumbnail_url = files.thumbnail_url;
        self.thumbnail_resolution = files.thumbnail_resolution;
        self.compress_file_url = files.compress_file_url;
        self.resource_list_url = files.resource_list_url;
        self.ext = files.ext;
    }
}

/// Why a task has no plain view.
#[derive(Debug)]
pub enum ViewError {
    /// It failed: its view as far as it got, and the failure.
    Failed(Box<TranscodeView>, TranscodeFailure),
    /// Its stored input, progress or output is unreadable (a server fault).
    Unreadable(serde_json::Error),
}

/// `TranscodeFinished`'s `EventData`: the view's fields, and `Error` when the task failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FinishedEvent<'a> {
    pub task_id: &'a str,
    pub resolution: &'a str,
    pub title: &'a str,
    pub pages: u32,
    pub result_url: &'a str,
    pub thumbnail_url: &'a str,
    pub thumbnail_resolution: &'a str,
    pub compress_file_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError<'a>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventError<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
}

/// `TranscodeProgressChanged`'s `EventData`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProgressEvent<'a> {
    pub task_id: &'a str,
    pub progress: u8,
    pub resolution: &'a str,
    pub title: &'a str,
    pub pages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolution_reads_width_x_height() {
        assert_eq!(Resolution::parse("1280x720"), Some(Resolution { width: 1280, height: 720 }));
        assert_eq!(Resolution::parse("1280x720").unwrap().to_string(), "1280x720");
    }

    #[test]
    fn a_malformed_resolution_is_no_resolution() {
        for text in ["", "1280", "1280*720", "0x720", "x", "99999x720", "-1x5", "1280X720"] {
            assert_eq!(Resolution::parse(text), None, "{text}");
        }
    }

    #[test]
    fn only_zip_and_tar_gz_make_an_archive() {
        assert_eq!(CompressFileType::parse("zip"), Some(CompressFileType::Zip));
        assert_eq!(CompressFileType::parse("tar.gz"), Some(CompressFileType::TarGz));
        assert_eq!(CompressFileType::parse("rar"), None);
        assert_eq!(CompressFileType::parse(""), None);
    }

    #[test]
    fn low_priority_raises_the_limits_of_dynamic_decks_only() {
        assert_eq!(Priority::Normal.limits(true).max_pages, 500);
        assert_eq!(Priority::Low.limits(true).max_bytes, 500 << 20);
        assert_eq!(Priority::Low.limits(false).max_bytes, 200 << 20);
    }

    #[test]
    fn a_result_round_trips_through_its_stored_form() {
        let failed = TranscodeResult::Failed(TranscodeFailure {
            code: ErrorCode::FailedOperationFileFormatError,
            message: "encrypted".into(),
        });
        let text = serde_json::to_string(&failed).unwrap();
        assert!(text.contains("\"FailedOperation.FileFormatError\""), "{text}");
        assert_eq!(serde_json::from_str::<TranscodeResult>(&text).unwrap(), failed);
    }
}
