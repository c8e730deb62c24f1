//! The durable task engine: submit, query and cancel tasks; workers that claim them in
//! batches under fenced leases, heartbeat, retry with backoff, rescue the tasks of dead
//! workers, finish in batches together with their callbacks, and shut down gracefully.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row as _;
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Entropy, OsEntropy, SystemClock, duration_ms},
    finished::FinishedTasks,
    on_pool, on_tx,
    outbox::{Callback, INSERT_OUTBOX, OutboxWaker},
    slots::acquire_batch,
    store::{Pool, Store, StoreError, Tx},
    task::{Lease, NewTask, Task, TaskId, TaskKind, TaskState, task_columns, task_from_row},
};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a task with id {0} already exists")]
    DuplicateTask(TaskId),
    #[error("the engine was already started")]
    AlreadyStarted,
    #[error("the task's executor could not announce its end: {0}")]
    Announcement(String),
}

impl From<sqlx::Error> for EngineError {
    fn from(e: sqlx::Error) -> Self {
        EngineError::Store(e.into())
    }
}

/// What a successful execution produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub result: Value,
    /// Recorded in the same transaction that finishes the task, then delivered at least once.
    pub callback: Option<Callback>,
    /// The end time (Unix ms) the executor announced, e.g. in its callback; see
    /// [`Outcome::finished_at_ms`].
    pub finished_at_ms: Option<i64>,
}

