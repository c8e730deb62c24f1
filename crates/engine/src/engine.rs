//! The durable task engine's client side: its configuration and builder, submitting, reading
//! and cancelling tasks, starting the workers (`worker.rs`) and shutting them down
//! gracefully.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, atomic::AtomicBool},
    time::Duration,
};

use sqlx::Row as _;
use tokio::{
    sync::{Notify, Semaphore, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Entropy, OsEntropy, SystemClock},
    directive::{self, Forced},
    executor::{Abandonment, CancelReason, ExecError, Executor, Outcome, ReasonCell},
    finished::FinishedTasks,
    on_pool, on_tx,
    outbox::{OutboxWaker, insert_callback},
    signals::{Signal, Subscription},
    store::{Batched, Store, StoreError, Tx, TxConn, json_rows},
    task::{NewTask, Task, TaskId, TaskKind, TaskState, task_columns, task_from_row},
    worker::Completion,
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
    /// Most tasks of this kind one account may have running at once, on all nodes together;
    /// `None` (the default) caps only by `concurrency`. Claims serve accounts in turn either way.
    pub max_running_per_account: Option<u32>,
}

impl KindOptions {
    pub fn concurrency(concurrency: usize) -> Self {
        Self { concurrency: concurrency.max(1), endless: false, max_running_per_account: None }
    }

    /// Caps one account's running tasks of this kind at `max` (at least 1).
    pub fn max_running_per_account(mut self, max: u32) -> Self {
        self.max_running_per_account = Some(max.max(1));
        self
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
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Page size (default 100).
    pub limit: u32,
    pub offset: u32,
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self { account: None, kind: None, unfinished_only: false, state: None, limit: 100, offset: 0 }
    }
}

/// The queued tasks of one kind and account ([`Engine::queue_stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    pub kind: TaskKind,
    pub account: String,
    pub depth: u64,
    /// When the oldest of them was submitted, in Unix milliseconds.
    pub oldest_created_at_ms: i64,
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

/// One kind's executor and worker state on this node.
pub(crate) struct KindRuntime {
    pub(crate) kind: TaskKind,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) endless: bool,
    pub(crate) max_running_per_account: Option<u32>,
}

/// An execution running on this node.
pub(crate) struct InFlight {
    pub(crate) lease_no: i64,
    pub(crate) token: CancellationToken,
    pub(crate) reason: Arc<ReasonCell>,
    pub(crate) endless: bool,
    /// Set when the execution has handed its completion over: from then on the task may stop
    /// running in the store (its completion committed) before it leaves this map, and a
    /// heartbeat that no longer finds it has lost nothing.
    pub(crate) completing: Arc<AtomicBool>,
}

/// The state shared by the handle and the worker tasks.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) owner: String,
    pub(crate) kinds: HashMap<TaskKind, KindRuntime>,
    pub(crate) inflight: Mutex<HashMap<TaskId, InFlight>>,
    pub(crate) inflight_changed: Notify,
    pub(crate) completions_tx: mpsc::UnboundedSender<Completion>,
    pub(crate) completions_rx: Mutex<Option<mpsc::UnboundedReceiver<Completion>>>,
    pub(crate) stop_claiming: CancellationToken,
    pub(crate) stop_background: CancellationToken,
    pub(crate) claimers: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) background: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) outbox: Option<OutboxWaker>,
    pub(crate) finished: FinishedTasks,
}

/// The signal channel on which a commit that made tasks due now names their kind (see
/// [`crate::signals`]). One channel for every kind, with the kind as the payload, rather than
/// a channel per kind: a node then needs one `LISTEN` whatever kinds exist, kinds need no
/// mangling into identifiers of at most 63 bytes, and a kind name is far below the 8,000-byte
/// payload limit.
pub(crate) const TASKS_CHANNEL: &str = "tg_tasks";

/// How many finished tasks [`Engine::get`] keeps in memory: a task's records are typically a
/// few kilobytes, so this stays within a few megabytes.
const FINISHED_CACHE_CAPACITY: usize = 4096;

