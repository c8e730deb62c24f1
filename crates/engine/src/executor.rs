//! The executor contract: what a product implements to run one kind of task ([`Executor`]),
//! what it gets for one attempt ([`TaskContext`]) and how it reports the end ([`Outcome`],
//! [`ExecError`], [`Abandonment`]).

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    directive::Forced,
    on_pool,
    outbox::Callback,
    store::{Store, StoreError, Tx},
    task::{Lease, Task, TaskId},
};

/// What a successful execution produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub result: Value,
    /// Recorded in the same transaction that finishes the task, then delivered at least once.
    pub callback: Option<Callback>,
    /// The end time (Unix ms) the executor announced, e.g. in its callback; see
    /// [`Outcome::finished_at_ms`].
    pub finished_at_ms: Option<i64>,
    /// Product rows written with the success; see [`Outcome::with_rows`].
    pub rows: Option<SuccessRows>,
}

impl Outcome {
    pub fn new(result: Value) -> Self {
        Self { result, callback: None, finished_at_ms: None, rows: None }
    }

    /// Has `rows` written in the transaction that records this success, after the fenced update
    /// of the task took effect: readers see the rows exactly when they see the success, and an
    /// outcome of a stale lease writes nothing.
    pub fn with_rows(mut self, rows: Arc<dyn WriteOnSuccess>) -> Self {
        self.rows = Some(SuccessRows(rows));
        self
    }

    pub fn with_callback(mut self, callback: Callback) -> Self {
        self.callback = Some(callback);
        self
    }

    /// Records `ms` (Unix ms, from [`TaskContext::clock`]) as the task's `finished_at_ms`, so
    /// the time a callback announces is the time the task reports. Without it the engine takes
    /// its clock when the execution returned; a time before the task started counts as its start.
    pub fn finished_at_ms(mut self, ms: i64) -> Self {
        self.finished_at_ms = Some(ms);
        self
    }
}

/// Product rows that a task's success carries (its kind's facts that live in the product's
/// tables rather than in the task's output, e.g. an inventory too large to be one value).
///
/// Why a hook on the outcome rather than on the [`Executor`]: the rows exist only in the
/// execution that produced them, so an executor-level hook would get nothing but the output and
/// the rows would have to travel through it (two homes for one fact) or through a side table;
/// and why not written by the executor under its lease before returning: readers would see the
/// rows of a task that is still running, and might then be cancelled or lose its lease.
#[async_trait]
pub trait WriteOnSuccess: Send + Sync + 'static {
    /// Writes the rows in `tx`, the transaction that records `task`'s success. It runs inside a
    /// completion batch and again if the batch is retried (the transaction rolled back), so it
    /// must not fail but for the database: an error holds back every completion of the batch
    /// until the write succeeds.
    async fn write(&self, tx: &mut Tx, task: &TaskId) -> Result<(), StoreError>;
}

/// A [`WriteOnSuccess`] held by an [`Outcome`]; two are equal when they are the same write.
#[derive(Clone)]
pub struct SuccessRows(pub Arc<dyn WriteOnSuccess>);

impl std::fmt::Debug for SuccessRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuccessRows")
    }
}

impl PartialEq for SuccessRows {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later, unless this was the final attempt.
    Retryable,
    /// Fail the task now.
    Permanent,
    /// The executor stopped because its token fired.
    Cancelled,
}

/// Why an execution did not succeed. A callback is enqueued only when this error ends the
/// task (permanent, cancelled, or retryable on the final attempt).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{class:?}: {message}")]
pub struct ExecError {
    pub class: ErrorClass,
    pub message: String,
    /// Boxed to keep the error, and every `Result` carrying it, small.
    pub callback: Option<Box<Callback>>,
    /// The end time (Unix ms) the executor announced; see [`ExecError::finished_at_ms`].
    pub finished_at_ms: Option<i64>,
}

impl ExecError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Retryable, message: message.into(), callback: None, finished_at_ms: None }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Permanent, message: message.into(), callback: None, finished_at_ms: None }
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Cancelled, message: message.into(), callback: None, finished_at_ms: None }
    }

    pub fn with_callback(mut self, callback: Callback) -> Self {
        self.callback = Some(Box::new(callback));
        self
    }

    /// Records `ms` (Unix ms) as the task's `finished_at_ms` when this error ends the task, as
    /// [`Outcome::finished_at_ms`] does; ignored when the task is retried.
    pub fn finished_at_ms(mut self, ms: i64) -> Self {
        self.finished_at_ms = Some(ms);
        self
    }
}

