//! The refresh executor: inventories the host and the requested clusters, then has its
//! success write them into the account's inventory tables. A list-only refresh updates each
//! cluster's reachability and runtime version and keeps what was last collected inside it.

use super::assets::InventoryRows;
use super::collect::{ClusterCollector, collect_host};
use super::context::Clusters;
use super::inventory::{ClusterWrite, HostAsset, RefreshOutput, Refreshed};
use super::task::{Refresh, RefreshInput, RefreshProgress};
use async_trait::async_trait;
use std::sync::Arc;
use taskgate_engine::{ExecError, Executor, Forced, Outcome, TaskContext};

pub struct RefreshExecutor {
    pub clusters: Clusters,
    pub collector: Arc<dyn ClusterCollector>,
}

impl RefreshExecutor {
    async fn refresh(&self, ctx: &TaskContext, input: &RefreshInput) -> Result<Refreshed, ExecError> {
        let configured = self.clusters.of(ctx.account());
        let host = collected_host().await?;
        let mut clusters = Vec::with_capacity(configured.len());
        for (done, cluster) in configured.iter().enumerate() {
            if input.cluster_ids.contains(&cluster.id) {
                let fresh = self
                    .collector
                    .collect(cluster, input.list_only)
                    .await
                    .map_err(|e| ExecError::permanent(e.to_string()))?;
                clusters.push(if input.list_only {
                    ClusterWrite::Listed(fresh)
                } else {
                    ClusterWrite::Collected(fresh)
                });
            } else {
                clusters.push(ClusterWrite::Kept(cluster.id.clone()));
            }
            let percent = (done + 1) * 100 / configured.len();
            // Progress is informative; a lost lease shows up when the task finishes.
            let _ = ctx.report::<Refresh>(&RefreshProgress { clusters_done: done + 1, percent }).await;
        }
        Ok(Refreshed { host, clusters })
    }
}

/// A refresh's success: its [`RefreshOutput`], with `refreshed` written into the account's
/// inventory in the transaction that records it, so readers see the previous inventory until
/// then, never a half-written one.
///
/// # Errors
/// Never in practice: the output is plain numbers.
pub fn success(refreshed: Refreshed) -> Result<Outcome, ExecError> {
    let output = RefreshOutput::of(&refreshed);
    Outcome::of::<Refresh>(&output)
        .map(|outcome| outcome.with_rows(Arc::new(InventoryRows(refreshed))))
        .map_err(|e| ExecError::permanent(e.to_string()))
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
        let refreshed = tokio::select! {
            refreshed = self.refresh(&ctx, &input) => refreshed?,
            () = ctx.cancel_token().cancelled() => return Err(ExecError::cancelled("the refresh was cancelled")),
        };
        success(refreshed)
    }

    /// A forced success collects the host only: an inventory without container assets, true
    /// of the host it describes. A forced failure ends in `Task_Error` with its message.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        match forced {
            Forced::Failure { error_message, .. } => Err(ExecError::permanent(error_message.clone())),
            Forced::AsRun | Forced::Success => {
                let _ = ctx;
                success(Refreshed { host: collected_host().await?, clusters: Vec::new() })
            }
        }
    }
}
