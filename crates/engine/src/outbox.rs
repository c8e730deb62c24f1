//! The callback outbox: callbacks are recorded in the transaction that finishes their task
//! and delivered at least once (POST, retried with backoff until a 2xx), surviving restarts.
//! Every delivery of one callback carries the same `X-Taskgate-Event-Id`.
//!
//! Isolation: at most [`OutboxConfig::concurrency`] deliveries are in flight on a node (32),
//! at most [`OutboxConfig::per_destination`] to one `scheme://host:port` (4) and at most
//! [`OutboxConfig::per_account`] of one account (8); a due callback whose destination or account
//! is full is handed back uncounted for [`OutboxConfig::destination_busy_delay`] (0.5 s). Claims
//! serve accounts in turn (see `CLAIM_SQLITE`), so an account whose receivers hang holds at most
//! its own places and another account's callback goes out with the next claim.
//!
//! Timeouts and retries (the server's defaults; Tencent publishes none for these callbacks): an
//! attempt may take 10 s in all (connecting included, the `GuardedClient`'s timeout); an attempt
//! that failed (no 2xx, a connection error, a timeout) is retried after a jittered backoff: retry
//! `n` waits between half and all of `min(1 s × 2^(n-1), 10 min)`, so 1, 2, 4 … 512 s, then 10 min
//! each. After [`OutboxConfig::max_attempts`] (30) failed attempts, about 1.7 to 3.5 hours after
//! the first, the callback is `dead` and never tried again; so is a callback whose URL the guard
//! refuses, at once. Its task is unaffected (it finished when the callback was recorded);
//! `/_taskgate/callbacks` shows the callback `dead` with its `last_error` and every attempt (start,
//! latency, HTTP status or error).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;
use sqlx::Row as _;
use tokio::{
    sync::{Notify, Semaphore},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, Entropy, OsEntropy, SystemClock, duration_ms, jittered_backoff_ms},
    on_pool, on_tx,
    slots::acquire_batch,
    store::{Batched, Pool, Store, StoreError, Tx},
    task::TaskId,
    url_guard::{GuardedClient, guard_error},
};

/// The header carrying the stable event id.
pub const EVENT_ID_HEADER: &str = "X-Taskgate-Event-Id";

/// A callback to deliver: a JSON body POSTed to `url`.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    pub url: String,
    pub body: Value,
    /// Generated when `None`. Products that put the id in the body choose it themselves.
    pub event_id: Option<String>,
}

impl Callback {
    pub fn new(url: impl Into<String>, body: Value) -> Self {
        Self { url: url.into(), body, event_id: None }
    }

    pub fn with_event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }
}

/// Records callbacks (see [`Batched`]): `$1` the time, then each callback's event id, task id,
/// URL and body. A repeated event id is the same event: recording it twice must not fail the
/// transaction that finishes a task. The account is the task's ('' for a callback of no task).
/// (`WHERE TRUE` tells SQLite's parser that `ON CONFLICT` is the insert's, not a join's.)
macro_rules! insert_outbox {
    ($source:literal) => {
        concat!(
            "INSERT INTO tg_outbox (event_id, task_id, url, body, state, created_at_ms, next_attempt_at_ms, account) \
             SELECT v.event_id, v.task_id, v.url, v.body, 'pending', $1, $1, \
             COALESCE((SELECT t.account FROM tg_tasks t WHERE t.id = v.task_id), '') FROM ",
            $source,
            " WHERE TRUE ON CONFLICT (event_id) DO NOTHING"
        )
    };
}

/// One callback, on either backend.
pub(crate) const INSERT_OUTBOX: &str =
    insert_outbox!("(SELECT $2 AS event_id, $3 AS task_id, $4 AS url, $5 AS body) AS v");

