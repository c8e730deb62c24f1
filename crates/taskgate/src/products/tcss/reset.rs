//! Removing tcss's state for a reset: the scope's refresh tasks and inventories.

use super::Tcss;
use crate::products::reset::{Removed, ResetScope};
use taskgate_engine::on_tx;

impl Tcss {
    /// Call before the engine deletes the scope's tasks. Each account's TaskId counter
    /// stays, so a TaskId of before the reset is never given again.
    pub async fn reset(&self, scope: ResetScope<'_>, removed: &mut Removed) -> anyhow::Result<()> {
        let mut tx = self.engine.store().begin().await?;
        for delete in [
            "DELETE FROM tcss_clusters WHERE $1 IS NULL OR account = $1",
            "DELETE FROM tcss_hosts WHERE $1 IS NULL OR account = $1",
            "DELETE FROM tcss_containers WHERE $1 IS NULL OR account = $1",
            "DELETE FROM tcss_images WHERE $1 IS NULL OR account = $1",
        ] {
            on_tx!(tx, c => sqlx::query(delete)
                .bind(scope.uin())
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        removed.refresh_tasks += on_tx!(tx, c => sqlx::query(
            "DELETE FROM tcss_refresh_tasks WHERE $1 IS NULL OR account = $1",
        )
        .bind(scope.uin())
        .execute(&mut *c)
        .await?
        .rows_affected());
        tx.commit().await?;
        Ok(())
    }
}
