//! The tiw actions' typed requests, responses and handlers.

use super::context::Tiw;
use super::rooms::{IdOutOfRange, RoomKey, checked_id};
use super::snapshot::{SNAPSHOT_KIND, Snapshot, SnapshotInput, SnapshotView};
use crate::action::Account;
use crate::action::{Action, ApiError, Call};
use serde::{Deserialize, Serialize};
use taskgate_engine::objects::{CosTarget, ObjectsError};
use taskgate_engine::{NewTask, TaskId};
use tcapi::ErrorCode;
use whiteboard::render::RenderOptions;
use whiteboard::replay::SnapshotMode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SnapshotWhiteboard {
    #[serde(rename = "Width")]
    pub width: Option<u64>,
    #[serde(rename = "Height")]
    pub height: Option<u64>,
    #[serde(rename = "InitParams")]
    pub init_params: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SnapshotCos {
    #[serde(rename = "Uin")]
    pub uin: u64,
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "TargetDir")]
    pub target_dir: Option<String>,
    #[serde(rename = "Domain")]
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateSnapshotTask {
    #[serde(rename = "Whiteboard")]
    pub whiteboard: SnapshotWhiteboard,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "RoomId")]
    pub room_id: u64,
    #[serde(rename = "CallbackURL")]
    pub callback_url: Option<String>,
    #[serde(rename = "COS")]
    pub cos: Option<SnapshotCos>,
    #[serde(rename = "SnapshotMode")]
    pub snapshot_mode: Option<SnapshotMode>,
}

#[derive(Debug, Serialize)]
pub(super) struct CreateSnapshotTaskResponse {
    #[serde(rename = "TaskID")]
    pub task_id: String,
}

/// Tencent's documented range of a snapshot side; 0 or absent means the default.
const MAX_SIDE: u64 = 2560;

/// A tenant writes only into its own buckets: `COS.Uin` must be the caller's account and the
/// bucket one the configuration gives it (by APPID suffix or by name). Tencent lists
/// `UnauthorizedOperation` among CreateSnapshotTask's errors (tccli `api.json`, tiw 2019-09-19).
fn check_bucket_owner(account: &Account, cos: &SnapshotCos) -> Result<(), ApiError> {
    if cos.uin.to_string() != account.uin {
        return Err(ApiError::new(
            ErrorCode::UnauthorizedOperation,
            format!("The parameter `COS.Uin` {} is not the account {} that makes the request.", cos.uin, account.uin),
        ));
    }
    if !account.owns_bucket(&cos.region, &cos.bucket) {
        return Err(ApiError::new(
            ErrorCode::UnauthorizedOperation,
            format!(
                "The parameter `COS.Bucket` `{}` in `{}` is not a bucket of account {}.",
                cos.bucket, cos.region, account.uin
            ),
        ));
    }
    Ok(())
}

fn side(field: &str, value: Option<u64>, default: u32) -> Result<u32, ApiError> {
    match value {
        None | Some(0) => Ok(default),
        Some(v) if v <= MAX_SIDE => Ok(u32::try_from(v).unwrap_or(default)),
        Some(v) => Err(ApiError::invalid_value(field, format!("must be between 1 and {MAX_SIDE} pixels, got {v}"))),
    }
}

/// An id outside Tencent's declared `Integer` (int64) or not positive, as `InvalidParameter`
/// naming the field.
pub(super) fn id_error(e: IdOutOfRange) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, e.to_string())
}

/// Checks an action's `SdkAppId` against its declared type before anything else reads it.
pub(super) fn check_sdk_app_id(sdk_app_id: u64) -> Result<(), ApiError> {
    checked_id("SdkAppId", sdk_app_id).map(drop).map_err(id_error)
}

