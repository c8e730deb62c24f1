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

/// Ends every `LISTEN` connection of the database but the caller's, as a network cut or a
/// PostgreSQL restart would. Other tests' listeners reconnect as well, which is harmless.
async fn cut_listeners(store: &Store) -> u64 {
    taskgate_engine::on_pool!(store.writer(), p => {
        sqlx::query_scalar::<_, bool>(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .fetch_all(p)
        .await
        .unwrap()
        .into_iter()
        .filter(|ended| *ended)
        .count() as u64
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_dropped_listens_again_and_claims_what_it_missed() {
    let Some(db) = TestDb::postgres().await else { return };
    let config = EngineConfig { poll_interval: NO_POLL, ..fast_config() };
    let runner_store = Store::open(&db.url, &StoreOptions::default(), &[]).await.unwrap();
    let runner = Engine::builder(runner_store.clone(), config.clone())
        .executor(ECHO, KindOptions::concurrency(1), FnExecutor::new(|_| async { Ok(Outcome::new(json!(null))) }))
        .build();
    runner.start().unwrap();
    let api_node = Engine::builder(db.store.clone(), config).build();
    let first = api_node.submit(NewTask::new("before-cut", "1", ECHO, json!({}))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), wait_for_state(&api_node, &first, TaskState::Succeeded))
        .await
        .expect("claimed while listening");
    assert!(cut_listeners(&db.store).await >= 1, "the runner's listener was connected");
    // Submitted while the listener may be down: the reconnection's catch-up claims it.
    let second = api_node.submit(NewTask::new("after-cut", "1", ECHO, json!({}))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), wait_for_state(&api_node, &second, TaskState::Succeeded))
        .await
        .expect("claimed after the listener reconnected, without a poll");
    // Past the reconnection's catch-up (which follows at most a one-second retry): only a
    // signal can wake the runner now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let third = api_node.submit(NewTask::new("listening-again", "1", ECHO, json!({}))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), wait_for_state(&api_node, &third, TaskState::Succeeded))
        .await
        .expect("claimed on a signal once listening again");
    runner.shutdown(Duration::from_secs(5)).await;
    runner_store.close().await;
}
