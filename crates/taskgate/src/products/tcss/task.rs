//! The refresh task's contract, shared by the store that submits it and the executor that runs it.

use super::inventory::RefreshOutput;
use serde::{Deserialize, Serialize};
use taskgate_engine::{TaskKind, TaskSpec};

pub(super) const REFRESH_KIND: TaskKind = TaskKind::from_static("tcss.refresh");

/// The refresh task kind: [`RefreshInput`] in, [`RefreshProgress`] while running,
/// [`RefreshOutput`] out. The inventory it collected is written into the account's inventory
/// tables with its success (`assets::InventoryRows`), their one home.
pub(super) struct Refresh;

impl TaskSpec for Refresh {
    const KIND: TaskKind = REFRESH_KIND;
    type Input = RefreshInput;
    type Progress = RefreshProgress;
    type Output = RefreshOutput;
}

/// How far a refresh got through the account's configured clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RefreshProgress {
    pub clusters_done: usize,
    pub percent: usize,
}

/// What a refresh task was asked to do; the clusters were resolved when it was created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RefreshInput {
    /// The Tencent task id (`TaskId` of DescribeRefreshTask).
    pub task_id: i64,
    pub cluster_ids: Vec<String>,
    /// Only re-list the clusters (reachability, runtime version), keeping their last assets.
    pub list_only: bool,
}