/// Records an `OutboxRow` in the outbox on a transaction's connection (either backend).
macro_rules! insert_callback {
    ($conn:ident, $cb:expr, $now:expr) => {
        sqlx::query($crate::outbox::INSERT_OUTBOX)
            .bind($now)
            .bind($cb.event_id.as_str())
            .bind($cb.task_id.as_str())
            .bind($cb.url.as_str())
            .bind($cb.body.as_str())
            .execute(&mut *$conn)
            .await?
    };
}
pub(crate) use insert_callback;

/// The callbacks of a completion batch, in one statement.
pub(crate) const INSERT_OUTBOX_MANY: Batched = Batched {
    sqlite: insert_outbox!(
        "(SELECT j.value ->> 0 AS event_id, j.value ->> 1 AS task_id, j.value ->> 2 AS url, j.value ->> 3 AS body \
         FROM json_each($2) AS j) AS v"
    ),
    postgres: insert_outbox!(
        "unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS v(event_id, task_id, url, body)"
    ),
};

// Claims serve accounts in turn: an account's i-th due callback (oldest first) gets the turn i,
// and a claim takes the lowest turns (ties: the oldest first), so one account's backlog never
// stands in front of another account's first callback. The accounts come from a skip scan over
// `tg_outbox_due_by_account` (a recursive CTE stepping to the next account), each account's
// candidates from the same index, at most `$3` (the batch) per account: a claim reads
// O(accounts with pending callbacks × batch) index entries, never the whole backlog. What an
// account has in flight is capped on each node in memory (`OutboxConfig::per_account`), as for
// destinations; `$4` names the accounts at their cap here, whose callbacks are not claimed at
// all (claiming them only to hand them back would keep the loop and the writer busy).
//
// Claiming pushes `next_attempt_at_ms` past the delivery timeout, so a delivery whose node
// died is retried by anyone once that passes.

/// SQLite has no LATERAL join: each account's candidates are its due callbacks up to its
/// `$3`-th (`horizon`), a bounded range of the index.
const CLAIM_SQLITE: &str = "WITH RECURSIVE accounts(account) AS ( \
       SELECT (SELECT account FROM tg_outbox WHERE state = 'pending' ORDER BY account LIMIT 1) \
       UNION ALL \
       SELECT (SELECT o.account FROM tg_outbox o WHERE o.state = 'pending' AND o.account > a.account \
               ORDER BY o.account LIMIT 1) \
       FROM accounts a WHERE a.account IS NOT NULL), \
     heads AS MATERIALIZED ( \
       SELECT a.account, \
         COALESCE((SELECT o.next_attempt_at_ms FROM tg_outbox o WHERE o.state = 'pending' AND o.account = a.account \
                   AND o.next_attempt_at_ms <= $2 ORDER BY o.next_attempt_at_ms LIMIT 1 OFFSET $3 - 1), $2) AS horizon \
       FROM accounts a WHERE a.account IS NOT NULL AND a.account NOT IN (SELECT value FROM json_each($4))), \
     turns AS ( \
       SELECT o.event_id, o.next_attempt_at_ms, \
         ROW_NUMBER() OVER (PARTITION BY h.account ORDER BY o.next_attempt_at_ms) AS turn \
       FROM heads h CROSS JOIN tg_outbox o ON o.state = 'pending' AND o.account = h.account \
         AND o.next_attempt_at_ms <= h.horizon) \
     UPDATE tg_outbox SET next_attempt_at_ms = $1, attempts = attempts + 1 \
     WHERE event_id IN (SELECT event_id FROM turns ORDER BY turn, next_attempt_at_ms LIMIT $3) \
     RETURNING event_id, url, body, attempts, account";

