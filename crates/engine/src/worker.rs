//! The worker runtime: claim loops that run executions under fenced leases, completion
//! batches written together with their callbacks, the heartbeat and the reaper of expired
//! leases, with their SQL.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::FutureExt as _;
use sqlx::Row as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{duration_ms, jittered_backoff_ms},
    directive,
    engine::{InFlight, Inner, KindRuntime, TASKS_CHANNEL, lock},
    executor::{Abandonment, CancelReason, ErrorClass, ExecError, Outcome, ReasonCell, TaskContext},
    on_pool,
    outbox::{Callback, INSERT_OUTBOX_MANY},
    slots::acquire_batch,
    store::{Batched, Pool, StoreError, TxConn, json_rows},
    task::{Lease, Task, TaskId, TaskKind, TaskState, task_columns, task_from_row},
};

/// What an execution (or the claim path) reports, queued for the next completion batch.
pub(crate) struct Completion {
    pub(crate) lease: Lease,
    pub(crate) kind: TaskKind,
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    /// An announced end time is never earlier than this.
    pub(crate) started_at_ms: Option<i64>,
    pub(crate) result: Result<Outcome, ExecError>,
    pub(crate) reason: Option<CancelReason>,
    /// Ended by the claim path without running (see [`Abandonment`]), at this time.
    pub(crate) abandoned_at_ms: Option<i64>,
    pub(crate) _slot: Option<OwnedSemaphorePermit>,
}

// Fair claims. Within a kind, a claim serves accounts by how many tasks of the kind they have
// running (anywhere, counted from `tg_tasks_running`), each account's oldest due task first: an
// account's i-th due task gets the turn `running + i`, and the claim takes the lowest turns (ties:
// the oldest first). So every claim fills free slots as water fills a basin: the account with
// the fewest running tasks is served first, one that floods the queue gets a slot only when no
// other account is behind it, and a single account is served first in first out as before.
// `$6`, when set, caps an account's running tasks of the kind (`KindOptions::max_running_per_account`).
//
// The accounts come from a skip scan (a recursive CTE stepping to the next account in
// `tg_tasks_ready_by_account`), each account's candidates from the same index, at most `$5` (the
// batch) per account: a claim reads O(accounts with queued tasks × batch) index entries, never the
// whole backlog. Counting running tasks instead of keeping per-account counters in a table
// (`tg_account_turns`) writes nothing more per task, so no row is a hot spot when one account
// floods the queue; the count reads only the running tasks of the accounts waiting, at most the
// concurrency of the kind across nodes, and is skipped when one account waits and no cap applies
// (the skip scan's rows are the accounts plus its closing NULL), so a single account's claims cost
// what the first-in-first-out claim did.

/// SQLite has no LATERAL join: each account's candidates are the due tasks up to its `$5`-th
/// (`horizon`), a bounded range of the index. Writers are serialised, so nothing needs locking.
const CLAIM_SQLITE: &str = concat!(
    "WITH RECURSIVE accounts(account) AS ( \
       SELECT (SELECT account FROM tg_tasks WHERE state = 'queued' AND kind = $4 ORDER BY account LIMIT 1) \
       UNION ALL \
       SELECT (SELECT t.account FROM tg_tasks t WHERE t.state = 'queued' AND t.kind = $4 AND t.account > a.account \
               ORDER BY t.account LIMIT 1) \
       FROM accounts a WHERE a.account IS NOT NULL), \
     heads AS MATERIALIZED ( \
       SELECT a.account, \
         CASE WHEN $6 IS NULL AND (SELECT COUNT(*) FROM accounts) = 2 THEN 0 ELSE \
           (SELECT COUNT(*) FROM tg_tasks r WHERE r.state = 'running' AND r.kind = $4 AND r.account = a.account) END \
           AS running, \
         COALESCE((SELECT t.next_run_at_ms FROM tg_tasks t WHERE t.state = 'queued' AND t.kind = $4 \
                   AND t.account = a.account AND t.next_run_at_ms <= $3 ORDER BY t.next_run_at_ms LIMIT 1 OFFSET $5 - 1), $3) \
           AS horizon \
       FROM accounts a WHERE a.account IS NOT NULL), \
     turns AS ( \
       SELECT t.id, t.next_run_at_ms, \
         h.running + ROW_NUMBER() OVER (PARTITION BY h.account ORDER BY t.next_run_at_ms) AS turn \
       FROM heads h CROSS JOIN tg_tasks t ON t.state = 'queued' AND t.kind = $4 AND t.account = h.account \
         AND t.next_run_at_ms <= h.horizon) \
     UPDATE tg_tasks SET state = 'running', attempts = attempts + 1, lease_no = lease_no + 1, lease_owner = $1, \
     lease_expires_at_ms = $2, heartbeat_at_ms = $3, started_at_ms = COALESCE(started_at_ms, $3) \
     WHERE id IN (SELECT id FROM turns WHERE $6 IS NULL OR turn <= $6 ORDER BY turn, next_run_at_ms LIMIT $5) RETURNING ",
    task_columns!()
);

