//! Wiping tasks for a test harness's reset: stopping an account's unfinished tasks, then
//! deleting its tasks, their callbacks and its ClientToken records, as if they never existed.

use std::time::Duration;

use sqlx::Row as _;

use crate::{
    engine::{Engine, EngineError, lock},
    executor::CancelReason,
    on_pool, on_tx,
    task::TaskId,
};

/// What [`Engine::purge`] removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub tasks: u64,
    pub callbacks: u64,
    pub client_tokens: u64,
}

/// `$1` is the account, or NULL for every account.
const UNFINISHED: &str =
    "SELECT id FROM tg_tasks WHERE state IN ('queued', 'running') AND ($1 IS NULL OR account = $1)";
const REQUEST_CANCEL: &str =
    "UPDATE tg_tasks SET cancel_requested = TRUE WHERE state IN ('queued', 'running') AND ($1 IS NULL OR account = $1)";
const DELETE_ATTEMPTS: &str = "DELETE FROM tg_outbox_attempts WHERE event_id IN (SELECT o.event_id FROM tg_outbox o \
     WHERE $1 IS NULL OR o.task_id IN (SELECT t.id FROM tg_tasks t WHERE t.account = $1))";
const DELETE_CALLBACKS: &str =
    "DELETE FROM tg_outbox WHERE $1 IS NULL OR task_id IN (SELECT t.id FROM tg_tasks t WHERE t.account = $1)";
const DELETE_TASKS: &str = "DELETE FROM tg_tasks WHERE $1 IS NULL OR account = $1";
const DELETE_TOKENS: &str = "DELETE FROM tg_idempotency WHERE $1 IS NULL OR account = $1";

impl Engine {
    /// Asks every unfinished task of `account` (of every account when `None`) to stop, here
    /// and on other nodes (at their next heartbeat), and waits up to `grace` for the ones
    /// running on this node to end. Returns how many were unfinished. Call before deleting
    /// what the tasks' executors write, so that none writes after the delete.
    pub async fn stop_tasks(&self, account: Option<&str>, grace: Duration) -> Result<u64, EngineError> {
        let inner = &self.inner;
        let ids: Vec<TaskId> = on_pool!(inner.store.writer(), p => {
            let ids = sqlx::query(UNFINISHED)
                .bind(account)
                .fetch_all(p)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>("id").map(TaskId::new))
                .collect::<Result<Vec<_>, _>>()?;
            sqlx::query(REQUEST_CANCEL).bind(account).execute(p).await?;
            ids
        });
        for id in &ids {
            if let Some(flight) = lock(&inner.inflight).get(id) {
                flight.reason.fire(CancelReason::Requested, &flight.token);
            }
        }
        inner.wait_inflight(grace, |inflight| !ids.iter().any(|id| inflight.contains_key(id))).await;
        Ok(ids.len() as u64)
    }

    /// Deletes the tasks of `account` (of every account when `None`), every callback recorded
    /// for them with its delivery attempts, and the account's ClientToken records, in one
    /// transaction; forgets the finished tasks kept in memory. Tables of the engine's users
    /// that reference tasks must be emptied first. A task still running somewhere loses its
    /// lease with its row: whatever it reports afterwards changes nothing.
    pub async fn purge(&self, account: Option<&str>) -> Result<Purged, EngineError> {
        let inner = &self.inner;
        let mut tx = inner.store.begin().await?;
        let purged = on_tx!(tx, c => {
            sqlx::query(DELETE_ATTEMPTS).bind(account).execute(&mut *c).await?;
            let callbacks = sqlx::query(DELETE_CALLBACKS).bind(account).execute(&mut *c).await?.rows_affected();
            let tasks = sqlx::query(DELETE_TASKS).bind(account).execute(&mut *c).await?.rows_affected();
            let client_tokens = sqlx::query(DELETE_TOKENS).bind(account).execute(&mut *c).await?.rows_affected();
            Purged { tasks, callbacks, client_tokens }
        });
        tx.commit().await?;
        inner.finished.clear();
        Ok(purged)
    }
}
