//! Nothing accepted is lost: worker processes are SIGKILLed mid-work, and every task still
//! finishes exactly once and every callback arrives at least once.

mod common;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use common::{Receiver, TestDb, wait_for};
use serde_json::json;
use sqlx::Row as _;
use taskgate_engine::{Engine, EngineConfig, NewTask, TaskFilter, TaskKind, TaskState, on_pool};

const KIND: TaskKind = TaskKind::from_static("crash.noop");

/// The `crash_worker` example next to this test binary, built first if `cargo test` was
/// asked for this test target alone.
fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let bin = profile_dir.join("examples").join("crash_worker");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "taskgate-engine", "--example", "crash_worker"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building crash_worker failed");
    }
    bin
}

struct Worker(Child);

impl Worker {
    fn spawn(db: &TestDb, node: &str, work_ms: u32) -> Self {
        let child = Command::new(worker_binary())
            .args([db.url.as_str(), node, &work_ms.to_string(), "16"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Worker(child)
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    fn terminate(mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert!(self.0.wait().unwrap().success(), "graceful exit");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn count_in(engine: &Engine, state: TaskState) -> usize {
    let all = engine.list(&TaskFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    all.iter().filter(|t| t.state == state).count()
}

async fn submit(engine: &Engine, n: usize, receiver: &Receiver) {
    let tasks = (0..n).map(|i| NewTask::new(format!("crash-{i:04}"), "1", KIND, json!({ "callback": receiver.url() })));
    engine.submit_many(tasks.collect()).await.unwrap();
}

/// Every task succeeded, exactly one completion (one outbox event) each, and the receiver
/// saw every event.
async fn assert_all_finished_once(db: &TestDb, engine: &Engine, receiver: &Receiver, n: usize) {
    let unfinished = TaskFilter { unfinished_only: true, limit: 1, ..Default::default() };
    wait_for("every task to finish", || async { (engine.count(&unfinished).await.unwrap() == 0).then_some(()) }).await;
    assert_eq!(count_in(engine, TaskState::Succeeded).await, n);

    let per_task: Vec<(String, i64)> = on_pool!(db.store.reader(), p => {
        sqlx::query("SELECT task_id, COUNT(*) AS n FROM tg_outbox GROUP BY task_id")
            .fetch_all(p)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("task_id"), r.get("n")))
            .collect()
    });
    assert_eq!(per_task.len(), n, "one completion recorded per task");
    assert!(per_task.iter().all(|(_, c)| *c == 1));

    receiver
        .wait_until("every callback", |hits| {
            hits.iter().filter(|h| h.status == 200).map(|h| &h.event_id).collect::<std::collections::HashSet<_>>().len()
                == n
        })
        .await;
    for i in 0..n {
        assert!(receiver.delivered().contains_key(&format!("crash-{i:04}")));
    }
}

async fn sigkill_mid_work_then_restart_finishes_every_task_once(db: TestDb) {
    let n = 300;
    let receiver = Receiver::start(0).await;
    let engine = Engine::builder(db.store.clone(), EngineConfig::default()).build();
    submit(&engine, n, &receiver).await;

    let first = Worker::spawn(&db, "first", 20);
    wait_for("some progress", || async { (count_in(&engine, TaskState::Succeeded).await >= 30).then_some(()) }).await;
    first.kill9();
    let running = count_in(&engine, TaskState::Running).await;
    let done = count_in(&engine, TaskState::Succeeded).await;
    assert!(done < n, "the kill came mid-work ({done} of {n} done, {running} leased)");

    let second = Worker::spawn(&db, "second", 1);
    assert_all_finished_once(&db, &engine, &receiver, n).await;
    second.terminate();
}

/// PostgreSQL only: SQLite is the single-node backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_one_killed_the_other_finishes_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let n = 400;
    let receiver = Receiver::start(0).await;
    let engine = Engine::builder(db.store.clone(), EngineConfig::default()).build();
    submit(&engine, n, &receiver).await;

    let doomed = Worker::spawn(&db, "doomed", 20);
    let survivor = Worker::spawn(&db, "survivor", 20);
    let leased_by_doomed = || async {
        let all = engine.list(&TaskFilter { limit: 10_000, ..Default::default() }).await.unwrap();
        let held = all.iter().filter(|t| t.lease_owner.as_deref() == Some("doomed")).count();
        (held > 0 && all.iter().any(|t| t.lease_owner.as_deref() == Some("survivor"))).then_some(())
    };
    wait_for("both workers busy", leased_by_doomed).await;
    doomed.kill9();

    assert_all_finished_once(&db, &engine, &receiver, n).await;
    let all = engine.list(&TaskFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    assert!(all.iter().any(|t| t.attempts > 1), "the survivor rescued the dead worker's leases");
    survivor.terminate();
}

both_backends!(sigkill_mid_work_then_restart_finishes_every_task_once);
