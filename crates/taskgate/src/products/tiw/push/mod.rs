//! Whiteboard pushes: a room's board rendered live as operations arrive, encoded to H.264 and
//! published as a live HLS stream (and to RTMP when the operator configures a target).
//!
//! A push is one long-running engine task of kind [`PUSH_KIND`]. Its input is fixed at
//! StartWhiteboardPush; its live state (status, start time, exception count) is the task's
//! progress, so a node that resumes a push after another died continues the counts; its end
//! (reason, stop time) is the task's result.

mod counters;
pub mod encoder;
pub mod executor;
pub mod feed;
pub mod store;
pub mod stream;

pub use counters::PushCounters;

use serde::{Deserialize, Serialize};
use taskgate_engine::{Task, TaskKind, TaskSpec, TaskState};

/// `Error.Code` of a failed push in the stop event, as Tencent's event documentation names it.
const FAILURE_CODE: &str = "FailedOperation.Record";

pub const PUSH_KIND: TaskKind = TaskKind::from_static("tiw.push");

/// The push task kind: [`PushInput`] in, [`PushProgress`] while live, [`PushResult`] out.
pub struct Push;

impl TaskSpec for Push {
    const KIND: TaskKind = PUSH_KIND;
    type Input = PushInput;
    type Progress = PushProgress;
    type Output = PushResult;
}

/// Where a push's HLS stream lives in the public bucket: `{prefix}/{TaskId}/index.m3u8`.
pub const HLS_PREFIX: &str = "whiteboard-push";
pub const PLAYLIST: &str = "index.m3u8";

/// Event types of the push callbacks, as Tencent documents them.
pub const STARTED_EVENT: &str = "WhiteboardPushStarted";
pub const STOPPED_EVENT: &str = "WhiteboardPushStopped";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushStatus {
    /// Entering the room and starting the encoder.
    #[default]
    Prepared,
    Pushing,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    /// No operation in the room for AutoStopTimeout seconds.
    Auto,
    /// StopWhiteboardPush.
    UserCall,
    /// Too many encoder or output failures in a row.
    Exception,
}

impl FinishReason {
    /// The wire name (`AUTO`, `USER_CALL`, `EXCEPTION`).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Auto => "AUTO",
            FinishReason::UserCall => "USER_CALL",
            FinishReason::Exception => "EXCEPTION",
        }
    }
}

/// Who the push logs in as: PushUserId/PushUserSig, or IMAuthParam when the IM application
/// differs from the whiteboard's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImLogin {
    pub sdk_app_id: u64,
    pub user_id: String,
    pub user_sig: String,
}

/// What a push was asked, fixed when it was started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushInput {
    pub sdk_app_id: u64,
    pub room_id: u64,
    pub group_id: String,
    pub push_user_id: String,
    pub im_login: ImLogin,
    pub width: u32,
    pub height: u32,
    pub init_param: String,
    pub auto_stop_timeout_secs: u64,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// The stream's name at the RTMP target.
    pub stream_id: String,
    /// On a backup push: its main push.
    pub backup_of: Option<String>,
    /// On a main push started with `Backup`: the backup push.
    pub backup_task_id: Option<String>,
    /// StopWhiteboardPush of the main push also stops the backup.
    pub auto_manage_backup: bool,
}

/// A push's live state, kept in the task's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushProgress {
    pub status: PushStatus,
    /// Unix seconds of the first frame; 0 before it.
    pub push_start_time: i64,
    /// Room-log time (Unix milliseconds, the clock of the log's `received_at_ms`) of the first
    /// frame, to align the room's operations with the video.
    pub im_sync_time: i64,
    pub exception_cnt: u64,
    /// When a node first picked the push up (Unix ms): the idle clock starts here.
    pub claimed_at_ms: i64,
    /// Why the push failed before it ever pushed (its IM login was refused), in the tenant's
    /// terms: DescribeWhiteboardPush answers it as `FailedOperation.WhiteboardPush`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl PushProgress {
    /// The task's last recorded state; the default before its first report.
    pub fn of(task: &Task) -> Self {
        task.progress_of::<Push>().ok().flatten().unwrap_or_default()
    }
}

/// `EventData` of the WhiteboardPushStarted event, as Tencent documents it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartedEvent<'a> {
    pub task_id: &'a str,
    pub room_id: u64,
    pub push_user_id: &'a str,
    pub push_start_time: i64,
}

/// `EventData` of the WhiteboardPushStopped event, as Tencent documents it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoppedEvent<'a> {
    pub task_id: &'a str,
    pub room_id: u64,
    pub group_id: &'a str,
    pub push_user_id: &'a str,
    pub finish_reason: FinishReason,
    pub push_start_time: i64,
    pub push_stop_time: i64,
    #[serde(rename = "IMSyncTime")]
    pub im_sync_time: i64,
    pub exception_cnt: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a PushFailure>,
}