/// Candidates are locked as they are read (`SKIP LOCKED`): nodes never claim one callback twice.
const CLAIM_POSTGRES: &str = "WITH RECURSIVE accounts(account) AS ( \
       (SELECT account FROM tg_outbox WHERE state = 'pending' ORDER BY account LIMIT 1) \
       UNION ALL \
       SELECT (SELECT o.account FROM tg_outbox o WHERE o.state = 'pending' AND o.account > a.account \
               ORDER BY o.account LIMIT 1) \
       FROM accounts a WHERE a.account IS NOT NULL), \
     turns AS ( \
       SELECT c.event_id, c.next_attempt_at_ms, \
         ROW_NUMBER() OVER (PARTITION BY a.account ORDER BY c.next_attempt_at_ms) AS turn \
       FROM accounts a CROSS JOIN LATERAL ( \
         SELECT o.event_id, o.next_attempt_at_ms FROM tg_outbox o WHERE o.state = 'pending' \
           AND o.account = a.account AND o.next_attempt_at_ms <= $2 \
         ORDER BY o.next_attempt_at_ms LIMIT $3 FOR UPDATE SKIP LOCKED) c \
       WHERE a.account IS NOT NULL AND NOT (a.account = ANY($4))) \
     UPDATE tg_outbox SET next_attempt_at_ms = $1, attempts = attempts + 1 \
     WHERE event_id = ANY(ARRAY(SELECT event_id FROM turns ORDER BY turn, next_attempt_at_ms LIMIT $3)) \
     RETURNING event_id, url, body, attempts, account";

/// Serialised as the `tg_outbox.state` values: `pending`, `delivered`, `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Given up: too many attempts, or the URL is refused by the guard.
    Dead,
}

/// A stored callback, for inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub event_id: String,
    pub task_id: Option<TaskId>,
    pub url: String,
    pub body: Value,
    pub state: DeliveryState,
    /// When the callback was recorded, in Unix milliseconds.
    pub created_at_ms: i64,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// One delivery attempt of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the attempt started, in Unix milliseconds.
    pub started_at_ms: i64,
    /// How long the receiver took to answer (or the attempt to fail), in milliseconds.
    pub latency_ms: u64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed: a non-2xx status, a connection error, a refused target.
    pub error: Option<String>,
}

/// A stored callback with every delivery attempt so far, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRecord {
    pub entry: OutboxEntry,
    pub attempts: Vec<DeliveryAttempt>,
}

/// Which callbacks [`Outbox::list`] returns.
#[derive(Debug, Clone)]
pub struct CallbackFilter {
    /// Only the callbacks of this task.
    pub task_id: Option<TaskId>,
    /// At most this many, the oldest first.
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Deliveries in flight at once (to any receivers).
    pub concurrency: usize,
    /// Deliveries in flight at once to one destination (scheme, host and port): a receiver
    /// that hangs holds at most this many of the `concurrency` slots, so the others' callbacks
    /// keep going out.
    pub per_destination: usize,
    /// Deliveries in flight at once on this node for one account (the task's; callbacks of no
    /// task share one account): an account whose receivers hang, however many, holds at most
    /// this many of the `concurrency` slots.
    pub per_account: usize,
    /// How long a callback due while its destination is at `per_destination`, or its account at
    /// `per_account`, waits before it is looked at again (its attempt is not counted).
    pub destination_busy_delay: Duration,
    pub claim_batch: u32,
    /// How often to look for due retries and other nodes' callbacks.
    pub poll_interval: Duration,
    /// Per-request timeout; a claimed delivery is retried by others after twice this.
    pub request_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// After this many failed attempts the callback is marked dead.
    pub max_attempts: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            per_destination: 4,
            per_account: 8,
            destination_busy_delay: Duration::from_millis(500),
            claim_batch: 64,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            max_attempts: 30,
        }
    }
}

/// Wakes the delivery loop; handed to the engine so finished tasks' callbacks go out at once.
#[derive(Debug, Clone)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

struct Inner {
    store: Store,
    config: OutboxConfig,
    client: GuardedClient,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
    /// Deliveries in flight per destination.
    lanes: Lanes,
    /// Deliveries in flight per account.
    accounts: Lanes,
    stop: CancellationToken,
    loop_handle: Mutex<Option<JoinHandle<()>>>,
}

/// The delivery service. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Due {
    event_id: String,
    url: String,
    body: String,
    attempts: u32,
    account: String,
}