impl Action for CreateSnapshotTask {
    const NAME: &'static str = "CreateSnapshotTask";
    type Product = Tiw;
    type Response = CreateSnapshotTaskResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        let room = RoomKey::new(self.sdk_app_id, self.room_id).map_err(id_error)?;
        call.require_sdk_app(self.sdk_app_id)?;
        if self.room_id > u64::from(u32::MAX) {
            return Err(ApiError::invalid_value("RoomId", "must be between 1 and 4294967295"));
        }
        let width = side("Whiteboard.Width", self.whiteboard.width, 1280)?;
        let height = side("Whiteboard.Height", self.whiteboard.height, 720)?;
        let init_params = self.whiteboard.init_params.unwrap_or_default();
        RenderOptions::from_init_params(&init_params)
            .map_err(|e| ApiError::invalid_value("Whiteboard.InitParams", e.to_string()))?;
        if let Some(url) = self.callback_url.as_deref().filter(|u| !u.is_empty()) {
            tiw.url_policy.check(url).await.map_err(|e| ApiError::invalid_value("CallbackURL", e.to_string()))?;
        }
        let cos = match self.cos {
            Some(cos) => {
                check_bucket_owner(&call.account, &cos)?;
                let target = CosTarget {
                    bucket: cos.bucket,
                    region: cos.region,
                    target_dir: cos.target_dir.filter(|d| !d.is_empty()),
                    domain: cos.domain.filter(|d| !d.is_empty()),
                };
                tiw.objects.cos_destination(&target).map_err(|e| {
                    let field = match e {
                        ObjectsError::UnknownRegion(_) => "COS.Region",
                        ObjectsError::InvalidBucket(_) => "COS.Bucket",
                        _ => "COS.TargetDir",
                    };
                    ApiError::invalid_value(field, e.to_string())
                })?;
                Some(target)
            }
            None => None,
        };
        let (up_to_seq, marks) = tiw.rooms.last_seq_and_marks(room).await.map_err(ApiError::internal)?;
        let max_marks = tiw.config.snapshot_max_marks;
        let mode = self.snapshot_mode.unwrap_or_default();
        // LatestMarksOnly renders one mark per page, which the count cannot tell: its executor
        // enforces the same limit on what it would render.
        // `InvalidParameter`: CreateSnapshotTask's documented errors (Go SDK) have no limit code.
        if mode == SnapshotMode::AllMarks && marks > max_marks {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "Room {} has {marks} snapshot marks; one snapshot task renders at most {max_marks}.",
                    self.room_id
                ),
            ));
        }
        let input = SnapshotInput {
            sdk_app_id: self.sdk_app_id,
            room_id: self.room_id,
            up_to_seq,
            width,
            height,
            init_params,
            mode,
            cos,
            callback_url: self.callback_url.filter(|u| !u.is_empty()),
        };
        let task_id = uuid::Uuid::new_v4().to_string();
        let task =
            NewTask::of::<Snapshot>(task_id.clone(), call.account.uin.clone(), &input).map_err(ApiError::internal)?;
        tiw.engine.submit(task).await.map_err(ApiError::internal)?;
        Ok(CreateSnapshotTaskResponse { task_id })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DescribeSnapshotTask {
    #[serde(rename = "TaskID")]
    pub task_id: String,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
}

impl Action for DescribeSnapshotTask {
    const NAME: &'static str = "DescribeSnapshotTask";
    type Product = Tiw;
    type Response = SnapshotView;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let not_found = || {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("The snapshot task `{}` does not exist in SdkAppId {}.", self.task_id, self.sdk_app_id),
            )
        };
        // Another account's task, or another application's, is indistinguishable from none.
        let task = tiw
            .engine
            .get_for_account(&TaskId::new(self.task_id.clone()), &call.account.uin)
            .await
            .map_err(ApiError::internal)?
            .filter(|t| t.kind == SNAPSHOT_KIND)
            .ok_or_else(not_found)?;
        let input = task.input_of::<Snapshot>().map_err(ApiError::internal)?;
        if input.sdk_app_id != self.sdk_app_id {
            return Err(not_found());
        }
        SnapshotView::of(&task).map_err(ApiError::internal)
    }
}
