//! The database: one logical schema on SQLite (default) or PostgreSQL, opened from a URL,
//! migrated at open, shared by the engine and by products for their own tables.
//!
//! Why an enum over two typed pools rather than `sqlx::Any`: `Any` erases types to a
//! lowest common denominator (no native `BOOLEAN`/`BIGINT` distinctions, no typed
//! transactions for products, a runtime driver registry), while the two backends need
//! different SQL in exactly the places that matter (claiming with `FOR UPDATE SKIP LOCKED`,
//! SQLite's single writer). With the enum the shared SQL is written once and compiled
//! for both drivers by [`on_pool!`](crate::on_pool) / [`on_tx!`](crate::on_tx).

use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Postgres, Sqlite, Transaction,
    migrate::{Migrate as _, MigrateError, Migrator},
    postgres::{PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::Notify;

pub use crate::backend::Backend;
use crate::{
    migrations::{self, DuplicateVersion, MigrationSet},
    signals::Signals,
};

/// sqlx's record of applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// A connection pool of either backend. Match on it (or use [`on_pool!`](crate::on_pool))
/// to run backend-specific or shared SQL.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction of either backend.
#[derive(Debug)]
pub enum TxConn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction. Products insert their own rows and submit tasks
/// ([`Engine::submit_in`](crate::engine::Engine::submit_in)) in one of these so both commit
/// or neither does; committing also wakes the local workers for the submitted kinds.
#[derive(Debug)]
pub struct Tx {
    conn: TxConn,
    wake_on_commit: Vec<Arc<Notify>>,
    /// `(channel, payload)` pairs sent as `NOTIFY` by the commit (PostgreSQL only).
    notify_on_commit: Vec<(&'static str, String)>,
}

/// Sends a transaction's notifications in one statement; PostgreSQL delivers them when (and
/// only if) the transaction commits.
const NOTIFY: &str =
    "SELECT pg_notify(n.channel, n.payload) FROM unnest($1::text[], $2::text[]) AS n(channel, payload)";

/// One statement over a batch of rows, run in one round trip: written once over a row source
/// `v` and compiled for each backend, which differ only in how the rows travel. PostgreSQL binds
/// one array per column and reads them with `unnest(…) AS v(…)`; SQLite, which has no arrays,
/// binds the rows as one JSON array of arrays ([`json_rows`]) and reads them with
/// `json_each(…)`. Scalars shared by every row come first (`$1`), the rows after.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batched {
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// `text` as a `LIKE` pattern matching any value that contains it, `%`, `_` and `\` taken
/// literally: bind it as `… LIKE $n ESCAPE '\'` (the same on SQLite and PostgreSQL).
pub fn like_containing(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Rows (tuples of strings, integers and options of them) as the JSON a [`Batched`] statement
/// reads on SQLite.
pub(crate) fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt { what: "batch rows", detail: e.to_string() })
}

impl Tx {
    pub fn conn(&mut self) -> &mut TxConn {
        &mut self.conn
    }

    pub fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Sqlite(_) => Backend::Sqlite,
            TxConn::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn wake_on_commit(&mut self, notify: Arc<Notify>) {
        if !self.wake_on_commit.iter().any(|n| Arc::ptr_eq(n, &notify)) {
            self.wake_on_commit.push(notify);
        }
    }

    /// Has the commit tell the other nodes' [`Signals`] subscribers of `channel` about
    /// `payload` (at most 8,000 bytes, PostgreSQL's limit). Repeats of the same pair in one
    /// transaction are sent once. Does nothing on SQLite, which serves one node.
    pub fn notify_on_commit(&mut self, channel: &'static str, payload: String) {
        if matches!(self.conn, TxConn::Postgres(_))
            && !self.notify_on_commit.iter().any(|(c, p)| *c == channel && *p == payload)
        {
            self.notify_on_commit.push((channel, payload));
        }
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(t) => t.commit().await?,
            TxConn::Postgres(mut t) => {
                if !self.notify_on_commit.is_empty() {
                    let (channels, payloads): (Vec<&str>, Vec<String>) = self.notify_on_commit.drain(..).unzip();
                    sqlx::query(NOTIFY).bind(channels).bind(payloads).execute(&mut *t).await?;
                }
                t.commit().await?
            }
        }
        for n in self.wake_on_commit {
            n.notify_one();
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(t) => t.rollback().await?,
            TxConn::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$p` bound to the backend's typed pool; the body is compiled once per
/// backend, so it must be SQL both understand (`$1` placeholders work on both).
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's typed connection (`&mut SqliteConnection`
/// or `&mut PgConnection`), usable as a sqlx executor.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx.conn() {
            $crate::store::TxConn::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::TxConn::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    DuplicateMigration(#[from] DuplicateVersion),
    #[error("stored {what} is malformed: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()))
    }
}

/// Pool sizes and timeouts. The defaults suit one server process.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for readers (SQLite) or for everything (PostgreSQL).
    pub max_connections: u32,
    /// How long SQLite waits for another process's write lock before failing.
    pub busy_timeout: Duration,
    pub acquire_timeout: Duration,
    /// PostgreSQL: signals ([`crate::signals`]) one subscriber may fall behind before it reads
    /// the store instead of being told; each is a payload of a few dozen bytes.
    pub signal_buffer: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            signal_buffer: 1024,
        }
    }
}

/// The opened, migrated database.
///
/// SQLite allows one writer at a time; rather than letting several pooled connections fight
/// for the lock (SQLite's busy handler backs off in coarse sleeps, which ruins throughput),
/// all writes go through a single-connection writer pool, and transactions start with
/// `BEGIN IMMEDIATE` so a read-then-write transaction can never fail on lock upgrade.
/// On PostgreSQL reader and writer are the same pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    reader: Pool,
    writer: Pool,
    signals: Arc<Signals>,
}

impl Store {
    /// Opens `sqlite://path` (file created if missing; WAL, `synchronous=NORMAL` which is
    /// durable against process crashes, busy timeout, foreign keys) or `postgres://…`
    /// (a `?options=-c search_path=…` parameter selects a schema), then applies the engine's
    /// migrations and those of `migrations` (e.g. a product's tables), in version order.
    ///
    /// # Errors
    /// Besides connection errors: [`StoreError::DuplicateMigration`] when two sets share a
    /// version, [`StoreError::Migrate`] when the database applied a migration none of the sets
    /// knows, or a text of one that is neither its current nor a listed earlier one.
    pub async fn open(
        database_url: &str,
        options: &StoreOptions,
        migrations: &[&MigrationSet],
    ) -> Result<Self, StoreError> {
        let store = if database_url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(database_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(options.busy_timeout)
                .foreign_keys(true);
            // sqlx pings a pooled connection before handing it out, by default: a round trip to
            // the connection's worker thread that can only matter for a network connection, and
            // that costs as much as a point query. A SQLite file connection cannot go stale.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(connect.clone())
                .await?;
            // An in-memory database exists per connection, so readers must share the writer.
            let reader = if database_url.contains(":memory:") {
                writer.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.acquire_timeout)
                    .test_before_acquire(false)
                    .connect_with(connect.read_only(true))
                    .await?
            };
            Store {
                backend: Backend::Sqlite,
                reader: Pool::Sqlite(reader),
                writer: Pool::Sqlite(writer),
                signals: Arc::new(Signals::new(options.signal_buffer)),
            }
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(options.acquire_timeout)
                .connect(database_url)
                .await?;
            Store {
                backend: Backend::Postgres,
                reader: Pool::Postgres(pool.clone()),
                writer: Pool::Postgres(pool),
                signals: Arc::new(Signals::new(options.signal_buffer)),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(database_url.to_owned()));
        };
        store.migrate(migrations).await?;
        Ok(store)
    }

    async fn migrate(&self, sets: &[&MigrationSet]) -> Result<(), StoreError> {
        let applied = self.applied_checksums().await?;
        let migrator = Migrator::with_migrations(migrations::plan(sets, self.backend, &applied)?);
        match &self.writer {
            Pool::Sqlite(p) => migrator.run(p).await?,
            Pool::Postgres(p) => migrator.run(p).await?,
        }
        Ok(())
    }

    /// The checksum the database recorded for each applied migration, so a migration whose
    /// text was rewritten can present the one it was applied with.
    async fn applied_checksums(&self) -> Result<HashMap<i64, Vec<u8>>, StoreError> {
        let applied = match &self.writer {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                conn.ensure_migrations_table(MIGRATIONS_TABLE).await?;
                conn.list_applied_migrations(MIGRATIONS_TABLE).await?
            }
            Pool::Postgres(p) => {
                let mut conn = p.acquire().await?;
                conn.ensure_migrations_table(MIGRATIONS_TABLE).await?;
                conn.list_applied_migrations(MIGRATIONS_TABLE).await?
            }
        };
        Ok(applied.into_iter().map(|m| (m.version, m.checksum.into_owned())).collect())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For queries. On SQLite these connections are read-only.
    pub fn reader(&self) -> &Pool {
        &self.reader
    }

    /// For single-statement writes outside a transaction.
    pub fn writer(&self) -> &Pool {
        &self.writer
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let conn = match &self.writer {
            Pool::Sqlite(p) => TxConn::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => TxConn::Postgres(p.begin().await?),
        };
        Ok(Tx { conn, wake_on_commit: Vec::new(), notify_on_commit: Vec::new() })
    }

    /// The node's signal subscriptions (see [`crate::signals`]); shared by every clone.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// Starts the node's one `LISTEN` connection for the channels subscribed so far (PostgreSQL;
    /// nothing on SQLite). Call once every part of the node subscribed; it ends at [`Store::close`].
    pub fn start_signals(&self) {
        if let Pool::Postgres(pool) = &self.writer {
            self.signals.start(pool);
        }
    }

    /// Sends `NOTIFY channel, payload` for each payload at once, outside any transaction, for
    /// rows already committed (PostgreSQL; nothing on SQLite).
    pub(crate) async fn notify_now(&self, channel: &'static str, payloads: Vec<String>) -> Result<(), StoreError> {
        if let Pool::Postgres(pool) = &self.writer
            && !payloads.is_empty()
        {
            let channels = vec![channel; payloads.len()];
            sqlx::query(NOTIFY).bind(channels).bind(payloads).execute(pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match (&self.reader, &self.writer) {
            (Pool::Sqlite(r), Pool::Sqlite(w)) => {
                r.close().await;
                w.close().await;
            }
            (Pool::Postgres(p), _) | (_, Pool::Postgres(p)) => p.close().await,
        }
    }
}