impl<'a> StoppedEvent<'a> {
    pub fn of(task_id: &'a str, input: &'a PushInput, result: &'a PushResult) -> Self {
        Self {
            task_id,
            room_id: input.room_id,
            group_id: &input.group_id,
            push_user_id: &input.push_user_id,
            finish_reason: result.finish_reason,
            push_start_time: result.push_start_time,
            push_stop_time: result.push_stop_time,
            im_sync_time: result.im_sync_time,
            exception_cnt: result.exception_cnt,
            error: result.failure.as_ref(),
        }
    }
}

/// Why a push never started, as the stop event reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushFailure {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message")]
    pub message: String,
}

/// How a push ended: the task's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResult {
    pub finish_reason: FinishReason,
    pub push_start_time: i64,
    pub push_stop_time: i64,
    pub im_sync_time: i64,
    pub exception_cnt: u64,
    pub failure: Option<PushFailure>,
}

impl PushResult {
    /// A push stopping at `at_ms` (Unix ms), after `progress`; `error` makes it a failure.
    pub fn stopped_at(at_ms: i64, finish_reason: FinishReason, progress: &PushProgress, error: Option<String>) -> Self {
        PushResult {
            finish_reason,
            push_start_time: progress.push_start_time,
            push_stop_time: at_ms / 1000,
            im_sync_time: progress.im_sync_time,
            exception_cnt: progress.exception_cnt,
            failure: error.map(|message| PushFailure { code: FAILURE_CODE.into(), message }),
        }
    }
}

/// The push as DescribeWhiteboardPush and the callbacks show it; `None` for a push that
/// failed before it ever pushed (Tencent answers those with `FailedOperation.WhiteboardPush`).
#[derive(Debug, Clone, PartialEq)]
pub struct PushView {
    pub status: PushStatus,
    pub finish_reason: Option<FinishReason>,
    pub push_start_time: i64,
    pub push_stop_time: i64,
    pub im_sync_time: i64,
    pub exception_cnt: u64,
}

impl PushView {
    /// Derived from the engine task, never stored twice.
    pub fn of(task: &Task) -> Option<Self> {
        let progress = PushProgress::of(task);
        let result = task.output_of::<Push>().ok().flatten();
        let live = |status| PushView {
            status,
            finish_reason: None,
            push_start_time: progress.push_start_time,
            push_stop_time: 0,
            im_sync_time: progress.im_sync_time,
            exception_cnt: progress.exception_cnt,
        };
        let stopped_at = task.finished_at_ms.unwrap_or_default() / 1000;
        match (task.state, result) {
            (TaskState::Queued, _) => Some(live(PushStatus::Prepared)),
            (TaskState::Running, _) => Some(live(progress.status)),
            (TaskState::Succeeded, Some(r)) => Some(PushView {
                status: PushStatus::Stopped,
                finish_reason: Some(r.finish_reason),
                push_start_time: r.push_start_time,
                push_stop_time: r.push_stop_time,
                im_sync_time: r.im_sync_time,
                exception_cnt: r.exception_cnt,
            }),
            // Stopped before a node picked it up.
            (TaskState::Cancelled, _) => Some(PushView {
                finish_reason: Some(FinishReason::UserCall),
                push_stop_time: stopped_at,
                ..live(PushStatus::Stopped)
            }),
            // The engine gave up on a push that was on the air (its nodes kept dying).
            (TaskState::Failed | TaskState::Succeeded, _) if progress.push_start_time > 0 => Some(PushView {
                finish_reason: Some(FinishReason::Exception),
                push_stop_time: stopped_at,
                ..live(PushStatus::Stopped)
            }),
            (TaskState::Failed | TaskState::Succeeded, _) => None,
        }
    }
}

/// A push task id: 20 characters of `[0-9a-v]` (base32hex, lower case), as Tencent's.
pub fn new_task_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let bits = rand::random::<u128>();
    (0..20).map(|i| char::from(ALPHABET[usize::try_from((bits >> (i * 5)) & 31).unwrap_or_default()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_look_like_tencents() {
        let id = new_task_id();
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)), "{id}");
        assert_ne!(new_task_id(), id);
    }

    #[test]
    fn wire_names_match_tencents() {
        assert_eq!(serde_json::to_value(PushStatus::Prepared).unwrap(), "PREPARED");
        assert_eq!(serde_json::to_value(FinishReason::UserCall).unwrap(), "USER_CALL");
        for reason in [FinishReason::Auto, FinishReason::UserCall, FinishReason::Exception] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(serde_json::to_value(FinishReason::Auto).unwrap(), "AUTO");
    }
}