impl Outbox {
    /// `client` decides which receivers are reachable; build it from the URL policy.
    pub fn new(store: Store, config: OutboxConfig, client: GuardedClient) -> Self {
        Self::with_providers(store, config, client, Arc::new(SystemClock), Arc::new(OsEntropy))
    }

    pub fn with_providers(
        store: Store,
        config: OutboxConfig,
        client: GuardedClient,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                client,
                clock,
                entropy,
                wake: Arc::new(Notify::new()),
                slots,
                lanes: Lanes::default(),
                accounts: Lanes::default(),
                stop: CancellationToken::new(),
                loop_handle: Mutex::new(None),
            }),
        }
    }

    pub fn waker(&self) -> OutboxWaker {
        OutboxWaker(self.inner.wake.clone())
    }

    /// Starts delivering. Needs a Tokio runtime.
    pub fn start(&self) {
        let mut handle = self.inner.loop_handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if handle.is_none() {
            *handle = Some(tokio::spawn(Inner::delivery_loop(self.inner.clone())));
        }
    }

    /// Stops claiming and waits for deliveries in flight (bounded by the request timeout).
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let handle = self.inner.loop_handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        let all = u32::try_from(self.inner.config.concurrency.max(1)).unwrap_or(u32::MAX);
        let _ = self.inner.slots.acquire_many(all).await;
    }

    /// Records a callback not tied to finishing a task (e.g. a live push's progress event).
    pub async fn enqueue(&self, callback: Callback, task_id: Option<&TaskId>) -> Result<String, StoreError> {
        let mut tx = self.inner.store.begin().await?;
        let id = self.enqueue_in(&mut tx, callback, task_id).await?;
        tx.commit().await?;
        self.inner.wake.notify_one();
        Ok(id)
    }

    /// Records a callback inside the caller's transaction; returns its event id.
    pub async fn enqueue_in(
        &self,
        tx: &mut Tx,
        callback: Callback,
        task_id: Option<&TaskId>,
    ) -> Result<String, StoreError> {
        let event_id = callback.event_id.unwrap_or_else(|| self.inner.entropy.uuid_v4().to_string());
        let now = self.inner.clock.now_ms();
        let body = callback.body.to_string();
        on_tx!(tx, c => sqlx::query(INSERT_OUTBOX)
            .bind(now)
            .bind(event_id.as_str())
            .bind(task_id.map(TaskId::as_str))
            .bind(callback.url.as_str())
            .bind(body)
            .execute(c)
            .await?
            .rows_affected());
        Ok(event_id)
    }

    pub async fn get(&self, event_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let sql = concat!("SELECT ", outbox_columns!(), " FROM tg_outbox WHERE event_id = $1");
        on_pool!(self.inner.store.reader(), p => {
            sqlx::query(sql).bind(event_id).fetch_optional(p).await?.as_ref().map(entry_from_row).transpose()
        })
    }

    /// Callbacks recorded for a task, oldest first.
    pub async fn for_task(&self, task_id: &TaskId) -> Result<Vec<OutboxEntry>, StoreError> {
        let filter = CallbackFilter { task_id: Some(task_id.clone()), limit: u32::MAX };
        Ok(self.list(&filter).await?.into_iter().map(|record| record.entry).collect())
    }

    /// The pending callbacks of each destination (`scheme://host:port`): how many, and when
    /// the oldest was recorded (Unix milliseconds). Reads at most `limit` pending rows, oldest
    /// first, so the cost is bounded however long a backlog grows.
    pub async fn backlog(&self, limit: u32) -> Result<Vec<(String, u64, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self.inner.store.reader(), p => {
            sqlx::query("SELECT url, created_at_ms FROM tg_outbox WHERE state = 'pending' ORDER BY created_at_ms LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("url")?, row.try_get("created_at_ms")?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        let mut by_destination: std::collections::BTreeMap<String, (u64, i64)> = Default::default();
        for (url, created) in rows {
            let entry = by_destination.entry(Lanes::destination(&url)).or_insert((0, created));
            entry.0 += 1;
            entry.1 = entry.1.min(created);
        }
        Ok(by_destination.into_iter().map(|(destination, (n, oldest))| (destination, n, oldest)).collect())
    }

    /// Callbacks matching `filter`, oldest first, each with its delivery attempts.
    pub async fn list(&self, filter: &CallbackFilter) -> Result<Vec<CallbackRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM tg_outbox WHERE ($1 IS NULL OR task_id = $1) ORDER BY created_at_ms, event_id LIMIT $2"
        );
        let attempts_sql = "SELECT attempt, started_at_ms, latency_ms, status, error FROM tg_outbox_attempts \
                            WHERE event_id = $1 ORDER BY attempt";
        on_pool!(self.inner.store.reader(), p => {
            let rows = sqlx::query(sql)
                .bind(filter.task_id.as_ref().map(TaskId::as_str))
                .bind(i64::from(filter.limit))
                .fetch_all(p)
                .await?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let entry = entry_from_row(row)?;
                let attempts = sqlx::query(attempts_sql)
                    .bind(entry.event_id.as_str())
                    .fetch_all(p)
                    .await?
                    .iter()
                    .map(attempt_from_row)
                    .collect::<Result<Vec<_>, StoreError>>()?;
                records.push(CallbackRecord { entry, attempts });
            }
            Ok(records)
        })
    }
}

