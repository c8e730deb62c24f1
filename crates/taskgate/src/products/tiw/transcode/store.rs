//! tiw transcode rows: one per task, to find the newest task of a document URL
//! (DescribeTranscodeByUrl) on an index instead of the tasks' JSON.

use super::TranscodeInput;
use sha2::{Digest, Sha256};
use taskgate_engine::{Engine, EngineError, NewTask, StoreError, TaskId, on_pool, on_tx};

/// DescribeTranscodeByUrl answers tasks created within the last day (tccli `api.json`).
pub const BY_URL_WINDOW_MS: i64 = 24 * 3600 * 1000;

fn url_key(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

fn db_id(sdk_app_id: u64) -> i64 {
    i64::try_from(sdk_app_id).unwrap_or(i64::MAX)
}

/// Inserts the row of `task` (a [`super::Transcode`] of `input`) and submits the task in one
/// transaction.
pub async fn create(engine: &Engine, task: NewTask, input: &TranscodeInput) -> Result<(), EngineError> {
    let (task_id, account) = (task.id.as_str().to_owned(), task.account.clone());
    let now = engine.clock().now_ms();
    let mut tx = engine.store().begin().await?;
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO tiw_transcodes (task_id, account, sdk_app_id, url_sha256, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&task_id)
        .bind(&account)
        .bind(db_id(input.sdk_app_id))
        .bind(url_key(&input.url))
        .bind(now)
        .execute(c)
        .await
        .map_err(StoreError::from)?
        .rows_affected()
    });
    engine.submit_in(&mut tx, task).await?;
    tx.commit().await?;
    Ok(())
}

/// The newest task of `url` in the application created since `since_ms`.
pub async fn newest_by_url(
    engine: &Engine,
    sdk_app_id: u64,
    url: &str,
    since_ms: i64,
) -> Result<Option<TaskId>, StoreError> {
    let row: Option<(String,)> = on_pool!(engine.store().reader(), p => {
        sqlx::query_as(
            "SELECT task_id FROM tiw_transcodes WHERE sdk_app_id = $1 AND url_sha256 = $2 AND created_at_ms >= $3 \
             ORDER BY created_at_ms DESC LIMIT 1",
        )
        .bind(db_id(sdk_app_id))
        .bind(url_key(url))
        .bind(since_ms)
        .fetch_optional(p)
        .await
        .map_err(StoreError::from)?
    });
    Ok(row.map(|(id,)| TaskId::new(id)))
}

/// Deletes the rows of `account`'s tasks, or every row; the number deleted.
pub async fn delete(engine: &Engine, account: Option<&str>) -> Result<u64, StoreError> {
    Ok(on_pool!(engine.store().writer(), p => {
        sqlx::query("DELETE FROM tiw_transcodes WHERE $1 IS NULL OR account = $1")
            .bind(account)
            .execute(p)
            .await
            .map_err(StoreError::from)?
            .rows_affected()
    }))
}