/// Candidates are locked as they are read (`SKIP LOCKED`), so claims of several nodes never
/// take one task twice nor wait for each other.
const CLAIM_POSTGRES: &str = concat!(
    "WITH RECURSIVE accounts(account) AS ( \
       (SELECT account FROM tg_tasks WHERE state = 'queued' AND kind = $4 ORDER BY account LIMIT 1) \
       UNION ALL \
       SELECT (SELECT t.account FROM tg_tasks t WHERE t.state = 'queued' AND t.kind = $4 AND t.account > a.account \
               ORDER BY t.account LIMIT 1) \
       FROM accounts a WHERE a.account IS NOT NULL), \
     heads AS MATERIALIZED ( \
       SELECT a.account, \
         CASE WHEN $6::BIGINT IS NULL AND (SELECT COUNT(*) FROM accounts) = 2 THEN 0 ELSE \
           (SELECT COUNT(*) FROM tg_tasks r WHERE r.state = 'running' AND r.kind = $4 AND r.account = a.account) END \
           AS running \
       FROM accounts a WHERE a.account IS NOT NULL), \
     turns AS ( \
       SELECT c.id, c.next_run_at_ms, \
         h.running + ROW_NUMBER() OVER (PARTITION BY h.account ORDER BY c.next_run_at_ms) AS turn \
       FROM heads h CROSS JOIN LATERAL ( \
         SELECT t.id, t.next_run_at_ms FROM tg_tasks t WHERE t.state = 'queued' AND t.kind = $4 \
           AND t.account = h.account AND t.next_run_at_ms <= $3 \
         ORDER BY t.next_run_at_ms LIMIT $5 FOR UPDATE SKIP LOCKED) c) \
     UPDATE tg_tasks SET state = 'running', attempts = attempts + 1, lease_no = lease_no + 1, lease_owner = $1, \
     lease_expires_at_ms = $2, heartbeat_at_ms = $3, started_at_ms = COALESCE(started_at_ms, $3) \
     WHERE id = ANY(ARRAY(SELECT id FROM turns WHERE $6::BIGINT IS NULL OR turn <= $6 ORDER BY turn, next_run_at_ms \
       LIMIT $5)) RETURNING ",
    task_columns!()
);

/// A fenced completion statement over the values `v` of a batch's completions of one finish kind
/// (see [`Batched`]): `$1` now, then each completion's task id, lease number, state, result,
/// error and time (`Finish::columns`). A completion changes its task only while the task runs
/// under the lease the completion was given: a stale lease's completion matches no row, and the
/// statement returns the leases (id and lease number) it did change. (SQLite's `RETURNING` sees
/// only the updated table, unqualified, hence `v`'s own column names.)
macro_rules! finish_over {
    ($set:literal, $source:literal) => {
        concat!(
            "UPDATE tg_tasks AS t SET ",
            $set,
            ", lease_owner = NULL, lease_expires_at_ms = NULL FROM ",
            $source,
            " WHERE t.id = v.task_id AND t.lease_no = v.lease AND t.state = 'running' RETURNING id, lease_no"
        )
    };
}