macro_rules! outbox_columns {
    () => {
        "event_id, task_id, url, body, state, created_at_ms, attempts, next_attempt_at_ms, delivered_at_ms, last_error"
    };
}
use outbox_columns;

fn entry_from_row<R: sqlx::Row>(r: &R) -> Result<OutboxEntry, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let body: String = r.try_get("body")?;
    let state: String = r.try_get("state")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxEntry {
        event_id: r.try_get("event_id")?,
        task_id: r.try_get::<Option<String>, _>("task_id")?.map(TaskId::new),
        url: r.try_get("url")?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt { what: "callback body", detail: e.to_string() })?,
        state: match state.as_str() {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "dead" => DeliveryState::Dead,
            _ => return Err(StoreError::Corrupt { what: "callback state", detail: state }),
        },
        created_at_ms: r.try_get("created_at_ms")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        delivered_at_ms: r.try_get("delivered_at_ms")?,
        last_error: r.try_get("last_error")?,
    })
}

fn attempt_from_row<R: sqlx::Row>(r: &R) -> Result<DeliveryAttempt, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let attempt: i64 = r.try_get("attempt")?;
    let latency_ms: i64 = r.try_get("latency_ms")?;
    let status: Option<i64> = r.try_get("status")?;
    Ok(DeliveryAttempt {
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        started_at_ms: r.try_get("started_at_ms")?,
        latency_ms: u64::try_from(latency_ms).unwrap_or(0),
        status: status.and_then(|s| u16::try_from(s).ok()),
        error: r.try_get("error")?,
    })
}

enum Delivery {
    Delivered,
    Failed(String),
    Refused(String),
}

/// One delivery attempt as it went: the result and what is kept of it.
struct Attempt {
    started_at_ms: i64,
    latency_ms: i64,
    status: Option<u16>,
    delivery: Delivery,
}

