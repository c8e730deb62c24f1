//! Worker slots: the free capacity a claiming loop may fill in one batch.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Waits for one free slot (or `None` once `stop` fires or the semaphore closes), then takes
/// every other free slot up to `max` at once, so one claim query fills them all.
pub(crate) async fn acquire_batch(
    slots: &Arc<Semaphore>,
    max: usize,
    stop: &CancellationToken,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        permit = slots.clone().acquire_owned() => permit.ok()?,
        () = stop.cancelled() => return None,
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match slots.clone().try_acquire_owned() {
            Ok(permit) => batch.push(permit),
            Err(_) => break,
        }
    }
    Some(batch)
}
