//! The whiteboard push actions' typed requests, responses and handlers: Start/Stop/Describe
//! WhiteboardPush.

use super::context::Tiw;
use super::push::store::{NewPush, StartError};
use super::push::{
    FinishReason, ImLogin, PUSH_KIND, Push, PushInput, PushProgress, PushStatus, PushView, new_task_id, store,
};
use crate::action::{Action, ApiError, Call};
use crate::capabilities::Lack;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use taskgate_engine::{Task, TaskId};
use tcapi::ErrorCode;
use whiteboard::render::RenderOptions;

/// `Whiteboard` of StartWhiteboardPush (note the singular `InitParam`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PushWhiteboard {
    #[serde(rename = "Width")]
    pub width: Option<u64>,
    #[serde(rename = "Height")]
    pub height: Option<u64>,
    #[serde(rename = "InitParam")]
    pub init_param: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PushBackup {
    #[serde(rename = "PushUserId")]
    pub push_user_id: String,
    #[serde(rename = "PushUserSig")]
    pub push_user_sig: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthParam {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "UserId")]
    pub user_id: String,
    #[serde(rename = "UserSig")]
    pub user_sig: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) enum TrtcEnterRoomMode {
    #[serde(rename = "TRTCAppSceneVideoCall")]
    VideoCall,
    #[serde(rename = "TRTCAppSceneLIVE")]
    Live,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartWhiteboardPush {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "RoomId")]
    pub room_id: u64,
    #[serde(rename = "PushUserId")]
    pub push_user_id: String,
    #[serde(rename = "PushUserSig")]
    pub push_user_sig: String,
    #[serde(rename = "Whiteboard")]
    pub whiteboard: Option<PushWhiteboard>,
    #[serde(rename = "AutoStopTimeout")]
    pub auto_stop_timeout: Option<u64>,
    #[serde(rename = "AutoManageBackup")]
    pub auto_manage_backup: Option<bool>,
    #[serde(rename = "Backup")]
    pub backup: Option<PushBackup>,
    #[serde(rename = "PrivateMapKey")]
    #[expect(dead_code, reason = "TRTC has no counterpart here: checked for type and accepted")]
    pub private_map_key: Option<String>,
    #[serde(rename = "VideoFPS")]
    pub video_fps: Option<u64>,
    #[serde(rename = "VideoBitrate")]
    pub video_bitrate: Option<u64>,
    #[serde(rename = "AutoRecord")]
    #[expect(dead_code, reason = "TRTC has no counterpart here: checked for type and accepted")]
    pub auto_record: Option<bool>,
    #[serde(rename = "UserDefinedRecordId")]
    pub user_defined_record_id: Option<String>,
    #[serde(rename = "AutoPublish")]
    #[expect(dead_code, reason = "TRTC has no counterpart here: checked for type and accepted")]
    pub auto_publish: Option<bool>,
    #[serde(rename = "UserDefinedStreamId")]
    pub user_defined_stream_id: Option<String>,
    #[serde(rename = "ExtraData")]
    pub extra_data: Option<String>,
    #[serde(rename = "TRTCRoomId")]
    pub trtc_room_id: Option<u64>,
    #[serde(rename = "TRTCRoomIdStr")]
    #[expect(dead_code, reason = "TRTC has no counterpart here: checked for type and accepted")]
    pub trtc_room_id_str: Option<String>,
    #[serde(rename = "IMAuthParam")]
    pub im_auth_param: Option<AuthParam>,
    #[serde(rename = "TRTCAuthParam")]
    pub trtc_auth_param: Option<AuthParam>,
    #[serde(rename = "TRTCEnterRoomMode")]
    #[expect(dead_code, reason = "TRTC has no counterpart here: checked for type and accepted")]
    pub trtc_enter_room_mode: Option<TrtcEnterRoomMode>,
    #[serde(rename = "GroupId")]
    pub group_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct StartWhiteboardPushResponse {
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "Backup")]
    pub backup: String,
}