impl Inner {
    async fn claim(&self, max: u32) -> Result<Vec<Due>, StoreError> {
        let now = self.clock.now_ms();
        let hold_until = now.saturating_add(duration_ms(self.config.request_timeout) * 2);
        let full = self.accounts.full(self.config.per_account);
        macro_rules! run_claim {
            ($sql:expr, $p:expr, $full:expr) => {
                sqlx::query($sql)
                    .bind(hold_until)
                    .bind(now)
                    .bind(i64::from(max))
                    .bind($full)
                    .fetch_all($p)
                    .await?
                    .iter()
                    .map(|r| {
                        let attempts: i64 = r.try_get("attempts")?;
                        Ok(Due {
                            event_id: r.try_get("event_id")?,
                            url: r.try_get("url")?,
                            body: r.try_get("body")?,
                            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                            account: r.try_get("account")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            };
        }
        Ok(match self.store.writer() {
            Pool::Sqlite(p) => run_claim!(CLAIM_SQLITE, p, serde_json::to_string(&full).expect("strings serialize")),
            Pool::Postgres(p) => run_claim!(CLAIM_POSTGRES, p, &full),
        })
    }

    async fn delivery_loop(self: Arc<Self>) {
        loop {
            let Some(mut slots) = acquire_batch(&self.slots, self.config.claim_batch as usize, &self.stop).await else {
                return;
            };
            let wanted = slots.len();
            let due = match self.claim(u32::try_from(wanted).unwrap_or(u32::MAX)).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming callbacks failed");
                    Vec::new()
                }
            };
            let got = due.len();
            let mut busy = Vec::new();
            for (d, slot) in due.into_iter().zip(slots.drain(..)) {
                let places = self
                    .lanes
                    .enter(Lanes::destination(&d.url), self.config.per_destination)
                    .and_then(|lane| Some((lane, self.accounts.enter(d.account.clone(), self.config.per_account)?)));
                let Some(places) = places else {
                    busy.push(d.event_id);
                    continue;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    let attempt = me.attempt(&d).await;
                    if let Err(e) = me.record(&d, attempt).await {
                        tracing::warn!(event = %d.event_id, error = %e, "recording a delivery failed; it will be retried");
                    }
                    drop(places);
                    drop(slot);
                });
            }
            drop(slots);
            if let Err(e) = self.postpone(&busy).await {
                tracing::warn!(error = %e, "postponing callbacks of busy destinations failed; they are retried later");
            }
            if got < wanted {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    () = self.stop.cancelled() => return,
                }
            }
        }
    }

    async fn attempt(&self, d: &Due) -> Attempt {
        let started_at_ms = self.clock.now_ms();
        let started = std::time::Instant::now();
        let (status, delivery) = self.deliver(d).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        Attempt { started_at_ms, latency_ms, status, delivery }
    }

