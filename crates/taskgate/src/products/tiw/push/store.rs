//! tiw push rows: the start of a push, which checks the application's active pushes and
//! inserts the task in one serialised transaction.

use super::{Push, PushInput};
use sqlx::Row;
use taskgate_engine::{Engine, EngineError, NewTask, StoreError, on_tx};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("user {user_id} is already pushing in task {task_id}")]
    UserBusy { user_id: String, task_id: String },
    #[error("the application already runs {active} pushes, its limit")]
    TooMany { active: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<sqlx::Error> for StartError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

fn db_id(sdk_app_id: u64) -> i64 {
    i64::try_from(sdk_app_id).unwrap_or(i64::MAX)
}

/// A push to start: its task id, input and the account that owns it.
pub struct NewPush {
    pub task_id: String,
    pub account: String,
    pub input: PushInput,
}

/// Number of claims a push survives: every resume after a dead node is one, and a push that
/// keeps killing its nodes should still end some day.
const PUSH_MAX_ATTEMPTS: u32 = 1000;

/// Starts `pushes` (a main push and maybe its backup) unless one of their users is already
/// pushing in the application or the application would exceed `limit` active pushes.
pub async fn start_pushes(engine: &Engine, pushes: Vec<NewPush>, limit: u64) -> Result<(), StartError> {
    let Some(first) = pushes.first() else { return Ok(()) };
    let app = db_id(first.input.sdk_app_id);
    let mut tx = engine.store().begin().await?;
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO tiw_apps (sdk_app_id) VALUES ($1) \
             ON CONFLICT (sdk_app_id) DO UPDATE SET push_callback = tiw_apps.push_callback",
        )
        .bind(app)
        .execute(c)
        .await?
        .rows_affected()
    });
    for push in &pushes {
        let busy: Option<String> = on_tx!(tx, c => {
            sqlx::query(
                "SELECT p.task_id FROM tiw_pushes p JOIN tg_tasks t ON t.id = p.task_id \
                 WHERE p.sdk_app_id = $1 AND p.push_user_id = $2 AND t.state IN ('queued', 'running') LIMIT 1",
            )
            .bind(app)
            .bind(push.input.push_user_id.as_str())
            .fetch_optional(c)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?
        });
        if let Some(task_id) = busy {
            tx.rollback().await?;
            return Err(StartError::UserBusy { user_id: push.input.push_user_id.clone(), task_id });
        }
    }
    let active: i64 = on_tx!(tx, c => {
        sqlx::query(
            "SELECT COUNT(*) FROM tiw_pushes p JOIN tg_tasks t ON t.id = p.task_id \
             WHERE p.sdk_app_id = $1 AND t.state IN ('queued', 'running')",
        )
        .bind(app)
        .fetch_one(c)
        .await?
        .try_get(0)?
    });
    let active = active.unsigned_abs();
    if active.saturating_add(u64::try_from(pushes.len()).unwrap_or(u64::MAX)) > limit {
        tx.rollback().await?;
        return Err(StartError::TooMany { active });
    }
    for push in pushes {
        on_tx!(tx, c => {
            sqlx::query(
                "INSERT INTO tiw_pushes (task_id, sdk_app_id, room_id, push_user_id, backup_of) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(push.task_id.as_str())
            .bind(app)
            .bind(i64::try_from(push.input.room_id).unwrap_or(i64::MAX))
            .bind(push.input.push_user_id.as_str())
            .bind(push.input.backup_of.as_deref())
            .execute(c)
            .await?
            .rows_affected()
        });
        let task = NewTask::of::<Push>(push.task_id, push.account, &push.input)
            .map_err(|e| StoreError::Corrupt { what: "push input", detail: e.to_string() })?
            .max_attempts(PUSH_MAX_ATTEMPTS);
        // Wakes the push workers once the transaction commits.
        engine.submit_in(&mut tx, task).await?;
    }
    tx.commit().await?;
    Ok(())
}
