//! The refresh task's contract, shared by the store that submits it and the executor that runs it.

use serde::{Deserialize, Serialize};
use taskgate_engine::TaskKind;

pub(super) const REFRESH_KIND: TaskKind = TaskKind::from_static("tcss.refresh");

/// What a refresh task was asked to do; the clusters were resolved when it was created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RefreshInput {
    /// The Tencent task id (`TaskId` of DescribeRefreshTask).
    pub task_id: i64,
    pub cluster_ids: Vec<String>,
    /// Only re-list the clusters (reachability, runtime version), keeping their last assets.
    pub list_only: bool,
}