/// Runs tasks of one kind. Register one per kind with [`EngineBuilder::executor`](crate::EngineBuilder::executor).
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError>;

    /// The callback announcing that `task` ends without an execution reporting its end
    /// ([`Abandonment`]); `task.finished_at_ms` is already the end's time. The engine writes the
    /// callback in the transaction that ends the task, so a kind whose executions always call
    /// back loses no callback on these paths either. It may be asked more than once for one
    /// end, so what it does besides answering must be idempotent. An error puts the task back
    /// in the queue to be asked again.
    async fn abandoned(&self, task: &Task, why: Abandonment) -> Result<Option<Callback>, ExecError> {
        let _ = (task, why);
        Ok(None)
    }

    /// Ends a task without running its work, as a test harness's directive forces
    /// ([`crate::directive`]): a failure must read as this kind's real failures do (state,
    /// result, callback), a success only where a work-less result is honest. The default fails
    /// with the forced message and refuses a forced success.
    async fn forced(&self, ctx: TaskContext, forced: &Forced) -> Result<Outcome, ExecError> {
        let _ = ctx;
        Err(match forced {
            Forced::Failure { error_message, .. } => ExecError::permanent(error_message.clone()),
            Forced::AsRun | Forced::Success => ExecError::permanent("this task kind cannot succeed without its work"),
        })
    }
}

/// How a task ends without an execution reporting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandonment {
    /// Cancelled while it waited in the queue, or after the execution it was running in stopped
    /// or died without reporting.
    Cancelled,
    /// Its worker died (the lease expired) on its final attempt: it fails rather than running
    /// again, so a task that crashes its worker cannot crash every node in turn.
    WorkerLost,
}

impl Abandonment {
    pub(crate) fn error(self, callback: Option<Callback>) -> ExecError {
        let error = match self {
            Abandonment::Cancelled => ExecError::cancelled(self.message()),
            Abandonment::WorkerLost => ExecError::permanent(self.message()),
        };
        match callback {
            Some(callback) => error.with_callback(callback),
            None => error,
        }
    }

    /// The task's `error` text for this end.
    pub fn message(self) -> &'static str {
        match self {
            Abandonment::Cancelled => "cancelled",
            Abandonment::WorkerLost => "worker lost (lease expired) on the final attempt",
        }
    }
}

/// Why a running task's cancellation token fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Someone called [`Engine::request_cancel`](crate::Engine::request_cancel): the task ends `Cancelled` unless the
    /// executor still returns success.
    Requested,
    /// This node is shutting down: the task goes back to the queue for another node.
    Shutdown,
    /// The lease was lost (rescued by another node): nothing this execution reports counts.
    LeaseLost,
}

const REASON_NONE: u8 = 0;

impl CancelReason {
    const fn code(self) -> u8 {
        match self {
            CancelReason::Requested => 1,
            CancelReason::Shutdown => 2,
            CancelReason::LeaseLost => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(CancelReason::Requested),
            2 => Some(CancelReason::Shutdown),
            3 => Some(CancelReason::LeaseLost),
            _ => None,
        }
    }
}

/// The first reason to fire wins, so a later shutdown does not turn a user's cancel into a
/// release.
#[derive(Debug, Default)]
pub(crate) struct ReasonCell(AtomicU8);

impl ReasonCell {
    pub(crate) fn fire(&self, reason: CancelReason, token: &CancellationToken) {
        let _ = self.0.compare_exchange(REASON_NONE, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
        token.cancel();
    }

    pub(crate) fn get(&self) -> Option<CancelReason> {
        CancelReason::from_code(self.0.load(Ordering::SeqCst))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("the lease on this task was lost; stop working on it")]
    LeaseLost,
    #[error("the progress could not be encoded as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything an executor gets for one attempt.
pub struct TaskContext {
    task: Task,
    token: CancellationToken,
    reason: Arc<ReasonCell>,
    store: Store,
    clock: Arc<dyn Clock>,
}

impl TaskContext {
    pub(crate) fn new(
        task: Task,
        token: CancellationToken,
        reason: Arc<ReasonCell>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { task, token, reason, store, clock }
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn id(&self) -> &TaskId {
        &self.task.id
    }

    pub fn account(&self) -> &str {
        &self.task.account
    }

    pub fn input(&self) -> &Value {
        &self.task.input
    }

    /// 1 for the first attempt.
    pub fn attempt(&self) -> u32 {
        self.task.attempts
    }

    /// A retryable error now fails the task, so this is the attempt that should send a
    /// failure callback.
    pub fn is_final_attempt(&self) -> bool {
        self.task.attempts >= self.task.max_attempts
    }

    pub fn lease(&self) -> Lease {
        self.task.lease()
    }

    /// The engine's clock: the one source of task times, so what an executor announces agrees
    /// with the task's `created_at_ms` and `finished_at_ms`.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Fires on a cancel request, on shutdown after the grace period, or when the lease is lost.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.reason.get()
    }

    /// Records progress, fenced by the lease: after a rescue this fails and fires the token.
    pub async fn progress(&self, progress: Value) -> Result<(), ProgressError> {
        let text = progress.to_string();
        let lease_no = self.task.lease_no;
        let id = self.task.id.as_str();
        let rows = on_pool!(self.store.writer(), p => sqlx::query(
            "UPDATE tg_tasks SET progress = $1 WHERE id = $2 AND lease_no = $3 AND state = 'running'",
        )
        .bind(text)
        .bind(id)
        .bind(lease_no)
        .execute(p)
        .await
        .map_err(StoreError::from)?
        .rows_affected());
        if rows == 0 {
            self.reason.fire(CancelReason::LeaseLost, &self.token);
            return Err(ProgressError::LeaseLost);
        }
        Ok(())
    }
}
