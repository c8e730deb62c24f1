//! CreateTranscode, DescribeTranscode and DescribeTranscodeByUrl: typed requests, responses and
//! handlers (fields: tccli `api.json`, tiw 2019-09-19).

use super::store::{self, BY_URL_WINDOW_MS};
use super::{
    CompressFileType, ExcelPaper, Priority, Resolution, TRANSCODE_KIND, Transcode, TranscodeInput, TranscodeStatus,
    TranscodeView, ViewError,
};
use crate::action::{Action, ApiError, Call};
use crate::products::tiw::api::check_sdk_app_id;
use crate::products::tiw::context::Tiw;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use taskgate_engine::{NewTask, Task, TaskId};
use tcapi::ErrorCode;

/// Longest `Url` accepted: far beyond any real document address, short of abuse.
const MAX_URL_CHARS: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::products::tiw) struct ExcelParam {
    #[serde(rename = "PaperSize")]
    pub paper_size: Option<i64>,
    #[serde(rename = "PaperDirection")]
    pub paper_direction: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::products::tiw) struct CreateTranscode {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "Url")]
    pub url: String,
    #[serde(rename = "IsStaticPPT")]
    pub is_static_ppt: Option<bool>,
    /// Deprecated alias of `MinScaleResolution`.
    #[serde(rename = "MinResolution")]
    pub min_resolution: Option<String>,
    #[serde(rename = "ThumbnailResolution")]
    pub thumbnail_resolution: Option<String>,
    #[serde(rename = "CompressFileType")]
    pub compress_file_type: Option<String>,
    /// "Internal parameter" (Tencent): accepted and ignored.
    #[expect(dead_code, reason = "read for its type check only")]
    #[serde(rename = "ExtraData")]
    pub extra_data: Option<String>,
    #[serde(rename = "Priority")]
    pub priority: Option<String>,
    #[serde(rename = "MinScaleResolution")]
    pub min_scale_resolution: Option<String>,
    /// Dynamic-deck repairs of elements a browser cannot show; taskgate's decks are page
    /// images, which have none, so these change nothing.
    #[expect(dead_code, reason = "read for its type check only")]
    #[serde(rename = "AutoHandleUnsupportedElement")]
    pub auto_handle_unsupported_element: Option<bool>,
    #[expect(dead_code, reason = "read for its type check only")]
    #[serde(rename = "AutoHandleUnsupportedElementTypes")]
    pub auto_handle_unsupported_element_types: Option<Vec<i64>>,
    #[serde(rename = "ExcelParam")]
    pub excel_param: Option<ExcelParam>,
}

