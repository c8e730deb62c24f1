//! The refresh executor: inventories the host and the requested clusters, then replaces the
//! account's inventory. A list-only refresh updates each cluster's reachability and runtime
//! version and keeps what was last collected inside it.

use super::collect::{ClusterCollector, collect_host};
use super::context::Clusters;
use super::inventory::{ClusterAsset, HostAsset, Inventory};
use super::store::load_inventory;
use super::task::{Refresh, RefreshInput, RefreshProgress};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use taskgate_engine::{ExecError, Executor, Forced, Outcome, Store, TaskContext};

pub struct RefreshExecutor {
    pub store: Store,
    pub clusters: Clusters,
    pub collector: Arc<dyn ClusterCollector>,
}

/// Keeps the previous contents of a cluster a list-only refresh did not look into.
fn keep_contents(mut fresh: ClusterAsset, previous: Option<&ClusterAsset>) -> ClusterAsset {
    if let Some(previous) = previous {
        fresh.nodes.clone_from(&previous.nodes);
        fresh.containers.clone_from(&previous.containers);
        fresh.images.clone_from(&previous.images);
    }
    fresh
}

impl RefreshExecutor {
    async fn refresh(&self, ctx: &TaskContext, input: &RefreshInput) -> Result<Inventory, ExecError> {
        let account = ctx.account();
        let configured = self.clusters.of(account);
        let previous = load_inventory(&self.store, account).await.map_err(|e| ExecError::retryable(e.to_string()))?;
        let previous_clusters: HashMap<&str, &ClusterAsset> = previous
            .as_ref()
            .map(|(inv, _)| inv.clusters.iter().map(|c| (c.cluster_id.as_str(), c)).collect())
            .unwrap_or_default();

        let host = collected_host().await?;

        let mut clusters = Vec::with_capacity(configured.len());
        for (done, cluster) in configured.iter().enumerate() {
            let refreshed = input.cluster_ids.contains(&cluster.id);
            let previous = previous_clusters.get(cluster.id.as_str()).copied();
            let asset = match (refreshed, previous) {
                (false, Some(previous)) => previous.clone(),
                (false, None) => continue,
                (true, previous) => {
                    let fresh = self
                        .collector
                        .collect(cluster, input.list_only)
                        .await
                        .map_err(|e| ExecError::permanent(e.to_string()))?;
                    if input.list_only { keep_contents(fresh, previous) } else { fresh }
                }
            };
            clusters.push(asset);
            let percent = (done + 1) * 100 / configured.len();
            // Progress is informative; a lost lease shows up when the task finishes.
            let _ = ctx.report::<Refresh>(&RefreshProgress { clusters_done: done + 1, percent }).await;
        }
        Ok(Inventory { host, clusters })
    }
}

/// This host's asset, collected on a blocking thread.
async fn collected_host() -> Result<HostAsset, ExecError> {
    tokio::task::spawn_blocking(collect_host)
        .await
        .map_err(|e| ExecError::retryable(format!("host collector stopped: {e}")))?
        .map_err(|e| ExecError::permanent(e.to_string()))
}

#[async_trait]
impl Executor for RefreshExecutor {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let input =
            ctx.input_of::<Refresh>().map_err(|e| ExecError::permanent(format!("unreadable refresh input: {e}")))?;
        let inventory = tokio::select! {
            inventory = self.refresh(&ctx, &input) => inventory?,
            () = ctx.cancel_token().cancelled() => return Err(ExecError::cancelled("the refresh was cancelled")),
        };
        // The inventory is the task's output, recorded with its success in the engine's fenced
        // completion: readers see the previous inventory until then, never a half-written one.
        Outcome::of::<Refresh>(&inventory).map_err(|e| ExecError::permanent(e.to_string()))
    }

    /// A forced success collects the host only: an inventory without container assets, true
    /// of the host it describes. A forced failure ends in `Task_Error` with its message.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        match forced {
            Forced::Failure { error_message, .. } => Err(ExecError::permanent(error_message.clone())),
            Forced::AsRun | Forced::Success => {
                let _ = ctx;
                let host = collected_host().await?;
                Outcome::of::<Refresh>(&Inventory { host, clusters: Vec::new() })
                    .map_err(|e| ExecError::permanent(e.to_string()))
            }
        }
    }
}
