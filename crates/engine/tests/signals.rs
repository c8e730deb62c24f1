//! Signals between nodes on PostgreSQL: a task made due on one node wakes the idle workers of
//! another at once, without waiting for their poll.

mod common;

use std::time::Duration;

use common::{FnExecutor, TestDb, fast_config, wait_for_state};
use serde_json::json;
use taskgate_engine::{Engine, EngineConfig, KindOptions, NewTask, Outcome, Store, StoreOptions, TaskKind, TaskState};

const ECHO: TaskKind = TaskKind::from_static("test.echo");

/// Far longer than any wait below: a task finished in time was not found by a poll.
const NO_POLL: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_submitted_on_one_node_wakes_an_idle_node_without_a_poll() {
    let Some(db) = TestDb::postgres().await else { return };
    let config = EngineConfig { poll_interval: NO_POLL, ..fast_config() };
    // The runner has a pool and a listening connection of its own, as another process would.
    let runner_store = Store::open(&db.url, &StoreOptions::default(), &[]).await.unwrap();
    let runner = Engine::builder(runner_store.clone(), config.clone())
        .executor(ECHO, KindOptions::concurrency(1), FnExecutor::new(|_| async { Ok(Outcome::new(json!(null))) }))
        .build();
    runner.start().unwrap();
    let api_node = Engine::builder(db.store.clone(), config).build();
    api_node.start().unwrap();
    for i in 0..3 {
        let id = api_node.submit(NewTask::new(format!("remote-{i}"), "1", ECHO, json!({}))).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), wait_for_state(&api_node, &id, TaskState::Succeeded))
            .await
            .expect("the idle node claimed the task without polling");
    }
    runner.shutdown(Duration::from_secs(5)).await;
    api_node.shutdown(Duration::from_secs(5)).await;
    runner_store.close().await;
}