impl Outcome {
    pub fn new(result: Value) -> Self {
        Self { result, callback: None, finished_at_ms: None }
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

/// Runs tasks of one kind. Register one per kind with [`EngineBuilder::executor`].
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
    fn error(self, callback: Option<Callback>) -> ExecError {
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
    /// Someone called [`Engine::request_cancel`]: the task ends `Cancelled` unless the
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
struct ReasonCell(AtomicU8);

impl ReasonCell {
    fn fire(&self, reason: CancelReason, token: &CancellationToken) {
        let _ = self.0.compare_exchange(REASON_NONE, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
        token.cancel();
    }

    fn get(&self) -> Option<CancelReason> {
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
    inner: Arc<Inner>,
}

impl TaskContext {
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

    pub fn input_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.task.input)
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
        &self.inner.clock
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
        let rows = on_pool!(self.inner.store.writer(), p => sqlx::query(
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

/// Engine tuning. Durations are real time; timestamps come from the [`Clock`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Names this process's leases; random when `None`. Must differ between live processes.
    pub node_id: Option<String>,
    /// A lease lasts this long past the last heartbeat; heartbeats come every quarter of it,
    /// so a lease goes stale only after at least three missed heartbeats.
    pub lease: Duration,
    /// How often idle workers look for due tasks submitted by other nodes or due retries.
    pub poll_interval: Duration,
    /// How often expired leases are rescued.
    pub reap_interval: Duration,
    pub claim_batch: u32,
    pub complete_batch: usize,
    pub default_max_attempts: u32,
    /// Retry `n` waits about `backoff_base * 2^(n-1)` (half of it jittered), at most `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            reap_interval: Duration::from_secs(5),
            claim_batch: 128,
            complete_batch: 512,
            default_max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Per-kind worker options.
#[derive(Debug, Clone, Copy)]
pub struct KindOptions {
    /// Tasks of this kind running at once on this node.
    pub concurrency: usize,
    /// Tasks of this kind run until stopped (a live stream): shutdown hands them to another
    /// node at once instead of waiting for them through the grace period.
    pub endless: bool,
}

impl KindOptions {
    pub fn concurrency(concurrency: usize) -> Self {
        Self { concurrency: concurrency.max(1), endless: false }
    }

    pub fn endless(mut self) -> Self {
        self.endless = true;
        self
    }
}

/// Filter for [`Engine::list`] and [`Engine::count`]. Newest first.
#[derive(Debug, Clone)]
pub struct TaskFilter {
    pub account: Option<String>,
    pub kind: Option<TaskKind>,
    /// Only `queued` and `running` tasks.
    pub unfinished_only: bool,
    /// Page size (default 100).
    pub limit: u32,
    pub offset: u32,
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self { account: None, kind: None, unfinished_only: false, limit: 100, offset: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued and is now cancelled.
    Cancelled,
    /// It is running; its executor has been (or, on another node, will be at its next
    /// heartbeat) told to stop.
    Requested,
    AlreadyFinished(TaskState),
    NotFound,
}

struct KindRuntime {
    kind: TaskKind,
    executor: Arc<dyn Executor>,
    slots: Arc<Semaphore>,
    wake: Arc<Notify>,
    endless: bool,
}

struct InFlight {
    lease_no: i64,
    token: CancellationToken,
    reason: Arc<ReasonCell>,
    endless: bool,
}

struct Completion {
    lease: Lease,
    kind: TaskKind,
    attempts: u32,
    max_attempts: u32,
    /// An announced end time is never earlier than this.
    started_at_ms: Option<i64>,
    result: Result<Outcome, ExecError>,
    reason: Option<CancelReason>,
    /// Ended by the claim path without running (see [`Abandonment`]), at this time.
    abandoned_at_ms: Option<i64>,
    _slot: Option<OwnedSemaphorePermit>,
}

struct Inner {
    store: Store,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    owner: String,
    kinds: HashMap<TaskKind, KindRuntime>,
    inflight: Mutex<HashMap<TaskId, InFlight>>,
    inflight_changed: Notify,
    completions_tx: mpsc::UnboundedSender<Completion>,
    completions_rx: Mutex<Option<mpsc::UnboundedReceiver<Completion>>>,
    stop_claiming: CancellationToken,
    stop_background: CancellationToken,
    claimers: Mutex<Vec<JoinHandle<()>>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    outbox: Option<OutboxWaker>,
    finished: FinishedTasks,
}

/// How many finished tasks [`Engine::get`] keeps in memory: a task's records are typically a
/// few kilobytes, so this stays within a few megabytes.
const FINISHED_CACHE_CAPACITY: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub struct EngineBuilder {
    store: Store,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    kinds: HashMap<TaskKind, KindRuntime>,
    outbox: Option<OutboxWaker>,
}

impl EngineBuilder {
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    /// Runs tasks of `kind` on this node with `executor`. Kinds without an executor here can
    /// still be submitted (another node may run them).
    pub fn executor(mut self, kind: TaskKind, options: KindOptions, executor: Arc<dyn Executor>) -> Self {
        let runtime = KindRuntime {
            kind: kind.clone(),
            executor,
            slots: Arc::new(Semaphore::new(options.concurrency.max(1))),
            wake: Arc::new(Notify::new()),
            endless: options.endless,
        };
        self.kinds.insert(kind, runtime);
        self
    }

    /// Wakes this outbox's delivery loop as soon as a finished task recorded a callback.
    pub fn outbox(mut self, waker: OutboxWaker) -> Self {
        self.outbox = Some(waker);
        self
    }

    /// Builds the engine without starting workers; [`Engine::start`] starts them.
    pub fn build(self) -> Engine {
        let owner = self.config.node_id.clone().unwrap_or_else(|| format!("node-{}", self.entropy.uuid_v4()));
        let (completions_tx, completions_rx) = mpsc::unbounded_channel();
        Engine {
            inner: Arc::new(Inner {
                store: self.store,
                config: self.config,
                clock: self.clock,
                entropy: self.entropy,
                owner,
                kinds: self.kinds,
                inflight: Mutex::new(HashMap::new()),
                inflight_changed: Notify::new(),
                completions_tx,
                completions_rx: Mutex::new(Some(completions_rx)),
                stop_claiming: CancellationToken::new(),
                stop_background: CancellationToken::new(),
                claimers: Mutex::new(Vec::new()),
                background: Mutex::new(Vec::new()),
                outbox: self.outbox,
                finished: FinishedTasks::new(FINISHED_CACHE_CAPACITY),
            }),
        }
    }
}

const INSERT_TASK: &str = "INSERT INTO tg_tasks (id, account, kind, state, input, callback_url, created_at_ms, \
     max_attempts, next_run_at_ms) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8)";

const CLAIM_SQLITE: &str = concat!(
    "UPDATE tg_tasks SET state = 'running', attempts = attempts + 1, lease_no = lease_no + 1, lease_owner = $1, \
     lease_expires_at_ms = $2, heartbeat_at_ms = $3, started_at_ms = COALESCE(started_at_ms, $3) \
     WHERE id IN (SELECT id FROM tg_tasks WHERE state = 'queued' AND kind = $4 AND next_run_at_ms <= $3 \
     ORDER BY next_run_at_ms LIMIT $5) RETURNING ",
    task_columns!()
);

const CLAIM_POSTGRES: &str = concat!(
    "UPDATE tg_tasks SET state = 'running', attempts = attempts + 1, lease_no = lease_no + 1, lease_owner = $1, \
     lease_expires_at_ms = $2, heartbeat_at_ms = $3, started_at_ms = COALESCE(started_at_ms, $3) \
     WHERE id IN (SELECT id FROM tg_tasks WHERE state = 'queued' AND kind = $4 AND next_run_at_ms <= $3 \
     ORDER BY next_run_at_ms LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING ",
    task_columns!()
);

const FINISH_SUCCEEDED: &str = "UPDATE tg_tasks SET state = 'succeeded', result = $1, error = NULL, finished_at_ms = $2, \
     lease_owner = NULL, lease_expires_at_ms = NULL WHERE id = $3 AND lease_no = $4 AND state = 'running'";

const FINISH_UNSUCCESSFUL: &str = "UPDATE tg_tasks SET state = $1, error = $2, finished_at_ms = $3, \
     lease_owner = NULL, lease_expires_at_ms = NULL WHERE id = $4 AND lease_no = $5 AND state = 'running'";

// Only an execution or the claim path ends a task (see `Abandonment`): the statements that put
// a task back in the queue leave a cancel request in place, and the next claim ends the task.

/// A cancel request that raced with the retry is served at once.
const FINISH_RETRY: &str = "UPDATE tg_tasks SET state = 'queued', error = $1, \
     next_run_at_ms = CASE WHEN cancel_requested THEN $2 ELSE $3 END, lease_owner = NULL, lease_expires_at_ms = NULL \
     WHERE id = $4 AND lease_no = $5 AND state = 'running'";

/// Giving a task back is not the task's fault, so the attempt does not count.
const FINISH_RELEASE: &str = "UPDATE tg_tasks SET state = 'queued', \
     attempts = attempts - 1, next_run_at_ms = $1, lease_owner = NULL, lease_expires_at_ms = NULL \
     WHERE id = $2 AND lease_no = $3 AND state = 'running'";

/// The lease number moves on so a late report from the released executions is fenced out.
const RELEASE_ALL: &str = "UPDATE tg_tasks SET state = 'queued', \
     attempts = attempts - 1, lease_no = lease_no + 1, next_run_at_ms = $1, lease_owner = NULL, \
     lease_expires_at_ms = NULL WHERE lease_owner = $2 AND state = 'running'";

/// A rescued task on its final attempt is claimed once more only to be ended as `WorkerLost`.
const REAP: &str = "UPDATE tg_tasks SET state = 'queued', \
     lease_no = lease_no + 1, next_run_at_ms = $1, lease_owner = NULL, lease_expires_at_ms = NULL \
     WHERE state = 'running' AND lease_expires_at_ms < $1";

const CANCEL_QUEUED: &str = "UPDATE tg_tasks SET state = 'cancelled', cancel_requested = TRUE, finished_at_ms = $1, \
     error = 'cancelled' WHERE id = $2 AND state = 'queued' AND lease_no = $3";

const HEARTBEAT: &str = "UPDATE tg_tasks SET lease_expires_at_ms = $1, heartbeat_at_ms = $2 \
     WHERE lease_owner = $3 AND state = 'running' RETURNING id, lease_no, cancel_requested";

/// What one completion writes.
enum Finish {
    Succeeded { result: String, finished_at_ms: i64 },
    Unsuccessful { state: TaskState, error: String, finished_at_ms: i64 },
    Retry { error: String, at_ms: i64 },
    Release { at_ms: i64 },
}

struct PlannedCallback {
    event_id: String,
    task_id: String,
    url: String,
    body: String,
}

/// Records a `PlannedCallback` in the outbox on a transaction's connection (either backend).
macro_rules! insert_callback {
    ($conn:ident, $cb:expr, $now:expr) => {
        sqlx::query(INSERT_OUTBOX)
            .bind($cb.event_id.as_str())
            .bind($cb.task_id.as_str())
            .bind($cb.url.as_str())
            .bind($cb.body.as_str())
            .bind($now)
            .execute(&mut *$conn)
            .await?
    };
}

impl Engine {
    pub fn builder(store: Store, config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            store,
            config,
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            kinds: HashMap::new(),
            outbox: None,
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn entropy(&self) -> &Arc<dyn Entropy> {
        &self.inner.entropy
    }

    /// The lease owner name of this process.
    pub fn node_id(&self) -> &str {
        &self.inner.owner
    }

    /// Starts the workers, heartbeat, lease reaper and completion writer. Needs a Tokio runtime.
    pub fn start(&self) -> Result<(), EngineError> {
        let rx = lock(&self.inner.completions_rx).take().ok_or(EngineError::AlreadyStarted)?;
        let inner = &self.inner;
        let mut background = lock(&inner.background);
        background.push(tokio::spawn(Inner::completion_loop(inner.clone(), rx)));
        background.push(tokio::spawn(Inner::heartbeat_loop(inner.clone())));
        background.push(tokio::spawn(Inner::reap_loop(inner.clone())));
        let mut claimers = lock(&inner.claimers);
        for kind in inner.kinds.keys() {
            claimers.push(tokio::spawn(Inner::claim_loop(inner.clone(), kind.clone())));
        }
        Ok(())
    }

    /// Stops claiming, hands endless tasks back at once, lets the others finish for up to
    /// `grace`, then fires the tokens of those still running and gives their leases back so
    /// another node takes them at once.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.stop_claiming.cancel();
        let claimers = std::mem::take(&mut *lock(&inner.claimers));
        for h in claimers {
            let _ = h.await;
        }
        for f in lock(&inner.inflight).values().filter(|f| f.endless) {
            f.reason.fire(CancelReason::Shutdown, &f.token);
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let changed = inner.inflight_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if lock(&inner.inflight).is_empty() {
                break;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let leftover: Vec<TaskId> = {
            let inflight = lock(&inner.inflight);
            for f in inflight.values() {
                f.reason.fire(CancelReason::Shutdown, &f.token);
            }
            inflight.keys().cloned().collect()
        };
        if !leftover.is_empty() {
            let now = inner.clock.now_ms();
            let owner = inner.owner.as_str();
            let released = on_pool!(inner.store.writer(), p => sqlx::query(RELEASE_ALL)
                .bind(now)
                .bind(owner)
                .execute(p)
                .await
                .map(|r| r.rows_affected()));
            match released {
                Ok(n) => tracing::info!(released = n, "released leases of unfinished tasks at shutdown"),
                Err(e) => {
                    tracing::warn!(error = %e, "releasing leases at shutdown failed; they expire instead")
                }
            }
        }
        inner.stop_background.cancel();
        let background = std::mem::take(&mut *lock(&inner.background));
        for h in background {
            let _ = h.await;
        }
    }

    /// Submits one task.
    pub async fn submit(&self, task: NewTask) -> Result<TaskId, EngineError> {
        let mut tx = self.inner.store.begin().await?;
        let id = self.submit_in(&mut tx, task).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Submits many tasks in one transaction.
    pub async fn submit_many(&self, tasks: Vec<NewTask>) -> Result<Vec<TaskId>, EngineError> {
        let mut tx = self.inner.store.begin().await?;
        let mut ids = Vec::with_capacity(tasks.len());
        for t in tasks {
            ids.push(self.submit_in(&mut tx, t).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Submits a task inside the caller's transaction, so it exists if and only if the
    /// caller's own rows do. Local workers are woken when `tx` commits.
    pub async fn submit_in(&self, tx: &mut Tx, task: NewTask) -> Result<TaskId, EngineError> {
        let now = self.inner.clock.now_ms();
        let input = task.input.to_string();
        let max_attempts = i64::from(task.max_attempts.unwrap_or(self.inner.config.default_max_attempts).max(1));
        let run_at = task.run_at_ms.unwrap_or(now);
        let res = on_tx!(tx, c => sqlx::query(INSERT_TASK)
            .bind(task.id.as_str())
            .bind(task.account.as_str())
            .bind(task.kind.as_str())
            .bind(input)
            .bind(task.callback_url.as_deref())
            .bind(now)
            .bind(max_attempts)
            .bind(run_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected()));
        match res.map_err(StoreError::from) {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => return Err(EngineError::DuplicateTask(task.id)),
            Err(e) => return Err(e.into()),
        }
        if let Some(k) = self.inner.kinds.get(&task.kind) {
            tx.wake_on_commit(k.wake.clone());
        }
        Ok(task.id)
    }

    /// Wakes local workers of `kind`, for tasks committed by means the engine did not see.
    pub fn wake(&self, kind: &TaskKind) {
        if let Some(k) = self.inner.kinds.get(kind) {
            k.wake.notify_one();
        }
    }

    /// A finished task comes from memory after its first read, shared, hence the `Arc`; an
    /// unfinished one always from the database.
    pub async fn get(&self, id: &TaskId) -> Result<Option<Arc<Task>>, EngineError> {
        if let Some(task) = self.inner.finished.get(id) {
            return Ok(Some(task));
        }
        let sql = concat!("SELECT ", task_columns!(), " FROM tg_tasks WHERE id = $1");
        let task = on_pool!(self.inner.store.reader(), p => {
            match sqlx::query(sql).bind(id.as_str()).fetch_optional(p).await? {
                Some(row) => Some(Arc::new(task_from_row(&row)?)),
                None => None,
            }
        });
        if let Some(task) = &task {
            self.inner.finished.remember(task);
        }
        Ok(task)
    }

    /// A task only if it belongs to `account`, which is how API handlers should look tasks up.
    pub async fn get_for_account(&self, id: &TaskId, account: &str) -> Result<Option<Arc<Task>>, EngineError> {
        Ok(self.get(id).await?.filter(|t| t.account == account))
    }

    pub async fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>, EngineError> {
        let sql = concat!(
            "SELECT ",
            task_columns!(),
            " FROM tg_tasks WHERE ($1 IS NULL OR account = $1) AND ($2 IS NULL OR kind = $2) \
             AND ($3 = FALSE OR state IN ('queued', 'running')) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $4 OFFSET $5"
        );
        let tasks = on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql)
                .bind(filter.account.as_deref())
                .bind(filter.kind.as_ref().map(TaskKind::as_str))
                .bind(filter.unfinished_only)
                .bind(i64::from(filter.limit))
                .bind(i64::from(filter.offset))
                .fetch_all(p)
                .await?
                .iter()
                .map(task_from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(tasks)
    }

    /// How many tasks match `filter` (limit and offset ignored).
    pub async fn count(&self, filter: &TaskFilter) -> Result<u64, EngineError> {
        let sql = "SELECT COUNT(*) AS n FROM tg_tasks WHERE ($1 IS NULL OR account = $1) AND ($2 IS NULL OR kind = $2) \
                   AND ($3 = FALSE OR state IN ('queued', 'running'))";
        let n: i64 = on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql)
                .bind(filter.account.as_deref())
                .bind(filter.kind.as_ref().map(TaskKind::as_str))
                .bind(filter.unfinished_only)
                .fetch_one(p)
                .await?
                .try_get("n")?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Cancels a queued task at once, with the callback its executor announces that end with;
    /// asks a running one to stop (its executor's token fires here, or at the owning node's
    /// next heartbeat).
    pub async fn request_cancel(&self, id: &TaskId) -> Result<CancelOutcome, EngineError> {
        loop {
            let Some(task) = self.get(id).await? else {
                return Ok(CancelOutcome::NotFound);
            };
            match task.state {
                TaskState::Queued => {
                    if self.cancel_queued(&task).await? {
                        return Ok(CancelOutcome::Cancelled);
                    }
                }
                TaskState::Running => {
                    let requested = on_pool!(self.inner.store.writer(), p => sqlx::query(
                        "UPDATE tg_tasks SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'",
                    )
                    .bind(id.as_str())
                    .execute(p)
                    .await?
                    .rows_affected());
                    if requested == 1 {
                        if let Some(f) = lock(&self.inner.inflight).get(id) {
                            f.reason.fire(CancelReason::Requested, &f.token);
                        }
                        return Ok(CancelOutcome::Requested);
                    }
                }
                state => return Ok(CancelOutcome::AlreadyFinished(state)),
            }
            // It moved between the read and the write (claimed, or requeued): look again.
        }
    }

    /// Ends `task` as cancelled if it is still queued as read, with its announcement.
    async fn cancel_queued(&self, task: &Task) -> Result<bool, EngineError> {
        let now = self.inner.clock.now_ms();
        let ending = Task { finished_at_ms: Some(now), ..task.clone() };
        let announcement = match self.inner.kinds.get(&task.kind) {
            Some(rt) => rt
                .executor
                .abandoned(&ending, Abandonment::Cancelled)
                .await
                .map_err(|e| EngineError::Announcement(e.message))?,
            None => None,
        };
        let callback = announcement.as_ref().map(|cb| self.inner.planned(&task.id, cb));
        let mut tx = self.inner.store.begin().await?;
        let cancelled = on_tx!(tx, c => {
            let rows = sqlx::query(CANCEL_QUEUED)
                .bind(now)
                .bind(task.id.as_str())
                .bind(task.lease_no)
                .execute(&mut *c)
                .await?
                .rows_affected();
            if rows == 1
                && let Some(cb) = &callback
            {
                insert_callback!(c, cb, now);
            }
            rows == 1
        });
        tx.commit().await?;
        if cancelled
            && callback.is_some()
            && let Some(w) = &self.inner.outbox
        {
            w.wake();
        }
        Ok(cancelled)
    }

    /// Claims up to `max` due tasks of `kind` under this node's name without running them:
    /// the low-level half of the worker loop, for external workers and tests. A claimed task
    /// with `cancel_requested`, or past its `max_attempts`, is to be ended, not run
    /// ([`Abandonment`]).
    pub async fn claim(&self, kind: &TaskKind, max: u32) -> Result<Vec<Task>, EngineError> {
        Ok(self.inner.claim(kind, max).await?)
    }

    /// Finishes a claimed task as an execution result would. Returns whether the lease was
    /// still current; a stale lease changes nothing.
    pub async fn finish(&self, task: &Task, result: Result<Outcome, ExecError>) -> Result<bool, EngineError> {
        let completion = Completion {
            lease: task.lease(),
            kind: task.kind.clone(),
            attempts: task.attempts,
            max_attempts: task.max_attempts,
            started_at_ms: task.started_at_ms,
            result,
            reason: None,
            abandoned_at_ms: None,
            _slot: None,
        };
        let applied = self.inner.write_completions(std::slice::from_ref(&completion)).await?;
        Ok(applied[0])
    }

    /// Requeues tasks whose lease expired (the next claim ends those on their final attempt or
    /// with a cancel request). Runs periodically once started; returns how many were rescued.
    pub async fn reap_expired(&self) -> Result<u64, EngineError> {
        Ok(self.inner.reap().await?)
    }

    /// Tasks this node is executing right now.
    pub fn running_here(&self) -> usize {
        lock(&self.inner.inflight).len()
    }
}

impl Inner {
    async fn claim(&self, kind: &TaskKind, max: u32) -> Result<Vec<Task>, StoreError> {
        let now = self.clock.now_ms();
        let expires = now.saturating_add(duration_ms(self.config.lease));
        macro_rules! run_claim {
            ($sql:expr, $p:expr) => {
                sqlx::query($sql)
                    .bind(self.owner.as_str())
                    .bind(expires)
                    .bind(now)
                    .bind(kind.as_str())
                    .bind(i64::from(max))
                    .fetch_all($p)
                    .await?
                    .iter()
                    .map(task_from_row)
                    .collect()
            };
        }
        match self.store.writer() {
            Pool::Sqlite(p) => run_claim!(CLAIM_SQLITE, p),
            Pool::Postgres(p) => run_claim!(CLAIM_POSTGRES, p),
        }
    }

    async fn claim_loop(self: Arc<Self>, kind: TaskKind) {
        let rt = &self.kinds[&kind];
        let stop = &self.stop_claiming;
        loop {
            let Some(mut slots) = acquire_batch(&rt.slots, self.config.claim_batch as usize, stop).await else {
                return;
            };
            let wanted = slots.len();
            let claimed = match self.claim(&rt.kind, u32::try_from(wanted).unwrap_or(u32::MAX)).await {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::warn!(kind = %rt.kind, error = %e, "claiming tasks failed");
                    Vec::new()
                }
            };
            let got = claimed.len();
            for (task, slot) in claimed.into_iter().zip(slots.drain(..)) {
                if task.cancel_requested {
                    self.spawn_abandonment(rt, task, Abandonment::Cancelled, slot);
                } else if task.attempts > task.max_attempts {
                    self.spawn_abandonment(rt, task, Abandonment::WorkerLost, slot);
                } else {
                    self.spawn_execution(rt, task, slot);
                }
            }
            drop(slots);
            if got < wanted {
                // The queue is drained (or the database unhappy): wait for a submit on this
                // node, or poll for other nodes' submits and due retries.
                tokio::select! {
                    () = rt.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    fn spawn_execution(self: &Arc<Self>, rt: &KindRuntime, task: Task, slot: OwnedSemaphorePermit) {
        let token = CancellationToken::new();
        let reason = Arc::new(ReasonCell::default());
        lock(&self.inflight).insert(
            task.id.clone(),
            InFlight { lease_no: task.lease_no, token: token.clone(), reason: reason.clone(), endless: rt.endless },
        );
        let lease = task.lease();
        let (attempts, max_attempts, started_at_ms) = (task.attempts, task.max_attempts, task.started_at_ms);
        let kind = rt.kind.clone();
        let executor = rt.executor.clone();
        let ctx = TaskContext { task, token, reason: reason.clone(), inner: self.clone() };
        let tx = self.completions_tx.clone();
        tokio::spawn(async move {
            let result = AssertUnwindSafe(executor.execute(ctx)).catch_unwind().await.unwrap_or_else(|_| {
                tracing::error!(task = %lease.task_id, kind = %kind, "executor panicked");
                Err(ExecError::retryable("executor panicked"))
            });
            let _ = tx.send(Completion {
                lease,
                kind,
                attempts,
                max_attempts,
                started_at_ms,
                result,
                reason: reason.get(),
                abandoned_at_ms: None,
                _slot: Some(slot),
            });
        });
    }

    /// Ends a claimed task without running it, with the callback its executor announces.
    fn spawn_abandonment(
        self: &Arc<Self>,
        rt: &KindRuntime,
        mut task: Task,
        why: Abandonment,
        slot: OwnedSemaphorePermit,
    ) {
        let ended_at = self.clock.now_ms();
        task.finished_at_ms = Some(ended_at);
        let kind = rt.kind.clone();
        let executor = rt.executor.clone();
        let tx = self.completions_tx.clone();
        tokio::spawn(async move {
            let announced = AssertUnwindSafe(executor.abandoned(&task, why))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(ExecError::retryable("the executor panicked announcing the end")));
            let result = match announced {
                Ok(callback) => Err(why.error(callback)),
                Err(e) => {
                    tracing::warn!(task = %task.id, kind = %kind, error = %e.message, "announcing the end failed; asking again later");
                    Err(ExecError::retryable(e.message))
                }
            };
            let _ = tx.send(Completion {
                lease: task.lease(),
                kind,
                attempts: task.attempts,
                max_attempts: task.max_attempts,
                started_at_ms: task.started_at_ms,
                result,
                reason: None,
                abandoned_at_ms: Some(ended_at),
                _slot: Some(slot),
            });
        });
    }

    fn backoff_ms(&self, attempts: u32) -> i64 {
        let base = duration_ms(self.config.backoff_base).max(1);
        let cap = duration_ms(self.config.backoff_max).max(base);
        let exp = base.saturating_mul(1i64 << attempts.saturating_sub(1).min(30)).min(cap);
        let half = exp / 2;
        let jitter = i64::try_from(self.entropy.next_u64() % u64::try_from(half + 1).unwrap_or(1)).unwrap_or(0);
        exp - half + jitter
    }

    fn planned(&self, task_id: &TaskId, cb: &Callback) -> PlannedCallback {
        PlannedCallback {
            event_id: cb.event_id.clone().unwrap_or_else(|| self.entropy.uuid_v4().to_string()),
            task_id: task_id.to_string(),
            url: cb.url.clone(),
            body: cb.body.to_string(),
        }
    }

    fn plan(&self, c: &Completion, now: i64) -> (Finish, Option<PlannedCallback>) {
        let callback = |cb: Option<&Callback>| cb.map(|cb| self.planned(&c.lease.task_id, cb));
        let ended_at = |announced: Option<i64>| match announced {
            Some(at) => at.max(c.started_at_ms.unwrap_or(at)),
            None => c.abandoned_at_ms.unwrap_or(now),
        };
        let unsuccessful = |state, e: &ExecError| Finish::Unsuccessful {
            state,
            error: e.message.clone(),
            finished_at_ms: ended_at(e.finished_at_ms),
        };
        match (&c.result, c.reason) {
            // The executor could not say how to announce the end: ask again later.
            (Err(e), _) if c.abandoned_at_ms.is_some() && e.class == ErrorClass::Retryable => {
                (Finish::Release { at_ms: now + self.backoff_ms(1) }, None)
            }
            (Ok(o), _) => (
                Finish::Succeeded { result: o.result.to_string(), finished_at_ms: ended_at(o.finished_at_ms) },
                callback(o.callback.as_ref()),
            ),
            (Err(_), Some(CancelReason::Shutdown)) => (Finish::Release { at_ms: now }, None),
            (Err(e), Some(CancelReason::Requested)) => {
                (unsuccessful(TaskState::Cancelled, e), callback(e.callback.as_deref()))
            }
            (Err(e), _) => match e.class {
                ErrorClass::Retryable if c.attempts < c.max_attempts => {
                    (Finish::Retry { error: e.message.clone(), at_ms: now + self.backoff_ms(c.attempts) }, None)
                }
                ErrorClass::Cancelled => (unsuccessful(TaskState::Cancelled, e), callback(e.callback.as_deref())),
                ErrorClass::Retryable | ErrorClass::Permanent => {
                    (unsuccessful(TaskState::Failed, e), callback(e.callback.as_deref()))
                }
            },
        }
    }

    /// Writes a batch of completions in one transaction, each fenced by its lease number and
    /// with its callback, and reports which took effect.
    async fn write_completions(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
        let now = self.clock.now_ms();
        let mut applied = Vec::with_capacity(batch.len());
        let mut callbacks = 0usize;
        let mut tx = self.store.begin().await?;
        for c in batch {
            if c.reason == Some(CancelReason::LeaseLost) {
                applied.push(false);
                continue;
            }
            let (finish, callback) = self.plan(c, now);
            let id = c.lease.task_id.as_str();
            let lease_no = c.lease.lease_no;
            let rows = on_tx!(tx, conn => {
                let q = match finish {
                    Finish::Succeeded { result, finished_at_ms } => {
                        sqlx::query(FINISH_SUCCEEDED).bind(result).bind(finished_at_ms)
                    }
                    Finish::Unsuccessful { state, error, finished_at_ms } => {
                        sqlx::query(FINISH_UNSUCCESSFUL).bind(state.as_str()).bind(error).bind(finished_at_ms)
                    }
                    Finish::Retry { error, at_ms } => sqlx::query(FINISH_RETRY).bind(error).bind(now).bind(at_ms),
                    Finish::Release { at_ms } => sqlx::query(FINISH_RELEASE).bind(at_ms),
                };
                let rows = q.bind(id).bind(lease_no).execute(&mut *conn).await?.rows_affected();
                if rows == 1
                    && let Some(cb) = &callback
                {
                    insert_callback!(conn, cb, now);
                    callbacks += 1;
                }
                rows
            });
            if rows == 0 {
                tracing::info!(task = %c.lease.task_id, lease_no, kind = %c.kind, "stale lease: completion ignored");
            }
            applied.push(rows == 1);
        }
        tx.commit().await?;
        if callbacks > 0
            && let Some(w) = &self.outbox
        {
            w.wake();
        }
        Ok(applied)
    }

    async fn completion_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Completion>) {
        let stop = self.stop_background.clone();
        loop {
            let first = tokio::select! {
                c = rx.recv() => c,
                () = stop.cancelled() => rx.try_recv().ok(),
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while batch.len() < self.config.complete_batch {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut delay = Duration::from_millis(50);
            loop {
                match self.write_completions(&batch).await {
                    Ok(_) => break,
                    // Until written, the tasks stay leased and heartbeated; if this node dies
                    // meanwhile, their leases expire and they run again elsewhere.
                    Err(e) => {
                        tracing::warn!(error = %e, tasks = batch.len(), "writing completions failed; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = stop.cancelled() => return,
                        }
                        delay = (delay * 2).min(self.config.lease / 4);
                    }
                }
            }
            {
                let mut inflight = lock(&self.inflight);
                for c in &batch {
                    if inflight.get(&c.lease.task_id).is_some_and(|f| f.lease_no == c.lease.lease_no) {
                        inflight.remove(&c.lease.task_id);
                    }
                }
            }
            // Dropping the batch frees the concurrency slots only now that the outcome is
            // stored, so a node never holds more leases than its concurrency.
            drop(batch);
            self.inflight_changed.notify_waiters();
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let period = (self.config.lease / 4).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.stop_background.cancelled() => return,
            }
            if let Err(e) = self.heartbeat().await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
        }
    }

    async fn heartbeat(&self) -> Result<(), StoreError> {
        let before: Vec<(TaskId, i64)> = lock(&self.inflight).iter().map(|(id, f)| (id.clone(), f.lease_no)).collect();
        let now = self.clock.now_ms();
        let expires = now.saturating_add(duration_ms(self.config.lease));
        let held: Vec<(String, i64, bool)> = on_pool!(self.store.writer(), p => {
            let rows = sqlx::query(HEARTBEAT).bind(expires).bind(now).bind(self.owner.as_str()).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("lease_no")?, r.try_get("cancel_requested")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let current: HashMap<&str, (i64, bool)> = held.iter().map(|(id, n, c)| (id.as_str(), (*n, *c))).collect();
        let inflight = lock(&self.inflight);
        for (id, lease_no) in before {
            let Some(f) = inflight.get(&id).filter(|f| f.lease_no == lease_no) else {
                continue;
            };
            match current.get(id.as_str()) {
                Some(&(n, cancel)) if n == lease_no => {
                    if cancel {
                        f.reason.fire(CancelReason::Requested, &f.token);
                    }
                }
                _ => {
                    tracing::warn!(task = %id, lease_no, "lease lost; stopping its execution");
                    f.reason.fire(CancelReason::LeaseLost, &f.token);
                }
            }
        }
        Ok(())
    }

    async fn reap_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.reap_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.stop_background.cancelled() => return,
            }
            match self.reap().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(rescued = n, "rescued tasks whose lease expired");
                    for k in self.kinds.values() {
                        k.wake.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rescuing expired leases failed"),
            }
        }
    }

    async fn reap(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        Ok(on_pool!(self.store.writer(), p => sqlx::query(REAP).bind(now).execute(p).await?.rows_affected()))
    }
}
