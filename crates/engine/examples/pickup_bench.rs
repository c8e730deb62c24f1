//! Pickup latency on PostgreSQL: from the call to `submit` until an idle worker's executor
//! starts the task, when the worker runs on the submitting node (the baseline: an in-process
//! wake) and on another node (a separate pool and listening connection, as another process
//! has; woken by `NOTIFY`). Prints p50/p95/max per case and the cross/same ratio of p95.
//!
//! `pickup_bench [--samples N] [--pg postgres://…]`; `TASKGATE_TEST_PG_URL` also selects the
//! database.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde_json::json;
use taskgate_engine::{
    Engine, EngineConfig, ExecError, Executor, KindOptions, NewTask, Outcome, Store, StoreOptions, TaskContext,
    TaskKind,
};
use tokio::sync::mpsc;

const KIND: TaskKind = TaskKind::from_static("bench.pickup");

/// Reports when each execution starts.
struct Started(mpsc::UnboundedSender<Instant>);

#[async_trait]
impl Executor for Started {
    async fn execute(&self, _ctx: TaskContext) -> Result<Outcome, ExecError> {
        let _ = self.0.send(Instant::now());
        Ok(Outcome::new(json!(null)))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// Submits `samples` tasks one at a time on `submitter`, each once the previous one started,
/// and returns the sorted latencies.
async fn measure(
    submitter: &Engine,
    started: &mut mpsc::UnboundedReceiver<Instant>,
    samples: usize,
    tag: &str,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        // Idle workers: the claim loop is waiting, not in the middle of a claim.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = Instant::now();
        submitter.submit(NewTask::new(format!("{tag}-{i:06}"), "100001", KIND, json!({}))).await.unwrap();
        let at = started.recv().await.unwrap();
        latencies.push(at.duration_since(before));
    }
    latencies.sort_unstable();
    latencies
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(case: &str, sorted: &[Duration]) {
    println!(
        "{case:<34} {:>8} {:>9.2} {:>9.2} {:>9.2}",
        sorted.len(),
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.95)),
        ms(*sorted.last().unwrap())
    );
}

#[tokio::main]
async fn main() {
    let mut samples = 300usize;
    let mut pg = std::env::var("TASKGATE_TEST_PG_URL").ok();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--samples" => samples = args.next().and_then(|v| v.parse().ok()).expect("--samples N"),
            "--pg" => pg = Some(args.next().expect("--pg URL")),
            other => panic!("unknown argument {other}; usage: pickup_bench [--samples N] [--pg URL]"),
        }
    }
    let pg = pg.expect("pickup latency needs PostgreSQL: --pg URL or TASKGATE_TEST_PG_URL");
    let config = EngineConfig::default();
    let (store_a, schema) = Store::open_in_fresh_schema(&pg, &StoreOptions::default(), &[]).await.unwrap();
    let store_b = Store::open(&schema.url, &StoreOptions::default(), &[]).await.unwrap();
    println!("poll interval (the fallback): {} ms", config.poll_interval.as_millis());
    println!("{:<34} {:>8} {:>9} {:>9} {:>9}", "case", "samples", "p50 ms", "p95 ms", "max ms");

    // Baseline: node B submits and runs.
    let (tx, mut started) = mpsc::unbounded_channel();
    let node_b = Engine::builder(store_b.clone(), config.clone())
        .executor(KIND, KindOptions::concurrency(4), Arc::new(Started(tx)))
        .build();
    node_b.start().unwrap();
    // Node A only submits: it has no worker of the kind.
    let node_a = Engine::builder(store_a.clone(), config).build();
    node_a.start().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let same = measure(&node_b, &mut started, samples, "same").await;
    let cross = measure(&node_a, &mut started, samples, "cross").await;
    report("same node (in-process wake)", &same);
    report("A -> idle B (NOTIFY)", &cross);
    println!("ratio p95 cross/same: {:.2}", ms(percentile(&cross, 0.95)) / ms(percentile(&same, 0.95)));

    node_a.shutdown(Duration::from_secs(5)).await;
    node_b.shutdown(Duration::from_secs(5)).await;
    store_a.close().await;
    store_b.close().await;
    schema.drop(&pg).await.unwrap();
}
