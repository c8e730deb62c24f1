//! Removing tcss's state for a reset: the scope's refresh tasks (each inventory is a task's
//! output, so it goes with its task).

use super::Tcss;
use crate::products::reset::{Removed, ResetScope};
use taskgate_engine::on_pool;

impl Tcss {
    /// Call before the engine deletes the scope's tasks. Each account's TaskId counter
    /// stays, so a TaskId of before the reset is never given again.
    pub async fn reset(&self, scope: ResetScope<'_>, removed: &mut Removed) -> anyhow::Result<()> {
        removed.refresh_tasks += on_pool!(self.engine.store().writer(), p => sqlx::query(
            "DELETE FROM tcss_refresh_tasks WHERE $1 IS NULL OR account = $1",
        )
        .bind(scope.uin())
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }
}