    /// The receiver's HTTP status, when it answered, and what that means for the callback.
    async fn deliver(&self, d: &Due) -> (Option<u16>, Delivery) {
        let req = match self.client.request(Method::POST, &d.url) {
            Ok(r) => r,
            Err(e) => return (None, Delivery::Refused(e.to_string())),
        };
        let res = req
            .header(EVENT_ID_HEADER, d.event_id.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), Delivery::Delivered),
            Ok(r) => (Some(r.status().as_u16()), Delivery::Failed(format!("receiver answered {}", r.status()))),
            Err(e) => match guard_error(&e) {
                Some(g) => (None, Delivery::Refused(g.to_string())),
                None => (None, Delivery::Failed(e.to_string())),
            },
        }
    }

    /// Hands claimed callbacks whose destination or account is busy back, uncounted, for a little later.
    async fn postpone(&self, event_ids: &[String]) -> Result<(), StoreError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let at = self.clock.now_ms().saturating_add(duration_ms(self.config.destination_busy_delay));
        // One statement for the whole batch: the loop claims again only after it.
        match self.store.writer() {
            Pool::Sqlite(p) => {
                let ids = serde_json::to_string(event_ids).expect("strings serialize");
                sqlx::query(
                    "UPDATE tg_outbox SET attempts = attempts - 1, next_attempt_at_ms = $1 \
                     WHERE event_id IN (SELECT value FROM json_each($2)) AND state = 'pending'",
                )
                .bind(at)
                .bind(ids)
                .execute(p)
                .await?;
            }
            Pool::Postgres(p) => {
                sqlx::query(
                    "UPDATE tg_outbox SET attempts = attempts - 1, next_attempt_at_ms = $1 \
                     WHERE event_id = ANY($2) AND state = 'pending'",
                )
                .bind(at)
                .bind(event_ids)
                .execute(p)
                .await?;
            }
        }
        Ok(())
    }

    fn backoff_ms(&self, attempts: u32) -> i64 {
        jittered_backoff_ms(self.config.backoff_base, self.config.backoff_max, attempts, self.entropy.as_ref())
    }

    async fn record(&self, d: &Due, attempt: Attempt) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let error = match &attempt.delivery {
            Delivery::Delivered => None,
            Delivery::Failed(error) | Delivery::Refused(error) => Some(error.as_str()),
        };
        let pool = self.store.writer();
        on_pool!(pool, p => sqlx::query(
            "INSERT INTO tg_outbox_attempts (event_id, attempt, started_at_ms, latency_ms, status, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, attempt) DO NOTHING",
        )
        .bind(d.event_id.as_str())
        .bind(i64::from(d.attempts))
        .bind(attempt.started_at_ms)
        .bind(attempt.latency_ms)
        .bind(attempt.status.map(i64::from))
        .bind(error)
        .execute(p)
        .await?
        .rows_affected());
        match attempt.delivery {
            Delivery::Delivered => {
                on_pool!(pool, p => sqlx::query(
                    "UPDATE tg_outbox SET state = 'delivered', delivered_at_ms = $1, last_error = NULL \
                     WHERE event_id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(d.event_id.as_str())
                .execute(p)
                .await?
                .rows_affected());
            }
            Delivery::Failed(error) if d.attempts < self.config.max_attempts => {
                tracing::debug!(event = %d.event_id, attempts = d.attempts, %error, "callback delivery failed; will retry");
                let at = now + self.backoff_ms(d.attempts);
                on_pool!(pool, p => sqlx::query(
                    "UPDATE tg_outbox SET next_attempt_at_ms = $1, last_error = $2 WHERE event_id = $3 AND state = 'pending'",
                )
                .bind(at)
                .bind(error.as_str())
                .bind(d.event_id.as_str())
                .execute(p)
                .await?
                .rows_affected());
            }
            Delivery::Failed(error) | Delivery::Refused(error) => {
                tracing::warn!(event = %d.event_id, url = %d.url, %error, "callback given up");
                on_pool!(pool, p => sqlx::query(
                    "UPDATE tg_outbox SET state = 'dead', last_error = $1 WHERE event_id = $2 AND state = 'pending'",
                )
                .bind(error.as_str())
                .bind(d.event_id.as_str())
                .execute(p)
                .await?
                .rows_affected());
            }
        }
        Ok(())
    }
}

/// Deliveries in flight per key: a destination (`scheme://host:port`, or the whole URL when it
/// does not parse: the guard refuses it anyway) or an account.
#[derive(Default, Clone)]
struct Lanes(Arc<Mutex<std::collections::HashMap<String, usize>>>);

/// A delivery's place in its key's lane, given back when dropped.
struct Lane {
    lanes: Lanes,
    key: String,
}

impl Lanes {
    fn destination(url: &str) -> String {
        match url::Url::parse(url) {
            Ok(u) => format!(
                "{}://{}:{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(0)
            ),
            Err(_) => url.to_owned(),
        }
    }

    /// The keys with `cap` or more deliveries in flight.
    fn full(&self, cap: usize) -> Vec<String> {
        let lanes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lanes.iter().filter(|(_, in_flight)| **in_flight >= cap.max(1)).map(|(key, _)| key.clone()).collect()
    }

    /// A place in `key`'s lane if fewer than `cap` deliveries of it are in flight.
    fn enter(&self, key: String, cap: usize) -> Option<Lane> {
        let mut lanes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let in_flight = lanes.entry(key.clone()).or_default();
        if *in_flight >= cap.max(1) {
            return None;
        }
        *in_flight += 1;
        Some(Lane { lanes: self.clone(), key })
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let mut lanes = self.lanes.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(in_flight) = lanes.get_mut(&self.key) {
            *in_flight -= 1;
            if *in_flight == 0 {
                lanes.remove(&self.key);
            }
        }
    }
}