#[derive(Debug, Serialize)]
pub(in crate::products::tiw) struct CreateTranscodeResponse {
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

/// The document's file name: the URL path's last segment, percent-decoded.
fn title_of(url: &reqwest::Url) -> String {
    let segment = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Tencent: "低优先级" is `low`; anything else, or nothing, is the normal priority.
fn priority(text: Option<&str>) -> Priority {
    if text == Some("low") { Priority::Low } else { Priority::Normal }
}

impl Action for CreateTranscode {
    const NAME: &'static str = "CreateTranscode";
    type Product = Tiw;
    type Response = CreateTranscodeResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let url_error = |detail: &str| {
            ApiError::new(ErrorCode::InvalidParameterUrlFormatError, format!("Invalid `Url`: {detail}."))
        };
        let text = self.url.trim();
        if text.chars().count() > MAX_URL_CHARS {
            return Err(url_error(&format!("longer than {MAX_URL_CHARS} characters")));
        }
        let url = reqwest::Url::parse(text).map_err(|_| url_error("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(url_error("only http:// and https:// URLs of a host are accepted"));
        }
        if let Some(lack) = tiw.transcode_lack {
            return Err(ApiError::new(
                ErrorCode::FailedOperationTranscodeServerError,
                format!(
                    "Document transcoding cannot run on this server: {lack}. The server's operator can fix it: {}.",
                    lack.install_hint()
                ),
            ));
        }
        let excel = self.excel_param.map(|p| ExcelPaper {
            // Tencent: a value outside the range takes the default.
            paper_size: p.paper_size.filter(|s| (0..=2).contains(s)).unwrap_or(0),
            landscape: p.paper_direction.is_some_and(|d| d != 0),
        });
        let min_resolution = self.min_scale_resolution.or(self.min_resolution);
        let input = TranscodeInput {
            sdk_app_id: self.sdk_app_id,
            title: title_of(&url),
            url: text.to_owned(),
            static_ppt: self.is_static_ppt.unwrap_or(false),
            min_resolution: min_resolution.as_deref().and_then(Resolution::parse),
            thumbnail_resolution: self.thumbnail_resolution.as_deref().and_then(Resolution::parse),
            compress: self.compress_file_type.as_deref().and_then(CompressFileType::parse),
            priority: priority(self.priority.as_deref()),
            excel,
        };
        let task_id = uuid::Uuid::new_v4().simple().to_string();
        let task =
            NewTask::of::<Transcode>(task_id.clone(), call.account.uin.clone(), &input).map_err(ApiError::internal)?;
        store::create(&tiw.engine, task, &input).await.map_err(ApiError::internal)?;
        Ok(CreateTranscodeResponse { task_id })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::products::tiw) struct DescribeTranscode {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

/// The caller's transcode task `task_id` of the application; anything else is "not found".
async fn find(call: &Call, tiw: &Tiw, sdk_app_id: u64, task_id: &TaskId) -> Result<Option<Arc<Task>>, ApiError> {
    let Some(task) = tiw
        .engine
        .get_for_account(task_id, &call.account.uin)
        .await
        .map_err(ApiError::internal)?
        .filter(|t| t.kind == TRANSCODE_KIND)
    else {
        return Ok(None);
    };
    let input = task.input_of::<Transcode>().map_err(ApiError::internal)?;
    Ok((input.sdk_app_id == sdk_app_id).then_some(task))
}

impl Action for DescribeTranscode {
    const NAME: &'static str = "DescribeTranscode";
    type Product = Tiw;
    type Response = TranscodeView;

    /// A failed task answers its failure's code and message: the action's documented errors are
    /// the transcoding failures (`FailedOperation.FileDownloadFail`, `…FileFormatError`,
    /// `LimitExceeded.TranscodePagesLimitation`, …), and its `Status` has no failed state.
    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let task = find(call, tiw, self.sdk_app_id, &TaskId::new(self.task_id.clone())).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameterTaskNotFound,
                format!("The transcode task `{}` does not exist in SdkAppId {}.", self.task_id, self.sdk_app_id),
            )
        })?;
        match TranscodeView::of(&task) {
            Ok(view) => Ok(view),
            Err(ViewError::Failed(_, failure)) => Err(ApiError::new(failure.code, failure.message)),
            Err(ViewError::Unreadable(e)) => Err(ApiError::internal(e)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::products::tiw) struct DescribeTranscodeByUrl {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "Url")]
    pub url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::products::tiw) struct DescribeTranscodeByUrlResponse {
    pub progress: u8,
    pub status: TranscodeStatus,
    pub task_id: String,
}

impl Action for DescribeTranscodeByUrl {
    const NAME: &'static str = "DescribeTranscodeByUrl";
    type Product = Tiw;
    type Response = DescribeTranscodeByUrlResponse;

    /// The newest task of the URL created within the last day (Tencent's definition); a failed
    /// one reads `EXCEPTION`.
    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let url = self.url.trim();
        let since = tiw.engine.clock().now_ms() - BY_URL_WINDOW_MS;
        let not_found = || {
            ApiError::new(
                ErrorCode::InvalidParameterTaskNotFound,
                format!("No transcode task of this `Url` was created in SdkAppId {} within a day.", self.sdk_app_id),
            )
        };
        let id = store::newest_by_url(&tiw.engine, self.sdk_app_id, url, since)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(not_found)?;
        let task = find(call, tiw, self.sdk_app_id, &id).await?.ok_or_else(not_found)?;
        let (status, progress) = match TranscodeView::of(&task) {
            Ok(view) => (view.status, view.progress),
            Err(ViewError::Failed(view, _)) => (TranscodeStatus::Exception, view.progress),
            Err(ViewError::Unreadable(e)) => return Err(ApiError::internal(e)),
        };
        Ok(DescribeTranscodeByUrlResponse { progress, status, task_id: id.as_str().to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_decoded_file_name() {
        let url = reqwest::Url::parse("http://example.com/docs/%E6%B5%8B%E8%AF%95.pdf?x=1").unwrap();
        assert_eq!(title_of(&url), "测试.pdf");
    }

    #[test]
    fn only_low_lowers_the_priority() {
        assert_eq!(priority(Some("low")), Priority::Low);
        assert_eq!(priority(Some("high")), Priority::Normal);
        assert_eq!(priority(None), Priority::Normal);
    }
}