/// Largest video side; x264 levels end at 8K, a board needs far less.
const MAX_SIDE: u64 = 4096;
const MAX_AUTO_STOP_TIMEOUT: u64 = 259_200;
const MAX_FPS: u64 = 30;
const MAX_BITRATE_KBPS: u64 = 2000;
const MAX_USER_ID_BYTES: usize = 60;
const MAX_ROOM_ID: u64 = 4_294_967_295;

fn bad_push_parameter(field: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterRecordParameter, format!("Invalid `{field}`: {detail}."))
}

/// A video side: absent or 0 takes the default; odd sides are rounded down, since 4:2:0 video
/// has even sides.
fn video_side(field: &str, value: Option<u64>, default: u32) -> Result<u32, ApiError> {
    match value {
        None | Some(0) => Ok(default),
        Some(v) if (2..=MAX_SIDE).contains(&v) => Ok(u32::try_from(v & !1).unwrap_or(default)),
        Some(v) => Err(bad_push_parameter(field, format_args!("must be between 2 and {MAX_SIDE} pixels, got {v}"))),
    }
}

/// `0` or absent takes the default, as Tencent documents for VideoFPS and VideoBitrate.
fn ranged(field: &str, value: Option<u64>, default: u32, max: u64, unit: &str) -> Result<u32, ApiError> {
    match value {
        None | Some(0) => Ok(default),
        Some(v) if v <= max => Ok(u32::try_from(v).unwrap_or(default)),
        Some(v) => Err(bad_push_parameter(field, format_args!("must be between 0 and {max} {unit}, got {v}"))),
    }
}

fn check_user_id(field: &str, user_id: &str) -> Result<(), ApiError> {
    if user_id.is_empty() || user_id.len() > MAX_USER_ID_BYTES {
        return Err(bad_push_parameter(field, format_args!("must be 1 to {MAX_USER_ID_BYTES} bytes")));
    }
    Ok(())
}

/// RecordID and StreamID: at most 64 bytes of `[a-zA-Z0-9_-]`.
fn check_custom_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(bad_push_parameter(field, "must be at most 64 characters of a-z, A-Z, 0-9, _ and -"));
    }
    Ok(())
}

fn check_room_id(field: &str, room_id: u64) -> Result<(), ApiError> {
    if room_id == 0 || room_id > MAX_ROOM_ID {
        return Err(ApiError::invalid_value(field, format!("must be between 1 and {MAX_ROOM_ID}")));
    }
    Ok(())
}

/// Tencent's default stream id: `urlencode(SdkAppID_RoomID_PushUserID_main)`.
fn default_stream_id(sdk_app_id: u64, room_id: u64, user_id: &str) -> String {
    form_urlencoded::byte_serialize(format!("{sdk_app_id}_{room_id}_{user_id}_main").as_bytes()).collect()
}

impl StartWhiteboardPush {
    /// Checks everything the push does not use but the real service validates.
    fn check_trtc_fields(&self) -> Result<(), ApiError> {
        if let Some(id) = self.user_defined_record_id.as_deref() {
            check_custom_id("UserDefinedRecordId", id)?;
        }
        if let Some(id) = self.user_defined_stream_id.as_deref().filter(|id| !id.is_empty()) {
            check_custom_id("UserDefinedStreamId", id)?;
        }
        if let Some(room) = self.trtc_room_id.filter(|r| *r != 0) {
            check_room_id("TRTCRoomId", room)?;
        }
        if self.extra_data.as_deref().is_some_and(|e| !e.is_empty()) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterInvalidExtra,
                "The extra feature requested in `ExtraData` does not exist.",
            ));
        }
        for (field, auth) in [("IMAuthParam", &self.im_auth_param), ("TRTCAuthParam", &self.trtc_auth_param)] {
            if let Some(auth) = auth {
                check_user_id(&format!("{field}.UserId"), &auth.user_id)?;
            }
        }
        Ok(())
    }
}

