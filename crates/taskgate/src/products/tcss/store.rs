//! tcss rows: refresh tasks with their numeric ids and the per-account creation lock (the
//! inventory's tables are `assets`).

use super::task::{Refresh, RefreshInput};
use sqlx::Row;
use taskgate_engine::{Engine, EngineError, NewTask, Store, StoreError, TaskState, on_pool, on_tx};

#[derive(Debug, thiserror::Error)]
pub enum TcssStoreError {
    #[error("refresh task {task_id} is still unfinished")]
    Unfinished { task_id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("stored tcss data is unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for TcssStoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RefreshTaskRow {
    pub task_id: i64,
    pub new_task_id: String,
    pub state: TaskState,
}

#[derive(Debug, Clone)]
pub(super) struct CreatedRefresh {
    pub task_id: i64,
    pub new_task_id: String,
}

fn engine_task_id(account: &str, task_id: i64) -> String {
    format!("tcss-refresh-{account}-{task_id}")
}

/// Creates the account's next refresh task unless its latest one is unfinished. The account
/// row is written first, so concurrent creators serialise on it (the write lock on SQLite, a
/// row lock on PostgreSQL) and the check-then-insert cannot interleave.
pub(super) async fn create_refresh_task(
    engine: &Engine,
    account: &str,
    cluster_ids: Vec<String>,
    list_only: bool,
    now_ms: i64,
) -> Result<CreatedRefresh, TcssStoreError> {
    let mut tx = engine.store().begin().await?;
    let last_task_id: i64 = on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO tcss_accounts (account, last_task_id) VALUES ($1, 0) \
             ON CONFLICT (account) DO UPDATE SET last_task_id = tcss_accounts.last_task_id RETURNING last_task_id",
        )
        .bind(account)
        .fetch_one(c)
        .await?
        .try_get(0)?
    });
    let latest_state: Option<String> = on_tx!(tx, c => {
        sqlx::query(
            "SELECT t.state FROM tcss_refresh_tasks r JOIN tg_tasks t ON t.id = r.engine_task_id \
             WHERE r.account = $1 AND r.task_id = $2",
        )
        .bind(account)
        .bind(last_task_id)
        .fetch_optional(c)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
    });
    if latest_state.as_deref().and_then(TaskState::parse).is_some_and(|s| !s.is_finished()) {
        tx.rollback().await?;
        return Err(TcssStoreError::Unfinished { task_id: last_task_id });
    }
    let task_id = last_task_id + 1;
    // The "new scheme" id: creation time in ms followed by six digits of the numeric id, a
    // large decimal like the real service's, unique per account.
    let new_task_id = format!("{now_ms}{:06}", task_id % 1_000_000);
    let engine_id = engine_task_id(account, task_id);
    let input = RefreshInput { task_id, cluster_ids, list_only };
    let task = NewTask::of::<Refresh>(engine_id.clone(), account, &input)
        .map_err(|e| TcssStoreError::Corrupt(e.to_string()))?;
    engine.submit_in(&mut tx, task).await?;
    on_tx!(tx, c => {
        sqlx::query("UPDATE tcss_accounts SET last_task_id = $1 WHERE account = $2")
            .bind(task_id)
            .bind(account)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO tcss_refresh_tasks (account, task_id, new_task_id, engine_task_id, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account)
        .bind(task_id)
        .bind(&new_task_id)
        .bind(&engine_id)
        .bind(now_ms)
        .execute(c)
        .await?;
    });
    tx.commit().await?;
    Ok(CreatedRefresh { task_id, new_task_id })
}

/// A query of the account's refresh tasks with their engine state, narrowed by `$rest`.
macro_rules! refresh_task_query {
    ($rest:literal) => {
        concat!(
            "SELECT r.task_id, r.new_task_id, t.state FROM tcss_refresh_tasks r ",
            "JOIN tg_tasks t ON t.id = r.engine_task_id WHERE r.account = $1 ",
            $rest
        )
    };
}

fn task_row((task_id, new_task_id, state): (i64, String, String)) -> Result<RefreshTaskRow, TcssStoreError> {
    let state = TaskState::parse(&state).ok_or_else(|| TcssStoreError::Corrupt(format!("task state {state:?}")))?;
    Ok(RefreshTaskRow { task_id, new_task_id, state })
}

/// The account's most recent refresh task.
pub(super) async fn latest_task(store: &Store, account: &str) -> Result<Option<RefreshTaskRow>, TcssStoreError> {
    on_pool!(store.reader(), p => {
        sqlx::query_as(refresh_task_query!("ORDER BY r.task_id DESC LIMIT 1")).bind(account).fetch_optional(p).await?.map(task_row).transpose()
    })
}

/// One of the account's refresh tasks, by numeric id or, when given, by its new-scheme id.
pub(super) async fn find_task(
    store: &Store,
    account: &str,
    task_id: u64,
    new_task_id: Option<&str>,
) -> Result<Option<RefreshTaskRow>, TcssStoreError> {
    match new_task_id {
        Some(new_id) => {
            on_pool!(store.reader(), p => {
                sqlx::query_as(refresh_task_query!("AND r.new_task_id = $2")).bind(account).bind(new_id).fetch_optional(p).await?.map(task_row).transpose()
            })
        }
        None => {
            let Ok(task_id) = i64::try_from(task_id) else {
                return Ok(None);
            };
            on_pool!(store.reader(), p => {
                sqlx::query_as(refresh_task_query!("AND r.task_id = $2")).bind(account).bind(task_id).fetch_optional(p).await?.map(task_row).transpose()
            })
        }
    }
}

/// When the account's latest succeeded refresh finished (Unix ms): when its inventory was last
/// written; none before any.
pub(super) async fn refreshed_at_ms(store: &Store, account: &str) -> Result<Option<i64>, TcssStoreError> {
    Ok(on_pool!(store.reader(), p => {
        sqlx::query_scalar(
            "SELECT t.finished_at_ms FROM tcss_refresh_tasks r JOIN tg_tasks t ON t.id = r.engine_task_id \
             WHERE r.account = $1 AND t.state = 'succeeded' ORDER BY r.task_id DESC LIMIT 1",
        )
        .bind(account)
        .fetch_optional(p)
        .await?
    }))
}