impl Inner {
    /// Wakes this node's claim loops of the kinds other nodes made due (on PostgreSQL), and
    /// every claim loop when notifications may have been missed.
    pub(crate) async fn signal_loop(self: Arc<Self>, mut signals: Subscription) {
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                () = self.stop_claiming.cancelled() => return,
            };
            match signal {
                Some(Signal::Notified(kind)) => {
                    if let Some(runtime) = self.kinds.get(&TaskKind::new(kind.as_ref())) {
                        runtime.wake.notify_one();
                    }
                }
                Some(Signal::Missed) => {
                    for runtime in self.kinds.values() {
                        runtime.wake.notify_one();
                    }
                }
                None => return,
            }
        }
    }

    /// Tells every node that tasks of `kinds` are due now (rows already committed). A lost
    /// notification costs at most a poll interval, so a failure is only logged.
    pub(crate) async fn announce_due<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) {
        let mut payloads: Vec<String> = kinds.into_iter().map(str::to_owned).collect();
        payloads.sort_unstable();
        payloads.dedup();
        for kind in &payloads {
            if let Some(runtime) = self.kinds.get(&TaskKind::new(kind.as_str())) {
                runtime.wake.notify_one();
            }
        }
        if let Err(e) = self.store.notify_now(TASKS_CHANNEL, payloads).await {
            tracing::warn!(error = %e, "signalling due tasks failed; other nodes find them at their next poll");
        }
    }

    /// Waits until `done` holds of the executions running on this node, or `grace` passed.
    pub(crate) async fn wait_inflight(&self, grace: Duration, done: impl Fn(&HashMap<TaskId, InFlight>) -> bool) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let changed = self.inflight_changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change between the check and the wait is seen.
            changed.as_mut().enable();
            if done(&lock(&self.inflight)) {
                return;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
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
            max_running_per_account: options.max_running_per_account,
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

/// A submit's insert (see [`Batched`]): `$1` the creation time, then each task's id, account,
/// kind, input, most attempts, first run time and directive. One statement for the batch, not
/// one per task, which on PostgreSQL is a round trip per task saved. A duplicate id, already
/// stored or repeated in the batch, is skipped rather than raised, so the statement tells which
/// tasks it inserted and the caller names the first that was not (`first_not_inserted`): a
/// unique violation would name none in a form meant for code. (`WHERE TRUE` tells SQLite's
/// parser that `ON CONFLICT` is the insert's, not a join's.)
macro_rules! insert_tasks {
    ($source:literal) => {
        concat!(
            "INSERT INTO tg_tasks (id, account, kind, state, input, created_at_ms, max_attempts, next_run_at_ms, \
             directive) SELECT v.id, v.account, v.kind, 'queued', v.input, $1, v.max_attempts, v.next_run_at_ms, \
             v.directive FROM ",
            $source,
            " WHERE TRUE ON CONFLICT (id) DO NOTHING RETURNING id"
        )
    };
}

const INSERT_TASKS: Batched = Batched {
    sqlite: insert_tasks!(
        "(SELECT j.value ->> 0 AS id, j.value ->> 1 AS account, j.value ->> 2 AS kind, j.value ->> 3 AS input, \
         j.value ->> 4 AS max_attempts, j.value ->> 5 AS next_run_at_ms, j.value ->> 6 AS directive \
         FROM json_each($2) AS j) AS v"
    ),
    postgres: insert_tasks!(
        "unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[]) \
         AS v(id, account, kind, input, max_attempts, next_run_at_ms, directive)"
    ),
};

/// The lease number moves on so a late report from the released executions is fenced out.
const RELEASE_ALL: &str = "UPDATE tg_tasks SET state = 'queued', \
     attempts = attempts - 1, lease_no = lease_no + 1, next_run_at_ms = $1, lease_owner = NULL, \
     lease_expires_at_ms = NULL WHERE lease_owner = $2 AND state = 'running' RETURNING kind";

const CANCEL_QUEUED: &str = "UPDATE tg_tasks SET state = 'cancelled', cancel_requested = TRUE, finished_at_ms = $1, \
     error = 'cancelled' WHERE id = $2 AND state = 'queued' AND lease_no = $3";

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

    /// The clock every task time comes from (the one executors get as [`TaskContext::clock`]).
    ///
    /// [`TaskContext::clock`]: crate::TaskContext::clock
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Starts the workers, heartbeat, lease reaper and completion writer, and (PostgreSQL) the
    /// store's signal listener, so other nodes' submits wake this node's workers at once; parts
    /// of the node that listen to signals too subscribe before. Needs a Tokio runtime.
    pub fn start(&self) -> Result<(), EngineError> {
        let rx = lock(&self.inner.completions_rx).take().ok_or(EngineError::AlreadyStarted)?;
        let inner = &self.inner;
        let mut background = lock(&inner.background);
        if inner.store.backend() == crate::Backend::Postgres {
            let signals = inner.store.signals().subscribe(TASKS_CHANNEL);
            background.push(tokio::spawn(Inner::signal_loop(inner.clone(), signals)));
            inner.store.start_signals();
        }
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
        for claimer in claimers {
            let _ = claimer.await;
        }
        for flight in lock(&inner.inflight).values().filter(|flight| flight.endless) {
            flight.reason.fire(CancelReason::Shutdown, &flight.token);
        }
        inner.wait_inflight(grace, |inflight| inflight.is_empty()).await;
        let leftover: Vec<TaskId> = {
            let inflight = lock(&inner.inflight);
            for flight in inflight.values() {
                flight.reason.fire(CancelReason::Shutdown, &flight.token);
            }
            inflight.keys().cloned().collect()
        };
        if !leftover.is_empty() {
            let now = inner.clock.now_ms();
            let owner = inner.owner.as_str();
            let released: Result<Vec<String>, sqlx::Error> = on_pool!(inner.store.writer(), pool => sqlx::query_scalar(RELEASE_ALL)
                .bind(now)
                .bind(owner)
                .fetch_all(pool)
                .await);
            match released {
                Ok(kinds) => {
                    tracing::info!(released = kinds.len(), "released leases of unfinished tasks at shutdown");
                    inner.announce_due(kinds.iter().map(String::as_str)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "releasing leases at shutdown failed; they expire instead")
                }
            }
        }
        inner.stop_background.cancel();
        let background = std::mem::take(&mut *lock(&inner.background));
        for task in background {
            let _ = task.await;
        }
    }

    /// Submits one task.
    pub async fn submit(&self, task: NewTask) -> Result<TaskId, EngineError> {
        let mut tx = self.inner.store.begin().await?;
        let id = self.submit_in(&mut tx, task).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Submits many tasks in one transaction: all of them, or (an error, such as
    /// [`EngineError::DuplicateTask`] for the first task whose id is taken) none.
    pub async fn submit_many(&self, tasks: Vec<NewTask>) -> Result<Vec<TaskId>, EngineError> {
        let mut tx = self.inner.store.begin().await?;
        let ids = self.insert_tasks(&mut tx, tasks).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Submits a task inside the caller's transaction, so it exists if and only if the
    /// caller's own rows do. Local workers are woken when `tx` commits.
    pub async fn submit_in(&self, tx: &mut Tx, task: NewTask) -> Result<TaskId, EngineError> {
        let mut ids = self.insert_tasks(tx, vec![task]).await?;
        Ok(ids.remove(0))
    }

    /// Inserts `tasks` in `tx` (see `INSERT_TASKS`), and has the commit wake the local
    /// workers and signal the other nodes once per kind made due.
    async fn insert_tasks(&self, tx: &mut Tx, tasks: Vec<NewTask>) -> Result<Vec<TaskId>, EngineError> {
        let now = self.inner.clock.now_ms();
        let default_attempts = self.inner.config.default_max_attempts;
        let n = tasks.len();
        let (mut inputs, mut max_attempts, mut run_at, mut directives) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for task in &tasks {
            inputs.push(task.input.to_string());
            max_attempts.push(i64::from(task.max_attempts.unwrap_or(default_attempts).max(1)));
            run_at.push(task.run_at_ms.unwrap_or(now));
            directives.push(directive::next().map(|d| d.to_stored()).transpose()?);
        }
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        let inserted: Vec<String> = match tx.conn() {
            TxConn::Sqlite(c) => {
                let rows: Vec<_> = tasks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let directive = directives[i].as_deref();
                        (
                            ids[i],
                            t.account.as_str(),
                            t.kind.as_str(),
                            inputs[i].as_str(),
                            max_attempts[i],
                            run_at[i],
                            directive,
                        )
                    })
                    .collect();
                sqlx::query_scalar(INSERT_TASKS.sqlite).bind(now).bind(json_rows(&rows)?).fetch_all(&mut **c).await?
            }
            TxConn::Postgres(c) => {
                sqlx::query_scalar(INSERT_TASKS.postgres)
                    .bind(now)
                    .bind(&ids)
                    .bind(tasks.iter().map(|t| t.account.as_str()).collect::<Vec<_>>())
                    .bind(tasks.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
                    .bind(&inputs)
                    .bind(&max_attempts)
                    .bind(&run_at)
                    .bind(&directives)
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        let duplicate = first_not_inserted(&ids, &inserted);
        if let Some(i) = duplicate {
            // Tasks of the batch may be inserted already: `submit_many` drops its transaction
            // (a rollback), so none of them stays.
            return Err(EngineError::DuplicateTask(tasks[i].id.clone()));
        }
        // Once per kind, not per task: a batch is usually of one kind.
        let mut kinds: Vec<(&TaskKind, bool)> = Vec::new();
        for (task, &run_at) in tasks.iter().zip(&run_at) {
            match kinds.iter_mut().find(|(kind, _)| *kind == &task.kind) {
                Some((_, due)) => *due |= run_at <= now,
                None => kinds.push((&task.kind, run_at <= now)),
            }
        }
        for (kind, due) in kinds {
            if let Some(k) = self.inner.kinds.get(kind) {
                tx.wake_on_commit(k.wake.clone());
            }
            if due {
                tx.notify_on_commit(TASKS_CHANNEL, kind.as_str().to_owned());
            }
        }
        Ok(tasks.into_iter().map(|task| task.id).collect())
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
             AND ($3 = FALSE OR state IN ('queued', 'running')) AND ($6 IS NULL OR state = $6) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $4 OFFSET $5"
        );
        let tasks = on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql)
                .bind(filter.account.as_deref())
                .bind(filter.kind.as_ref().map(TaskKind::as_str))
                .bind(filter.unfinished_only)
                .bind(i64::from(filter.limit))
                .bind(i64::from(filter.offset))
                .bind(filter.state.map(TaskState::as_str))
                .fetch_all(p)
                .await?
                .iter()
                .map(task_from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(tasks)
    }

    /// The queued tasks of each (kind, account): how many, and since when the oldest waits
    /// (its `created_at_ms`). For the operator's view of a noisy tenant.
    pub async fn queue_stats(&self) -> Result<Vec<QueueStat>, EngineError> {
        let sql = "SELECT kind, account, COUNT(*) AS depth, MIN(created_at_ms) AS oldest FROM tg_tasks \
                   WHERE state = 'queued' GROUP BY kind, account";
        let stats = on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql)
                .fetch_all(p)
                .await?
                .iter()
                .map(|row| -> Result<QueueStat, sqlx::Error> {
                    let depth: i64 = row.try_get("depth")?;
                    Ok(QueueStat {
                        kind: TaskKind::new(row.try_get::<String, _>("kind")?),
                        account: row.try_get("account")?,
                        depth: u64::try_from(depth).unwrap_or(0),
                        oldest_created_at_ms: row.try_get("oldest")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(stats)
    }

    /// How many tasks match `filter` (limit and offset ignored).
    pub async fn count(&self, filter: &TaskFilter) -> Result<u64, EngineError> {
        let sql = "SELECT COUNT(*) AS n FROM tg_tasks WHERE ($1 IS NULL OR account = $1) AND ($2 IS NULL OR kind = $2) \
                   AND ($3 = FALSE OR state IN ('queued', 'running')) AND ($4 IS NULL OR state = $4)";
        let n: i64 = on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql)
                .bind(filter.account.as_deref())
                .bind(filter.kind.as_ref().map(TaskKind::as_str))
                .bind(filter.unfinished_only)
                .bind(filter.state.map(TaskState::as_str))
                .fetch_one(p)
                .await?
                .try_get("n")?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Tells a task held by a `manual` directive how to end (`outcome`), on whichever node
    /// holds it. Returns false when the task is finished, unknown, or not held for an outcome.
    pub async fn finish_manual(&self, id: &TaskId, outcome: Forced) -> Result<bool, EngineError> {
        let Some(task) = self.get(id).await? else { return Ok(false) };
        let Some(mut held) = task.directive.clone().filter(|d| d.manual && !task.state.is_finished()) else {
            return Ok(false);
        };
        held.manual = false;
        held.outcome = outcome;
        let text = held.to_stored()?;
        let updated = on_pool!(self.inner.store.writer(), p => sqlx::query(
            "UPDATE tg_tasks SET directive = $1 WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(text)
        .bind(id.as_str())
        .execute(p)
        .await?
        .rows_affected());
        Ok(updated == 1)
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
            Some(runtime) => runtime
                .executor
                .abandoned(&ending, Abandonment::Cancelled)
                .await
                .map_err(|e| EngineError::Announcement(e.message))?,
            None => None,
        };
        let callback = announcement.as_ref().map(|callback| self.inner.outbox_row(&task.id, callback));
        let mut tx = self.inner.store.begin().await?;
        let cancelled = on_tx!(tx, conn => {
            let rows = sqlx::query(CANCEL_QUEUED)
                .bind(now)
                .bind(task.id.as_str())
                .bind(task.lease_no)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if rows == 1
                && let Some(row) = &callback
            {
                insert_callback!(conn, row, now);
            }
            rows == 1
        });
        tx.commit().await?;
        if cancelled
            && callback.is_some()
            && let Some(outbox) = &self.inner.outbox
        {
            outbox.wake();
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
        Ok(self.finish_many(vec![(task, result)]).await?[0])
    }

    /// Finishes claimed tasks in one transaction, as the workers' completion batches do, and
    /// returns, for each, whether its lease was still current (see [`Engine::finish`]).
    pub async fn finish_many(&self, ends: Vec<(&Task, Result<Outcome, ExecError>)>) -> Result<Vec<bool>, EngineError> {
        let completions: Vec<Completion> = ends
            .into_iter()
            .map(|(task, result)| Completion {
                lease: task.lease(),
                kind: task.kind.clone(),
                attempts: task.attempts,
                max_attempts: task.max_attempts,
                started_at_ms: task.started_at_ms,
                result,
                reason: None,
                abandoned_at_ms: None,
                _slot: None,
            })
            .collect();
        Ok(self.inner.write_completions(&completions).await?)
    }

    /// Requeues tasks whose lease expired (the next claim ends those on their final attempt or
    /// with a cancel request). Runs periodically once started; returns how many were rescued.
    pub async fn reap_expired(&self) -> Result<u64, EngineError> {
        Ok(self.inner.reap().await?)
    }
}

/// The position of the first of `ids` that a submit did not insert (`inserted`, in any order):
/// one repeating an earlier id of the batch, or one already stored. What the first failing
/// insert of one statement a task would have named.
fn first_not_inserted(ids: &[&str], inserted: &[String]) -> Option<usize> {
    if inserted.len() == ids.len() {
        return None;
    }
    let inserted: std::collections::HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().position(|id| !seen.insert(*id) || !inserted.contains(id))
}
