//! Throughput of the engine: no-op tasks created and finished per second, end to end,
//! against a baseline of plain inserts of the same rows, on SQLite and (when given) on
//! PostgreSQL.
//!
//! `engine_bench [--tasks N] [--pg postgres://…]`; `TASKGATE_TEST_PG_URL` also selects
//! PostgreSQL.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde_json::json;
use taskgate_engine::{
    Engine, EngineConfig, ExecError, Executor, KindOptions, NewTask, Outcome, Store, StoreOptions, TaskContext,
    TaskFilter, TaskKind, on_tx, testing::PostgresSchema,
};

const KIND: TaskKind = TaskKind::from_static("bench.noop");
const SUBMIT_BATCH: usize = 500;

struct Noop;

#[async_trait]
impl Executor for Noop {
    async fn execute(&self, _ctx: TaskContext) -> Result<Outcome, ExecError> {
        Ok(Outcome::new(json!(null)))
    }
}

fn tasks(n: usize) -> impl Iterator<Item = Vec<NewTask>> {
    (0..n)
        .map(|i| NewTask::new(format!("bench-{i:08}"), "100001", KIND, json!({ "i": i })))
        .collect::<Vec<_>>()
        .chunks(SUBMIT_BATCH)
        .map(<[NewTask]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter()
}

/// The same rows, inserted with plain statements in transactions of the same size.
async fn baseline(store: &Store, n: usize) -> f64 {
    let start = Instant::now();
    for batch in tasks(n) {
        let mut tx = store.begin().await.unwrap();
        for t in batch {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO tg_tasks (id, account, kind, state, input, created_at_ms, max_attempts, next_run_at_ms) \
                 VALUES ($1, $2, $3, 'queued', $4, $5, 5, $5)",
            )
            .bind(t.id.as_str())
            .bind(t.account.as_str())
            .bind(t.kind.as_str())
            .bind(t.input.to_string())
            .bind(0i64)
            .execute(c)
            .await
            .unwrap()
            .rows_affected());
        }
        tx.commit().await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Submit everything while the workers run; stop the clock when the last task is finished.
async fn end_to_end(store: Store, n: usize) -> f64 {
    let config = EngineConfig {
        claim_batch: 512,
        complete_batch: 2048,
        poll_interval: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let engine = Engine::builder(store, config).executor(KIND, KindOptions::concurrency(1024), Arc::new(Noop)).build();
    engine.start().unwrap();
    let start = Instant::now();
    let submitter = {
        let engine = engine.clone();
        tokio::spawn(async move {
            for batch in tasks(n) {
                engine.submit_many(batch).await.unwrap();
            }
        })
    };
    submitter.await.unwrap();
    let unfinished = TaskFilter { unfinished_only: true, limit: 1, ..Default::default() };
    while engine.count(&unfinished).await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    engine.shutdown(Duration::from_secs(5)).await;
    rate
}

async fn fresh_sqlite() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("taskgate-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    (Store::open(&url, &StoreOptions::default(), &[]).await.unwrap(), dir)
}

async fn fresh_pg(base: &str) -> (Store, PostgresSchema) {
    let options = StoreOptions { max_connections: 16, ..StoreOptions::default() };
    Store::open_in_fresh_schema(base, &options, &[]).await.unwrap()
}

fn report(backend: &str, n: usize, base: f64, e2e: f64) {
    println!("{backend:<10} {n:>8} {base:>22.0} {e2e:>24.0} {:>8.2}", e2e / base);
}

#[tokio::main]
async fn main() {
    let mut n = 20_000usize;
    let mut pg = std::env::var("TASKGATE_TEST_PG_URL").ok();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tasks" => n = args.next().and_then(|v| v.parse().ok()).expect("--tasks N"),
            "--pg" => pg = Some(args.next().expect("--pg URL")),
            other => panic!("unknown argument {other}; usage: engine_bench [--tasks N] [--pg URL]"),
        }
    }
    println!(
        "{:<10} {:>8} {:>22} {:>24} {:>8}",
        "backend", "tasks", "baseline inserts/s", "engine created+done/s", "ratio"
    );

    let (store, dir) = fresh_sqlite().await;
    let base = baseline(&store, n).await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
    let (store, dir) = fresh_sqlite().await;
    let e2e = end_to_end(store.clone(), n).await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
    report("sqlite", n, base, e2e);

    if let Some(pg) = pg {
        let (store, schema) = fresh_pg(&pg).await;
        let base = baseline(&store, n).await;
        store.close().await;
        schema.drop(&pg).await.unwrap();
        let (store, schema) = fresh_pg(&pg).await;
        let e2e = end_to_end(store.clone(), n).await;
        store.close().await;
        schema.drop(&pg).await.unwrap();
        report("postgres", n, base, e2e);
    } else {
        println!("postgres: skipped (no --pg URL and TASKGATE_TEST_PG_URL unset)");
    }
}