impl Action for StartWhiteboardPush {
    const NAME: &'static str = "StartWhiteboardPush";
    type Product = Tiw;
    type Response = StartWhiteboardPushResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        super::api::check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        check_room_id("RoomId", self.room_id)?;
        check_user_id("PushUserId", &self.push_user_id)?;
        if self.push_user_sig.is_empty() {
            return Err(bad_push_parameter("PushUserSig", "must not be empty"));
        }
        let whiteboard = self.whiteboard.as_ref();
        let width = video_side("Whiteboard.Width", whiteboard.and_then(|w| w.width), 1280)?;
        let height = video_side("Whiteboard.Height", whiteboard.and_then(|w| w.height), 960)?;
        let init_param = whiteboard.and_then(|w| w.init_param.clone()).unwrap_or_default();
        RenderOptions::from_init_params(&init_param).map_err(|e| bad_push_parameter("Whiteboard.InitParam", e))?;
        let min_timeout = tiw.config.push_min_auto_stop_timeout;
        let auto_stop_timeout_secs = match self.auto_stop_timeout {
            None => 1800,
            Some(t) if (min_timeout..=MAX_AUTO_STOP_TIMEOUT).contains(&t) => t,
            Some(t) => {
                return Err(bad_push_parameter(
                    "AutoStopTimeout",
                    format_args!("must be between {min_timeout} and {MAX_AUTO_STOP_TIMEOUT} seconds, got {t}"),
                ));
            }
        };
        let fps = ranged("VideoFPS", self.video_fps, 20, MAX_FPS, "frames per second")?;
        let bitrate_kbps = ranged("VideoBitrate", self.video_bitrate, 1200, MAX_BITRATE_KBPS, "kbps")?;
        self.check_trtc_fields()?;
        if let Some(backup) = &self.backup {
            check_user_id("Backup.PushUserId", &backup.push_user_id)?;
            if backup.push_user_id == self.push_user_id {
                return Err(bad_push_parameter("Backup.PushUserId", "must differ from PushUserId"));
            }
        }
        if let Some(auth) = &self.im_auth_param {
            super::rooms::checked_id("IMAuthParam.SdkAppId", auth.sdk_app_id).map_err(super::api::id_error)?;
        }
        if let Some(lack) = tiw.push_encoder_lack {
            return Err(encoder_missing(lack));
        }
        let im_app = self.im_auth_param.as_ref().map_or(self.sdk_app_id, |a| a.sdk_app_id);
        let main_login = match &self.im_auth_param {
            Some(auth) => {
                ImLogin { sdk_app_id: auth.sdk_app_id, user_id: auth.user_id.clone(), user_sig: auth.user_sig.clone() }
            }
            None => ImLogin {
                sdk_app_id: self.sdk_app_id,
                user_id: self.push_user_id.clone(),
                user_sig: self.push_user_sig.clone(),
            },
        };
        let task_id = new_task_id();
        let backup_task_id = self.backup.as_ref().map(|_| new_task_id());
        let main = PushInput {
            sdk_app_id: self.sdk_app_id,
            room_id: self.room_id,
            group_id: self.group_id.clone().filter(|g| !g.is_empty()).unwrap_or_else(|| self.room_id.to_string()),
            push_user_id: self.push_user_id.clone(),
            im_login: main_login,
            width,
            height,
            init_param,
            auto_stop_timeout_secs,
            fps,
            bitrate_kbps,
            stream_id: self
                .user_defined_stream_id
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| default_stream_id(self.sdk_app_id, self.room_id, &self.push_user_id)),
            backup_of: None,
            backup_task_id: backup_task_id.clone(),
            auto_manage_backup: self.auto_manage_backup.unwrap_or(false),
        };
        let mut pushes = Vec::with_capacity(2);
        if let (Some(backup), Some(backup_id)) = (&self.backup, &backup_task_id) {
            let input = PushInput {
                push_user_id: backup.push_user_id.clone(),
                im_login: ImLogin {
                    sdk_app_id: im_app,
                    user_id: backup.push_user_id.clone(),
                    user_sig: backup.push_user_sig.clone(),
                },
                stream_id: default_stream_id(self.sdk_app_id, self.room_id, &backup.push_user_id),
                backup_of: Some(task_id.clone()),
                backup_task_id: None,
                ..main.clone()
            };
            pushes.push(NewPush { task_id: backup_id.clone(), account: call.account.uin.clone(), input });
        }
        pushes.insert(0, NewPush { task_id: task_id.clone(), account: call.account.uin.clone(), input: main });
        store::start_pushes(&tiw.engine, pushes, tiw.config.push_max_concurrent).await.map_err(|e| match e {
            StartError::UserBusy { user_id, task_id } => ApiError::new(
                ErrorCode::ResourceInUseRecordUserId,
                format!("The push user `{user_id}` is already pushing in task {task_id}; stop it or use another user."),
            ),
            StartError::TooMany { active } => ApiError::new(
                ErrorCode::LimitExceededTaskConcurrency,
                format!("SdkAppId {} already runs {active} pushes, its limit.", self.sdk_app_id),
            ),
            other => ApiError::internal(other),
        })?;
        let backup = backup_task_id
            .map(|id| serde_json::json!({ "RequestId": uuid::Uuid::new_v4().to_string(), "TaskId": id }).to_string())
            .unwrap_or_default();
        Ok(StartWhiteboardPushResponse { task_id, backup })
    }
}

