//! Removing tiw's state for a reset: snapshot pictures and transcode results in the public
//! bucket, pushes with their streams, transcode rows, rooms with their logs and checkpoints, and
//! the callback settings of the scope's SdkAppIds.

use super::Tiw;
use super::push::HLS_PREFIX;
use super::snapshot::{SNAPSHOT_KIND, SNAPSHOT_PREFIX, Snapshot, task_dir};
use super::transcode::{self, TRANSCODE_KIND, TRANSCODE_PREFIX, Transcode};
use crate::products::reset::{Removed, ResetScope};
use sqlx::Row as _;
use taskgate_engine::{Store, StoreError, TaskFilter, on_pool};

const PUSHES: &str =
    "SELECT task_id FROM tiw_pushes WHERE $1 IS NULL OR task_id IN (SELECT id FROM tg_tasks WHERE account = $1)";
const DELETE_PUSHES: &str =
    "DELETE FROM tiw_pushes WHERE $1 IS NULL OR task_id IN (SELECT id FROM tg_tasks WHERE account = $1)";

impl Tiw {
    /// Call once the scope's tasks stopped and before the engine deletes them. Pictures a
    /// snapshot wrote to a customer's `COS` bucket stay: that bucket is the customer's.
    pub async fn reset(&self, scope: ResetScope<'_>, removed: &mut Removed) -> anyhow::Result<()> {
        let account = scope.uin();
        let snapshots = TaskFilter {
            account: account.map(str::to_owned),
            kind: Some(SNAPSHOT_KIND),
            limit: u32::MAX,
            ..TaskFilter::default()
        };
        let public = self.objects.public_bucket(SNAPSHOT_PREFIX)?;
        for task in self.engine.list(&snapshots).await? {
            let Ok(input) = task.input_of::<Snapshot>() else { continue };
            if input.cos.is_none() {
                removed.files +=
                    self.objects.remove_all(&public.join(&task_dir(input.sdk_app_id, task.id.as_str()))?).await?;
            }
        }
        let transcodes = TaskFilter {
            account: account.map(str::to_owned),
            kind: Some(TRANSCODE_KIND),
            limit: u32::MAX,
            ..TaskFilter::default()
        };
        let transcoded = self.objects.public_bucket(TRANSCODE_PREFIX)?;
        for task in self.engine.list(&transcodes).await? {
            let Ok(input) = task.input_of::<Transcode>() else { continue };
            removed.files += self
                .objects
                .remove_all(&transcoded.join(&transcode::task_dir(input.sdk_app_id, task.id.as_str()))?)
                .await?;
        }
        removed.transcodes += transcode::store::delete(&self.engine, account).await?;
        let store = self.engine.store();
        let pushes: Vec<String> = on_pool!(store.reader(), p => sqlx::query(PUSHES)
            .bind(account)
            .fetch_all(p)
            .await?
            .iter()
            .map(|row| row.try_get("task_id"))
            .collect::<Result<_, _>>()?);
        let streams = self.objects.public_bucket(HLS_PREFIX)?;
        for task_id in &pushes {
            removed.files += self.objects.remove_all(&streams.join(task_id)?).await?;
        }
        removed.pushes +=
            on_pool!(store.writer(), p => sqlx::query(DELETE_PUSHES).bind(account).execute(p).await?.rows_affected());
        let sdk_app_ids: Option<Vec<i64>> = match scope {
            ResetScope::Everyone => None,
            ResetScope::Account(account) => {
                Some(account.sdk_apps.keys().filter_map(|id| i64::try_from(*id).ok()).collect())
            }
        };
        delete_of_apps(store, CHECKPOINTS, sdk_app_ids.as_deref()).await?;
        removed.room_operations += delete_of_apps(store, ROOM_OPS, sdk_app_ids.as_deref()).await?;
        removed.rooms += delete_of_apps(store, ROOMS, sdk_app_ids.as_deref()).await?;
        removed.callback_settings += delete_of_apps(store, APPS, sdk_app_ids.as_deref()).await?;
        Ok(())
    }
}

/// The statements deleting every row of a table keyed by `sdk_app_id`, and those of one.
type DeleteOfApps = (&'static str, &'static str);
const CHECKPOINTS: DeleteOfApps =
    ("DELETE FROM tiw_room_checkpoints", "DELETE FROM tiw_room_checkpoints WHERE sdk_app_id = $1");
const ROOM_OPS: DeleteOfApps = ("DELETE FROM tiw_room_ops", "DELETE FROM tiw_room_ops WHERE sdk_app_id = $1");
const ROOMS: DeleteOfApps = ("DELETE FROM tiw_rooms", "DELETE FROM tiw_rooms WHERE sdk_app_id = $1");
const APPS: DeleteOfApps = ("DELETE FROM tiw_apps", "DELETE FROM tiw_apps WHERE sdk_app_id = $1");

/// Deletes the rows of these SdkAppIds, or all of them.
async fn delete_of_apps(
    store: &Store,
    (all, one): DeleteOfApps,
    sdk_app_ids: Option<&[i64]>,
) -> Result<u64, StoreError> {
    let Some(ids) = sdk_app_ids else {
        return Ok(on_pool!(store.writer(), p => sqlx::query(all).execute(p).await?.rows_affected()));
    };
    let mut deleted = 0;
    for id in ids {
        deleted += on_pool!(store.writer(), p => sqlx::query(one).bind(id).execute(p).await?.rows_affected());
    }
    Ok(deleted)
}
