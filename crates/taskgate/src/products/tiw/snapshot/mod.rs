//! The snapshot task's contract: what CreateSnapshotTask submits, what the executor produces,
//! and the one view of a task that DescribeSnapshotTask answers and the finished event carries.

pub mod executor;

use serde::{Deserialize, Serialize};
use taskgate_engine::objects::CosTarget;
use taskgate_engine::{Task, TaskKind, TaskSpec};
use whiteboard::replay::SnapshotMode;

pub const SNAPSHOT_KIND: TaskKind = TaskKind::from_static("tiw.snapshot");

/// Where snapshots without a `COS` go in the public bucket: `{prefix}/{SdkAppId}/{task id}/`.
pub const SNAPSHOT_PREFIX: &str = "tiw/snapshots";

/// The snapshot callback's event type. Tencent publishes none for snapshots; this name follows
/// its other events (`TranscodeFinished`, `WhiteboardPushStopped`).
pub const SNAPSHOT_EVENT: &str = "SnapshotTaskFinished";

/// The directory of one task's pictures under the snapshot prefix (or a `COS` TargetDir).
pub fn task_dir(sdk_app_id: u64, task_id: &str) -> String {
    format!("{sdk_app_id}/{task_id}")
}

/// The snapshot task kind: [`SnapshotInput`] in, no progress, [`SnapshotResult`] out.
pub struct Snapshot;

impl TaskSpec for Snapshot {
    const KIND: TaskKind = SNAPSHOT_KIND;
    type Input = SnapshotInput;
    type Progress = ();
    type Output = SnapshotResult;
}

/// What a snapshot task was asked, fixed when it was created. Its creation and end times are
/// the engine task's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInput {
    pub sdk_app_id: u64,
    pub room_id: u64,
    /// The log position at creation: later operations are not part of the task.
    pub up_to_seq: u64,
    pub width: u32,
    pub height: u32,
    pub init_params: String,
    pub mode: SnapshotMode,
    /// The customer bucket `COS` named, checked at creation; `None` for the public bucket.
    pub cos: Option<CosTarget>,
    /// Where the finished event goes; `None` sends none.
    pub callback_url: Option<String>,
}

/// `SnapshotResult` as DescribeSnapshotTask returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotResult {
    /// `OK`, or the failure's code.
    pub error_code: String,
    pub error_message: String,
    pub total: u64,
    /// The URL of each mark's PNG, in mark order.
    pub snapshots: Vec<String>,
}

impl SnapshotResult {
    pub fn ok(snapshots: Vec<String>) -> Self {
        let total = u64::try_from(snapshots.len()).unwrap_or(u64::MAX);
        Self { error_code: "OK".into(), error_message: String::new(), total, snapshots }
    }

    /// A failed task's result; `InternalErr` is the code Tencent's own example uses.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { error_code: "InternalErr".into(), error_message: message.into(), total: 0, snapshots: Vec::new() }
    }
}

/// A snapshot task's `Status`, as DescribeSnapshotTask spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotStatus {
    Running,
    Finished,
}

/// DescribeSnapshotTask's answer for one task, and the finished event's `EventData`: the same
/// fields from the same facts (the engine task's times), so the two always agree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotView {
    #[serde(rename = "TaskID")]
    pub task_id: String,
    #[serde(rename = "Status")]
    pub status: SnapshotStatus,
    /// Unix seconds.
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    /// Unix seconds; `None` while running.
    #[serde(rename = "FinishTime")]
    pub finish_time: Option<i64>,
    #[serde(rename = "Result")]
    pub result: Option<SnapshotResult>,
}

impl SnapshotView {
    /// `task` as it reads once it finished at `finished_at_ms` with `result`.
    pub fn finished(task: &Task, finished_at_ms: i64, result: SnapshotResult) -> Self {
        Self {
            task_id: task.id.as_str().to_owned(),
            status: SnapshotStatus::Finished,
            create_time: task.created_at_ms.div_euclid(1000),
            finish_time: Some(finished_at_ms.div_euclid(1000)),
            result: Some(result),
        }
    }

    /// `task` as it reads now: running, or finished with its recorded result (a failure
    /// without one reads as its error).
    pub fn of(task: &Task) -> Result<Self, serde_json::Error> {
        match task.finished_at_ms.filter(|_| task.state.is_finished()) {
            None => Ok(Self {
                task_id: task.id.as_str().to_owned(),
                status: SnapshotStatus::Running,
                create_time: task.created_at_ms.div_euclid(1000),
                finish_time: None,
                result: None,
            }),
            Some(finished_at_ms) => {
                let result = match task.output_of::<Snapshot>()? {
                    Some(result) => result,
                    None => SnapshotResult::failed(task.error.as_deref().unwrap_or("the task failed")),
                };
                Ok(Self::finished(task, finished_at_ms, result))
            }
        }
    }
}
