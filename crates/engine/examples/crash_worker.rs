//! A worker process for the crash tests: runs an engine whose executor pretends to work for
//! a few milliseconds and then finishes with a callback, plus the outbox delivering it.
//!
//! `crash_worker <database_url> <node_id> [work_ms] [concurrency]`; stops gracefully on
//! SIGTERM or Ctrl-C, and is otherwise meant to be killed.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::json;
use taskgate_engine::{
    Callback, Engine, EngineConfig, ExecError, Executor, KindOptions, Outbox, OutboxConfig, Outcome, Store,
    StoreOptions, TaskContext, TaskKind,
    url_guard::{GuardedClient, UrlPolicy},
};

const KIND: TaskKind = TaskKind::from_static("crash.noop");

struct Pretend {
    work: Duration,
}

#[async_trait]
impl Executor for Pretend {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let callback_url =
            ctx.input()["callback"].as_str().ok_or_else(|| ExecError::permanent("no callback"))?.to_owned();
        tokio::select! {
            () = tokio::time::sleep(self.work) => {}
            () = ctx.cancel_token().cancelled() => return Err(ExecError::cancelled("stopped")),
        }
        // The task id as event id: a task finishes once, so it has one event.
        let callback =
            Callback::new(callback_url, json!({ "TaskId": ctx.id().as_str() })).with_event_id(ctx.id().as_str());
        Ok(Outcome::new(json!({ "attempt": ctx.attempt(), "lease_no": ctx.lease().lease_no })).with_callback(callback))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, node, rest @ ..] = args.as_slice() else {
        eprintln!("usage: crash_worker <database_url> <node_id> [work_ms] [concurrency]");
        std::process::exit(2);
    };
    let work_ms: u64 = rest.first().map_or(10, |s| s.parse().expect("work_ms"));
    let concurrency: usize = rest.get(1).map_or(16, |s| s.parse().expect("concurrency"));

    let store = Store::open(url, &StoreOptions::default(), &[]).await.expect("open store");
    let policy = UrlPolicy { allow_private_targets: true, ..UrlPolicy::default() };
    let outbox_config = OutboxConfig {
        poll_interval: Duration::from_millis(50),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        request_timeout: Duration::from_secs(2),
        ..OutboxConfig::default()
    };
    let outbox = Outbox::new(store.clone(), outbox_config, GuardedClient::new(policy, Duration::from_secs(2)).unwrap());
    let config = EngineConfig {
        node_id: Some(node.clone()),
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        reap_interval: Duration::from_millis(200),
        claim_batch: 8,
        default_max_attempts: 10,
        ..EngineConfig::default()
    };
    let engine = Engine::builder(store, config)
        .outbox(outbox.waker())
        .executor(
            KIND,
            KindOptions::concurrency(concurrency),
            Arc::new(Pretend { work: Duration::from_millis(work_ms) }),
        )
        .build();
    outbox.start();
    engine.start().expect("start engine");
    println!("ready {node}");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    engine.shutdown(Duration::from_secs(5)).await;
    outbox.shutdown().await;
}
