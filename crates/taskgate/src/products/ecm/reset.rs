//! Removing ecm's state for a reset: the scope's imported images, files and records.

use super::Ecm;
use super::task::{IMPORT_KIND, Import};
use crate::products::reset::{Removed, ResetScope};
use taskgate_engine::{TaskFilter, on_pool};

impl Ecm {
    /// Call once the scope's imports stopped and before the engine deletes them. The image
    /// and task id counters stay, so an id of before the reset is never given again.
    pub async fn reset(&self, scope: ResetScope<'_>, removed: &mut Removed) -> anyhow::Result<()> {
        let account = scope.uin();
        let imports = TaskFilter {
            account: account.map(str::to_owned),
            kind: Some(IMPORT_KIND),
            limit: u32::MAX,
            ..TaskFilter::default()
        };
        for task in self.engine.list(&imports).await? {
            if let Ok(Some(image)) = task.output_of::<Import>()
                && let Some(location) = &image.location
                && self.images.remove(location).await?
            {
                removed.files += 1;
            }
        }
        removed.images += on_pool!(self.engine.store().writer(), p => sqlx::query(
            "DELETE FROM ecm_images WHERE $1 IS NULL OR account = $1",
        )
        .bind(account)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }
}
