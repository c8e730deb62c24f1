//! The import task's contract, shared by the store that submits it and the executor that runs it.

use serde::{Deserialize, Serialize};
use taskgate_engine::TaskKind;

pub(super) const IMPORT_KIND: TaskKind = TaskKind::from_static("ecm.import");

/// What `ImportCustomImage` submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ImportInput {
    /// The Tencent task id (`TaskId` of DescribeCustomImageTask).
    pub task_id: i64,
    pub image_id: String,
    /// Tried in order until one imports.
    pub urls: Vec<String>,
}