macro_rules! finish_sql {
    ($set:literal) => {
        Batched {
            sqlite: finish_over!(
                $set,
                "(SELECT j.value ->> 0 AS task_id, j.value ->> 1 AS lease, j.value ->> 2 AS state, \
                 j.value ->> 3 AS result, j.value ->> 4 AS error, j.value ->> 5 AS at_ms FROM json_each($2) AS j) AS v"
            ),
            postgres: finish_over!(
                $set,
                "unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
                 AS v(task_id, lease, state, result, error, at_ms)"
            ),
        }
    };
}

/// One statement per finish kind, indexed by `Finish::columns`' first value.
const FINISH_SQL: [Batched; 4] = [
    finish_sql!("state = 'succeeded', result = v.result, error = NULL, finished_at_ms = v.at_ms"),
    finish_sql!("state = v.state, error = v.error, finished_at_ms = v.at_ms"),
    // Only an execution or the claim path ends a task (see `Abandonment`): the statements that
    // put a task back in the queue leave a cancel request in place, and the next claim ends the
    // task. A cancel request that raced with the retry is served at once.
    finish_sql!(
        "state = 'queued', error = v.error, next_run_at_ms = CASE WHEN t.cancel_requested THEN $1 ELSE v.at_ms END"
    ),
    // Giving a task back is not the task's fault, so the attempt does not count.
    finish_sql!("state = 'queued', attempts = t.attempts - 1, next_run_at_ms = v.at_ms"),
];

/// A rescued task on its final attempt is claimed once more only to be ended as `WorkerLost`.
const REAP: &str = "UPDATE tg_tasks SET state = 'queued', \
     lease_no = lease_no + 1, next_run_at_ms = $1, lease_owner = NULL, lease_expires_at_ms = NULL \
     WHERE state = 'running' AND lease_expires_at_ms < $1 RETURNING kind";

const HEARTBEAT: &str = "UPDATE tg_tasks SET lease_expires_at_ms = $1, heartbeat_at_ms = $2 \
     WHERE lease_owner = $3 AND state = 'running' RETURNING id, lease_no, cancel_requested";

/// What one completion writes.
#[derive(Debug, PartialEq)]
enum Finish {
    Succeeded { result: String, finished_at_ms: i64 },
    Unsuccessful { state: TaskState, error: String, finished_at_ms: i64 },
    Retry { error: String, at_ms: i64 },
    Release { at_ms: i64 },
}

impl Finish {
    /// Its statement in `FINISH_SQL`, and its values there: state, result, error, time.
    fn columns(self) -> (usize, Option<&'static str>, Option<String>, Option<String>, i64) {
        match self {
            Finish::Succeeded { result, finished_at_ms } => (0, None, Some(result), None, finished_at_ms),
            Finish::Unsuccessful { state, error, finished_at_ms } => {
                (1, Some(state.as_str()), None, Some(error), finished_at_ms)
            }
            Finish::Retry { error, at_ms } => (2, None, None, Some(error), at_ms),
            Finish::Release { at_ms } => (3, None, None, None, at_ms),
        }
    }
}

/// A batch's completions of one finish kind, as the columns of `FINISH_SQL`'s values.
#[derive(Default)]
struct FinishGroup<'a> {
    /// Each completion's position in the batch.
    members: Vec<usize>,
    ids: Vec<&'a str>,
    lease_nos: Vec<i64>,
    states: Vec<Option<&'static str>>,
    results: Vec<Option<String>>,
    errors: Vec<Option<String>>,
    at_ms: Vec<i64>,
}

pub(crate) struct OutboxRow {
    pub(crate) event_id: String,
    pub(crate) task_id: String,
    pub(crate) url: String,
    pub(crate) body: String,
}

