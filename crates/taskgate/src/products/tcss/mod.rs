//! tcss (Tencent Container Security Service, 2020-11-01): asset-inventory refresh tasks.

mod api;
mod asset_query;
mod assets;
pub mod collect;
mod context;
pub mod inventory;
#[cfg(test)]
mod list_plans;
pub mod refresh;
mod reset;
mod store;
mod task;

pub use context::Tcss;

use super::registration::{Registration, TaskAction};
use crate::action::{ActionEntry, entry};
use crate::config::Config;
use std::sync::Arc;

pub static ACTIONS: &[ActionEntry<Tcss>] = &[
    entry::<api::CreateRefreshTask>(),
    entry::<api::DescribeUnfinishRefreshTask>(),
    entry::<api::DescribeRefreshTask>(),
    entry::<api::DescribeAssetSummary>(),
    entry::<api::DescribeAssetHostList>(),
    entry::<api::DescribeAssetContainerList>(),
    entry::<api::DescribeAssetImageList>(),
];

/// The refresh executor, inventorying each account's configured clusters through Docker.
pub fn executor(config: &Config) -> Registration {
    let refresh = refresh::RefreshExecutor {
        clusters: context::Clusters::from_config(config),
        collector: Arc::new(collect::DockerCollector),
    };
    Registration::finite(task::REFRESH_KIND, Arc::new(refresh))
}

/// The ids tcss's actions know a task by: the numeric `TaskId` of DescribeRefreshTask.
pub fn wire_ids(task: &taskgate_engine::Task) -> serde_json::Map<String, serde_json::Value> {
    match task.input_of::<task::Refresh>() {
        Ok(input) => serde_json::Map::from_iter([("TaskId".to_owned(), input.task_id.into())]),
        Err(_) => serde_json::Map::new(),
    }
}

/// The tcss actions that create tasks. A forced refresh success collects the host only: an
/// inventory without container assets, true of the host it describes.
pub const TASK_ACTIONS: &[TaskAction] =
    &[TaskAction { name: "CreateRefreshTask", kind: task::REFRESH_KIND, forced_success: Ok(()) }];