/// A push needs `ffmpeg` with libx264 on this server; without it the push could only stop
/// with `EXCEPTION` after its restarts, so StartWhiteboardPush refuses it at once.
/// `FailedOperation.WhiteboardPush` is tiw's documented code for a push that failed, whose
/// description says why: here, the tool and the operator's fix. Not `InternalError`, whose fixed
/// text would hide the tool, nor `UnsupportedOperation`, which tiw documents for task states.
fn encoder_missing(lack: Lack) -> ApiError {
    ApiError::new(
        ErrorCode::FailedOperationWhiteboardPush,
        format!(
            "Whiteboard push cannot run on this server: {lack}. The server's operator can fix it: {}.",
            lack.install_hint()
        ),
    )
}

/// The push task `task_id` of this caller and application; anything else is "not found".
async fn find_push(call: &Call, tiw: &Tiw, sdk_app_id: u64, task_id: &str) -> Result<(Arc<Task>, PushInput), ApiError> {
    super::api::check_sdk_app_id(sdk_app_id)?;
    call.require_sdk_app(sdk_app_id)?;
    let not_found = || {
        ApiError::new(
            ErrorCode::InvalidParameterTaskNotFound,
            format!("The whiteboard push task `{task_id}` does not exist in SdkAppId {sdk_app_id}."),
        )
    };
    let task = tiw
        .engine
        .get_for_account(&TaskId::new(task_id), &call.account.uin)
        .await
        .map_err(ApiError::internal)?
        .filter(|t| t.kind == PUSH_KIND)
        .ok_or_else(not_found)?;
    let input = task.input_of::<Push>().map_err(ApiError::internal)?;
    if input.sdk_app_id != sdk_app_id {
        return Err(not_found());
    }
    Ok((task, input))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StopWhiteboardPush {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

#[derive(Debug, Serialize)]
pub(super) struct StopWhiteboardPushResponse {
    #[serde(rename = "Backup")]
    pub backup: String,
}

impl Action for StopWhiteboardPush {
    const NAME: &'static str = "StopWhiteboardPush";
    type Product = Tiw;
    type Response = StopWhiteboardPushResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        let (task, input) = find_push(call, tiw, self.sdk_app_id, &self.task_id).await?;
        if task.state.is_finished() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperationTaskHasAlreadyStopped,
                format!("The whiteboard push task `{}` has already stopped.", self.task_id),
            ));
        }
        tiw.engine.request_cancel(&task.id).await.map_err(ApiError::internal)?;
        let mut backup = String::new();
        if let Some(backup_id) = input.backup_task_id.filter(|_| input.auto_manage_backup) {
            tiw.engine.request_cancel(&TaskId::new(backup_id)).await.map_err(ApiError::internal)?;
            backup = serde_json::json!({ "RequestId": uuid::Uuid::new_v4().to_string() }).to_string();
        }
        Ok(StopWhiteboardPushResponse { backup })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DescribeWhiteboardPush {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

/// The seed's fields; all absent only in the `Backup` text of a backup push that failed before
/// it ever pushed.
#[derive(Debug, Default, Serialize)]
pub(super) struct DescribeWhiteboardPushResponse {
    #[serde(rename = "FinishReason", skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(rename = "TaskId", skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(rename = "Status", skip_serializing_if = "Option::is_none")]
    pub status: Option<PushStatus>,
    #[serde(rename = "RoomId", skip_serializing_if = "Option::is_none")]
    pub room_id: Option<u64>,
    #[serde(rename = "GroupId", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(rename = "PushUserId", skip_serializing_if = "Option::is_none")]
    pub push_user_id: Option<String>,
    #[serde(rename = "PushStartTime", skip_serializing_if = "Option::is_none")]
    pub push_start_time: Option<i64>,
    #[serde(rename = "PushStopTime", skip_serializing_if = "Option::is_none")]
    pub push_stop_time: Option<i64>,
    #[serde(rename = "ExceptionCnt", skip_serializing_if = "Option::is_none")]
    pub exception_cnt: Option<u64>,
    #[serde(rename = "IMSyncTime", skip_serializing_if = "Option::is_none")]
    pub im_sync_time: Option<i64>,
    #[serde(rename = "Backup", skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// The push's answer; a push that failed before it ever pushed is `FailedOperation.WhiteboardPush`
/// saying why, as the second DescribeWhiteboardPush example of Tencent's `examples.json` answers.
fn describe(task: &Task, input: &PushInput, backup: String) -> Result<DescribeWhiteboardPushResponse, ApiError> {
    let Some(view) = PushView::of(task) else {
        let why = PushProgress::of(task).failure.unwrap_or_else(|| "it stopped before its first frame".to_owned());
        return Err(ApiError::new(
            ErrorCode::FailedOperationWhiteboardPush,
            format!("The whiteboard push `{}` failed: {why}", task.id.as_str()),
        ));
    };
    Ok(DescribeWhiteboardPushResponse {
        finish_reason: Some(view.finish_reason.map_or("", FinishReason::as_str).to_owned()),
        task_id: Some(task.id.as_str().to_owned()),
        status: Some(view.status),
        room_id: Some(input.room_id),
        group_id: Some(input.group_id.clone()),
        push_user_id: Some(input.push_user_id.clone()),
        push_start_time: Some(view.push_start_time),
        push_stop_time: Some(view.push_stop_time),
        exception_cnt: Some(view.exception_cnt),
        im_sync_time: Some(view.im_sync_time),
        backup: Some(backup),
    })
}

impl Action for DescribeWhiteboardPush {
    const NAME: &'static str = "DescribeWhiteboardPush";
    type Product = Tiw;
    type Response = DescribeWhiteboardPushResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        let (task, input) = find_push(call, tiw, self.sdk_app_id, &self.task_id).await?;
        let backup = match &input.backup_task_id {
            Some(id) => match find_push(call, tiw, self.sdk_app_id, id).await {
                Ok((backup_task, backup_input)) => {
                    // A backup that failed before it pushed shows as `{}`.
                    let answer = describe(&backup_task, &backup_input, String::new()).unwrap_or_default();
                    serde_json::to_string(&answer).map_err(ApiError::internal)?
                }
                Err(_) => String::new(),
            },
            None => String::new(),
        };
        describe(&task, &input, backup)
    }
}