impl Inner {
    /// Claims up to `max` due tasks of `kind`, fairly across accounts (see `CLAIM_SQLITE`).
    pub(crate) async fn claim(&self, kind: &TaskKind, max: u32) -> Result<Vec<Task>, StoreError> {
        let now = self.clock.now_ms();
        let cap = self.kinds.get(kind).and_then(|runtime| runtime.max_running_per_account).map(i64::from);
        let expires = now.saturating_add(duration_ms(self.config.lease));
        macro_rules! run_claim {
            ($sql:expr, $p:expr) => {
                sqlx::query($sql)
                    .bind(self.owner.as_str())
                    .bind(expires)
                    .bind(now)
                    .bind(kind.as_str())
                    .bind(i64::from(max))
                    .bind(cap)
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

    pub(crate) async fn claim_loop(self: Arc<Self>, kind: TaskKind) {
        let runtime = &self.kinds[&kind];
        let stop = &self.stop_claiming;
        loop {
            let Some(mut slots) = acquire_batch(&runtime.slots, self.config.claim_batch as usize, stop).await else {
                return;
            };
            let wanted = slots.len();
            let claimed = match self.claim(&runtime.kind, u32::try_from(wanted).unwrap_or(u32::MAX)).await {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::warn!(kind = %runtime.kind, error = %e, "claiming tasks failed");
                    Vec::new()
                }
            };
            let got = claimed.len();
            for (task, slot) in claimed.into_iter().zip(slots.drain(..)) {
                if task.cancel_requested {
                    self.spawn_abandonment(runtime, task, Abandonment::Cancelled, slot);
                } else if task.attempts > task.max_attempts {
                    self.spawn_abandonment(runtime, task, Abandonment::WorkerLost, slot);
                } else {
                    self.spawn_execution(runtime, task, slot);
                }
            }
            drop(slots);
            if got < wanted {
                // The queue is drained (or the database unhappy): wait for a submit on this
                // node, or poll for other nodes' submits and due retries.
                tokio::select! {
                    () = runtime.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    fn spawn_execution(self: &Arc<Self>, runtime: &KindRuntime, task: Task, slot: OwnedSemaphorePermit) {
        let token = CancellationToken::new();
        let reason = Arc::new(ReasonCell::default());
        let completing = Arc::new(AtomicBool::new(false));
        lock(&self.inflight).insert(
            task.id.clone(),
            InFlight {
                lease_no: task.lease_no,
                token: token.clone(),
                reason: reason.clone(),
                endless: runtime.endless,
                completing: completing.clone(),
            },
        );
        let lease = task.lease();
        let (attempts, max_attempts, started_at_ms) = (task.attempts, task.max_attempts, task.started_at_ms);
        let kind = runtime.kind.clone();
        let executor = runtime.executor.clone();
        let directive = task.directive.clone();
        let ctx = TaskContext::new(task, token, reason.clone(), self.store.clone(), self.clock.clone());
        let tx = self.completions_tx.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            let run = async {
                match directive {
                    Some(directive) => directive::run(executor.as_ref(), ctx, directive, &store).await,
                    None => executor.execute(ctx).await,
                }
            };
            let result = AssertUnwindSafe(run).catch_unwind().await.unwrap_or_else(|_| {
                tracing::error!(task = %lease.task_id, kind = %kind, "executor panicked");
                Err(ExecError::retryable("executor panicked"))
            });
            completing.store(true, Ordering::Release);
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
        runtime: &KindRuntime,
        mut task: Task,
        why: Abandonment,
        slot: OwnedSemaphorePermit,
    ) {
        let ended_at = self.clock.now_ms();
        task.finished_at_ms = Some(ended_at);
        let kind = runtime.kind.clone();
        let executor = runtime.executor.clone();
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

    fn backoff_ms(&self, attempt: u32) -> i64 {
        jittered_backoff_ms(self.config.backoff_base, self.config.backoff_max, attempt, self.entropy.as_ref())
    }

    /// The outbox row recording `callback` for `task_id`, with a fresh event id unless the
    /// executor chose one.
    pub(crate) fn outbox_row(&self, task_id: &TaskId, callback: &Callback) -> OutboxRow {
        OutboxRow {
            event_id: callback.event_id.clone().unwrap_or_else(|| self.entropy.uuid_v4().to_string()),
            task_id: task_id.to_string(),
            url: callback.url.clone(),
            body: callback.body.to_string(),
        }
    }

    /// Writes a batch of completions in one transaction, each fenced by its lease number (see
    /// `FINISH_SQL`) and with its callback if it took effect, and reports which took effect.
    pub(crate) async fn write_completions(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
        let now = self.clock.now_ms();
        let mut groups: [FinishGroup; 4] = Default::default();
        let mut callbacks: Vec<(usize, OutboxRow)> = Vec::new();
        let mut requeued_now = vec![false; batch.len()];
        let mut product_rows = Vec::new();
        for (i, completion) in batch.iter().enumerate() {
            if completion.reason == Some(CancelReason::LeaseLost) {
                continue;
            }
            let (finish, callback) = plan(completion, now, |attempt| self.backoff_ms(attempt));
            if let Some(callback) = callback {
                callbacks.push((i, self.outbox_row(&completion.lease.task_id, callback)));
            }
            if let (Finish::Succeeded { .. }, Ok(outcome)) = (&finish, &completion.result)
                && let Some(rows) = outcome.rows.as_ref()
            {
                product_rows.push((i, rows));
            }
            requeued_now[i] = matches!(finish, Finish::Retry { at_ms, .. } | Finish::Release { at_ms } if at_ms <= now);
            let (statement, state, result, error, at_ms) = finish.columns();
            let group = &mut groups[statement];
            group.members.push(i);
            group.ids.push(completion.lease.task_id.as_str());
            group.lease_nos.push(completion.lease.lease_no);
            group.states.push(state);
            group.results.push(result);
            group.errors.push(error);
            group.at_ms.push(at_ms);
        }
        let mut applied = vec![false; batch.len()];
        let mut tx = self.store.begin().await?;
        for (group, sql) in groups.iter().zip(&FINISH_SQL) {
            if group.members.is_empty() {
                continue;
            }
            let changed: Vec<(String, i64)> = match tx.conn() {
                TxConn::Sqlite(c) => {
                    let rows: Vec<_> = (0..group.members.len())
                        .map(|j| {
                            let (result, error) = (group.results[j].as_deref(), group.errors[j].as_deref());
                            (group.ids[j], group.lease_nos[j], group.states[j], result, error, group.at_ms[j])
                        })
                        .collect();
                    sqlx::query_as(sql.sqlite).bind(now).bind(json_rows(&rows)?).fetch_all(&mut **c).await?
                }
                TxConn::Postgres(c) => {
                    sqlx::query_as(sql.postgres)
                        .bind(now)
                        .bind(&group.ids)
                        .bind(&group.lease_nos)
                        .bind(&group.states)
                        .bind(&group.results)
                        .bind(&group.errors)
                        .bind(&group.at_ms)
                        .fetch_all(&mut **c)
                        .await?
                }
            };
            // A lease names its completion: a task may be in a batch twice, with a lease it
            // lost and the one that replaced it, but only one execution holds a lease.
            let position: HashMap<(&str, i64), usize> = group
                .ids
                .iter()
                .zip(&group.lease_nos)
                .zip(&group.members)
                .map(|((id, no), &i)| ((*id, *no), i))
                .collect();
            for (id, lease_no) in &changed {
                if let Some(&i) = position.get(&(id.as_str(), *lease_no)) {
                    applied[i] = true;
                }
            }
        }
        let rows: Vec<&OutboxRow> = callbacks.iter().filter(|(i, _)| applied[*i]).map(|(_, row)| row).collect();
        if !rows.is_empty() {
            match tx.conn() {
                TxConn::Sqlite(c) => {
                    let rows: Vec<_> = rows.iter().map(|r| (&r.event_id, &r.task_id, &r.url, &r.body)).collect();
                    sqlx::query(INSERT_OUTBOX_MANY.sqlite).bind(now).bind(json_rows(&rows)?).execute(&mut **c).await?;
                }
                TxConn::Postgres(c) => {
                    let column = |field: fn(&OutboxRow) -> &str| rows.iter().map(|r| field(r)).collect::<Vec<_>>();
                    sqlx::query(INSERT_OUTBOX_MANY.postgres)
                        .bind(now)
                        .bind(column(|r| &r.event_id))
                        .bind(column(|r| &r.task_id))
                        .bind(column(|r| &r.url))
                        .bind(column(|r| &r.body))
                        .execute(&mut **c)
                        .await?;
                }
            }
        }
        // A success's product rows go in with it, and only when its fenced update took effect.
        for (i, rows) in product_rows.iter().filter(|(i, _)| applied[*i]) {
            rows.0.write(&mut tx, &batch[*i].lease.task_id).await?;
        }
        let recorded = callbacks.iter().any(|(i, _)| applied[*i]);
        let mut due_now: Vec<&TaskKind> = Vec::new();
        for (i, completion) in batch.iter().enumerate() {
            if applied[i] {
                if requeued_now[i] && !due_now.contains(&&completion.kind) {
                    tx.notify_on_commit(TASKS_CHANNEL, completion.kind.as_str().to_owned());
                    due_now.push(&completion.kind);
                }
            } else if completion.reason != Some(CancelReason::LeaseLost) {
                let lease = &completion.lease;
                tracing::info!(task = %lease.task_id, lease_no = lease.lease_no, kind = %completion.kind, "stale lease: completion ignored");
            }
        }
        tx.commit().await?;
        for kind in due_now {
            if let Some(runtime) = self.kinds.get(kind) {
                runtime.wake.notify_one();
            }
        }
        if recorded && let Some(outbox) = &self.outbox {
            outbox.wake();
        }
        Ok(applied)
    }

    pub(crate) async fn completion_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Completion>) {
        let stop = self.stop_background.clone();
        loop {
            let first = tokio::select! {
                completion = rx.recv() => completion,
                () = stop.cancelled() => rx.try_recv().ok(),
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while batch.len() < self.config.complete_batch {
                match rx.try_recv() {
                    Ok(completion) => batch.push(completion),
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
                for done in &batch {
                    let lease = &done.lease;
                    if inflight.get(&lease.task_id).is_some_and(|flight| flight.lease_no == lease.lease_no) {
                        inflight.remove(&lease.task_id);
                    }
                }
            }
            // Dropping the batch frees the concurrency slots only now that the outcome is
            // stored, so a node never holds more leases than its concurrency.
            drop(batch);
            self.inflight_changed.notify_waiters();
        }
    }

    pub(crate) async fn heartbeat_loop(self: Arc<Self>) {
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
        let before: Vec<(TaskId, i64)> =
            lock(&self.inflight).iter().map(|(id, flight)| (id.clone(), flight.lease_no)).collect();
        let now = self.clock.now_ms();
        let expires = now.saturating_add(duration_ms(self.config.lease));
        let held: Vec<(String, i64, bool)> = on_pool!(self.store.writer(), p => {
            let rows = sqlx::query(HEARTBEAT).bind(expires).bind(now).bind(self.owner.as_str()).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("lease_no")?, r.try_get("cancel_requested")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let current: HashMap<&str, (i64, bool)> =
            held.iter().map(|(id, lease_no, cancel)| (id.as_str(), (*lease_no, *cancel))).collect();
        let inflight = lock(&self.inflight);
        for (id, lease_no) in before {
            let Some(flight) = inflight
                .get(&id)
                .filter(|flight| flight.lease_no == lease_no && !flight.completing.load(Ordering::Acquire))
            else {
                continue;
            };
            match current.get(id.as_str()) {
                Some(&(held_no, cancel)) if held_no == lease_no => {
                    if cancel {
                        flight.reason.fire(CancelReason::Requested, &flight.token);
                    }
                }
                _ => {
                    tracing::warn!(task = %id, lease_no, "lease lost; stopping its execution");
                    flight.reason.fire(CancelReason::LeaseLost, &flight.token);
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn reap_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.reap_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.stop_background.cancelled() => return,
            }
            if let Err(e) = self.reap().await {
                tracing::warn!(error = %e, "rescuing expired leases failed");
            }
        }
    }

    /// Requeues the tasks whose lease expired and wakes the workers of their kinds on every node.
    pub(crate) async fn reap(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let kinds: Vec<String> =
            on_pool!(self.store.writer(), p => sqlx::query_scalar(REAP).bind(now).fetch_all(p).await?);
        if !kinds.is_empty() {
            tracing::info!(rescued = kinds.len(), "rescued tasks whose lease expired");
            self.announce_due(kinds.iter().map(String::as_str)).await;
        }
        Ok(u64::try_from(kinds.len()).unwrap_or(u64::MAX))
    }
}

/// The completion decision: how `completion` changes its task's row, with the callback to record
/// alongside, if any. `retry_in_ms(attempt)` is the wait before retry `attempt` (1 for the first).
fn plan(completion: &Completion, now: i64, retry_in_ms: impl Fn(u32) -> i64) -> (Finish, Option<&Callback>) {
    let ended_at = |announced: Option<i64>| match announced {
        Some(at) => at.max(completion.started_at_ms.unwrap_or(at)),
        None => completion.abandoned_at_ms.unwrap_or(now),
    };
    let unsuccessful = |state, error: &ExecError| Finish::Unsuccessful {
        state,
        error: error.message.clone(),
        finished_at_ms: ended_at(error.finished_at_ms),
    };
    match (&completion.result, completion.reason) {
        // The executor could not say how to announce the end: ask again later.
        (Err(error), _) if completion.abandoned_at_ms.is_some() && error.class == ErrorClass::Retryable => {
            (Finish::Release { at_ms: now + retry_in_ms(1) }, None)
        }
        (Ok(outcome), _) => (
            Finish::Succeeded { result: outcome.result.to_string(), finished_at_ms: ended_at(outcome.finished_at_ms) },
            outcome.callback.as_ref(),
        ),
        (Err(_), Some(CancelReason::Shutdown)) => (Finish::Release { at_ms: now }, None),
        (Err(error), Some(CancelReason::Requested)) => {
            (unsuccessful(TaskState::Cancelled, error), error.callback.as_deref())
        }
        (Err(error), _) => match error.class {
            ErrorClass::Retryable if completion.attempts < completion.max_attempts => {
                (Finish::Retry { error: error.message.clone(), at_ms: now + retry_in_ms(completion.attempts) }, None)
            }
            ErrorClass::Cancelled => (unsuccessful(TaskState::Cancelled, error), error.callback.as_deref()),
            ErrorClass::Retryable | ErrorClass::Permanent => {
                (unsuccessful(TaskState::Failed, error), error.callback.as_deref())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 50_000;
    const STARTED: i64 = 40_000;
    const ABANDONED: i64 = 49_000;
    const MAX_ATTEMPTS: u32 = 3;

    /// Retry `n` waits `n` seconds, so the table shows which attempt's backoff was taken.
    fn retry_in_ms(attempt: u32) -> i64 {
        i64::from(attempt) * 1_000
    }

    fn callback() -> Callback {
        Callback::new("https://example.com/cb", json!({ "done": true }))
    }

    fn success() -> Outcome {
        Outcome::new(json!("done")).with_callback(callback())
    }

    fn retryable() -> ExecError {
        ExecError::retryable("flaky").with_callback(callback())
    }

    fn permanent() -> ExecError {
        ExecError::permanent("broken").with_callback(callback())
    }

    /// An execution's report on attempt `attempts` of `MAX_ATTEMPTS`.
    fn ran(result: Result<Outcome, ExecError>, reason: Option<CancelReason>, attempts: u32) -> Completion {
        Completion {
            lease: Lease { task_id: TaskId::new("t-1"), lease_no: 1 },
            kind: TaskKind::from_static("test.plan"),
            attempts,
            max_attempts: MAX_ATTEMPTS,
            started_at_ms: Some(STARTED),
            result,
            reason,
            abandoned_at_ms: None,
            _slot: None,
        }
    }

    /// The claim path ending a task at `ABANDONED` with what its executor announced.
    fn abandoned(announced: Result<Option<Callback>, ExecError>, why: Abandonment, attempts: u32) -> Completion {
        let result = match announced {
            Ok(callback) => Err(why.error(callback)),
            Err(error) => Err(ExecError::retryable(error.message)),
        };
        Completion { abandoned_at_ms: Some(ABANDONED), ..ran(result, None, attempts) }
    }

    fn succeeded(at: i64) -> Finish {
        Finish::Succeeded { result: "\"done\"".into(), finished_at_ms: at }
    }

    fn ended(state: TaskState, error: &str, at: i64) -> Finish {
        Finish::Unsuccessful { state, error: error.into(), finished_at_ms: at }
    }

    fn check(case: &str, completion: Completion, expected: Finish, records_callback: bool) {
        let (finish, callback) = plan(&completion, NOW, retry_in_ms);
        assert_eq!(finish, expected, "{case}");
        assert_eq!(callback.is_some(), records_callback, "{case}: callback recorded");
    }

    #[test]
    fn a_completion_ends_retries_or_releases_its_task_as_the_table_says() {
        use CancelReason::{Requested, Shutdown};
        use TaskState::{Cancelled, Failed};

        check("a success succeeds with its callback", ran(Ok(success()), None, 1), succeeded(NOW), true);
        check("a success wins over a cancel request", ran(Ok(success()), Some(Requested), 1), succeeded(NOW), true);
        check("a success wins over shutdown", ran(Ok(success()), Some(Shutdown), 1), succeeded(NOW), true);
        check(
            "a success ends at the time it announced",
            ran(Ok(success().finished_at_ms(45_000)), None, 1),
            succeeded(45_000),
            true,
        );
        check(
            "an announced end before the start is the start",
            ran(Ok(success().finished_at_ms(1)), None, 1),
            succeeded(STARTED),
            true,
        );
        check(
            "a failure at shutdown is handed back at once, silently",
            ran(Err(retryable()), Some(Shutdown), 1),
            Finish::Release { at_ms: NOW },
            false,
        );
        check(
            "a permanent failure at shutdown is handed back too",
            ran(Err(permanent()), Some(Shutdown), 1),
            Finish::Release { at_ms: NOW },
            false,
        );
        check(
            "a failure after a cancel request cancels, with its callback",
            ran(Err(retryable()), Some(Requested), 1),
            ended(Cancelled, "flaky", NOW),
            true,
        );
        check(
            "a retryable failure before the final attempt retries after that attempt's backoff, silently",
            ran(Err(retryable()), None, 2),
            Finish::Retry { error: "flaky".into(), at_ms: NOW + 2_000 },
            false,
        );
        check(
            "a retryable failure on the final attempt fails, with its callback",
            ran(Err(retryable()), None, MAX_ATTEMPTS),
            ended(Failed, "flaky", NOW),
            true,
        );
        check(
            "a permanent failure fails on the first attempt",
            ran(Err(permanent()), None, 1),
            ended(Failed, "broken", NOW),
            true,
        );
        check(
            "a failure ends at the time it announced",
            ran(Err(permanent().finished_at_ms(47_000)), None, 1),
            ended(Failed, "broken", 47_000),
            true,
        );
        check(
            "an executor that stopped itself cancels",
            ran(Err(ExecError::cancelled("stopped")), None, 1),
            ended(Cancelled, "stopped", NOW),
            false,
        );
        check(
            "a cancelled queued task ends when it was abandoned, with its announcement",
            abandoned(Ok(Some(callback())), Abandonment::Cancelled, 1),
            ended(Cancelled, Abandonment::Cancelled.message(), ABANDONED),
            true,
        );
        check(
            "a worker lost on the final attempt fails when it was abandoned",
            abandoned(Ok(None), Abandonment::WorkerLost, MAX_ATTEMPTS + 1),
            ended(Failed, Abandonment::WorkerLost.message(), ABANDONED),
            false,
        );
        check(
            "an announcement that failed is asked again after the first backoff",
            abandoned(Err(ExecError::retryable("no settings")), Abandonment::Cancelled, 1),
            Finish::Release { at_ms: NOW + 1_000 },
            false,
        );
    }
}
