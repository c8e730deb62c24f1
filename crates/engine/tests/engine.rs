//! Engine behaviours, each on SQLite and PostgreSQL.

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{FnExecutor, TestDb, fast_config, until_cancelled, wait_for, wait_for_state};
use serde_json::Value;
use serde_json::json;
use taskgate_engine::{
    Abandonment, CancelOutcome, CancelReason, Clock, Engine, EngineError, ExecError, Executor, KindOptions,
    ManualClock, NewTask, Outcome, SeededEntropy, Store, StoreError, StoreOptions, Task, TaskContext, TaskFilter,
    TaskId, TaskKind, TaskSpec, TaskState, Tx, WriteOnSuccess, on_pool, on_tx,
    outbox::{Callback, Outbox},
    url_guard::GuardedClient,
};

const ECHO: TaskKind = TaskKind::from_static("test.echo");

fn echo_engine(db: &TestDb) -> Engine {
    Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(4),
            FnExecutor::new(|ctx| async move { Ok(Outcome::new(json!({ "echo": ctx.input().clone() }))) }),
        )
        .build()
}

fn outbox(db: &TestDb) -> Outbox {
    Outbox::new(
        db.store.clone(),
        Default::default(),
        GuardedClient::new(Default::default(), Duration::from_secs(1)).unwrap(),
    )
}

async fn a_submitted_task_reads_back_and_lists_newest_first_per_account(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    let id = engine.submit(NewTask::new("t-1", "100001", ECHO, json!({"n": 1}))).await.unwrap();
    clock.set(2_000);
    engine.submit(NewTask::new("t-2", "100001", ECHO, json!({"n": 2}))).await.unwrap();
    engine.submit(NewTask::new("t-3", "200002", ECHO, json!({"n": 3}))).await.unwrap();

    let t = engine.get(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Queued);
    assert_eq!(t.input, json!({"n": 1}));
    assert_eq!(t.created_at_ms, 1_000);
    assert_eq!((t.attempts, t.max_attempts, t.lease_no), (0, 5, 0));

    let mine = TaskFilter { account: Some("100001".into()), limit: 10, ..Default::default() };
    let listed: Vec<String> = engine.list(&mine).await.unwrap().into_iter().map(|t| t.id.into_string()).collect();
    assert_eq!(listed, ["t-2", "t-1"], "newest first, only the account's");
    assert_eq!(engine.count(&mine).await.unwrap(), 2);
    assert!(engine.get_for_account(&id, "200002").await.unwrap().is_none());

    let dup = engine.submit(NewTask::new("t-1", "100001", ECHO, json!({}))).await;
    assert!(matches!(dup, Err(EngineError::DuplicateTask(_))), "{dup:?}");
}

async fn a_task_submitted_in_the_callers_transaction_commits_and_rolls_back_with_it(db: TestDb) {
    let engine = echo_engine(&db);
    let mut tx = db.store.begin().await.unwrap();
    engine.submit_in(&mut tx, NewTask::new("rolled-back", "1", ECHO, json!({}))).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(engine.get(&"rolled-back".into()).await.unwrap().is_none());

    // A product's own row and the task commit together.
    let mut tx = db.store.begin().await.unwrap();
    on_tx!(tx, c => sqlx::query("UPDATE tg_tasks SET error = 'untouched' WHERE id = $1")
        .bind("nothing")
        .execute(c)
        .await
        .unwrap()
        .rows_affected());
    engine.submit_in(&mut tx, NewTask::new("committed", "1", ECHO, json!({}))).await.unwrap();
    tx.commit().await.unwrap();
    engine.start().unwrap();
    let t = wait_for_state(&engine, &"committed".into(), TaskState::Succeeded).await;
    assert_eq!(t.result, Some(json!({"echo": {}})));
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn workers_run_submitted_tasks_to_success(db: TestDb) {
    let engine = echo_engine(&db);
    engine.start().unwrap();
    let tasks = (0..50).map(|i| NewTask::new(format!("ok-{i}"), "1", ECHO, json!(i))).collect();
    engine.submit_many(tasks).await.unwrap();
    for i in 0..50 {
        let t = wait_for_state(&engine, &TaskId::new(format!("ok-{i}")), TaskState::Succeeded).await;
        assert_eq!(t.result, Some(json!({"echo": i})));
        assert_eq!(t.attempts, 1);
        assert!(t.lease_owner.is_none() && t.finished_at_ms.is_some() && t.started_at_ms.is_some());
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn a_stale_lease_cannot_finish_its_task(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let a = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    let b = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    a.submit(NewTask::new("fenced", "1", ECHO, json!({}))).await.unwrap();

    let first = a.claim(&ECHO, 1).await.unwrap().remove(0);
    assert_eq!(first.lease_no, 1);
    clock.advance(Duration::from_secs(60));
    assert_eq!(b.reap_expired().await.unwrap(), 1);
    let second = b.claim(&ECHO, 1).await.unwrap().remove(0);
    assert!(second.lease_no > first.lease_no);

    assert!(!a.finish(&first, Ok(Outcome::new(json!("stale")))).await.unwrap(), "stale lease must be fenced");
    let cb = Callback::new("http://example.com/cb", json!({}));
    assert!(!a.finish(&first, Err(ExecError::permanent("stale").with_callback(cb))).await.unwrap());
    let t = b.get(&"fenced".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Running);

    assert!(b.finish(&second, Ok(Outcome::new(json!("fresh")))).await.unwrap());
    let t = b.get(&"fenced".into()).await.unwrap().unwrap();
    assert_eq!((t.state, &t.result), (TaskState::Succeeded, &Some(json!("fresh"))));
    assert!(outbox(&db).for_task(&"fenced".into()).await.unwrap().is_empty(), "no callback from a stale lease");
}

/// Records the id of each task whose success it was written with.
struct RecordedRows;

#[async_trait::async_trait]
impl WriteOnSuccess for RecordedRows {
    async fn write(&self, tx: &mut Tx, task: &TaskId) -> Result<(), StoreError> {
        on_tx!(tx, c => sqlx::query("INSERT INTO test_rows (task) VALUES ($1)").bind(task.as_str()).execute(c).await?.rows_affected());
        Ok(())
    }
}

async fn rows_a_success_carries_are_written_with_it_and_never_by_a_stale_lease(db: TestDb) {
    on_pool!(db.store.writer(), p => sqlx::query("CREATE TABLE test_rows (task TEXT NOT NULL)").execute(p).await.unwrap().rows_affected());
    let clock = Arc::new(ManualClock::new(0));
    let a = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    let b = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    a.submit(NewTask::new("carrier", "1", ECHO, json!({}))).await.unwrap();
    let first = a.claim(&ECHO, 1).await.unwrap().remove(0);
    clock.advance(Duration::from_secs(60));
    b.reap_expired().await.unwrap();
    let second = b.claim(&ECHO, 1).await.unwrap().remove(0);
    let rows = Arc::new(RecordedRows);

    assert!(!a.finish(&first, Ok(Outcome::new(json!("stale")).with_rows(rows.clone()))).await.unwrap());
    let written = || async {
        on_pool!(db.store.reader(), p => sqlx::query_scalar::<_, String>("SELECT task FROM test_rows").fetch_all(p).await.unwrap())
    };
    assert!(written().await.is_empty(), "a stale lease writes no rows");
    assert!(b.finish(&second, Ok(Outcome::new(json!("fresh")).with_rows(rows))).await.unwrap());
    assert_eq!(written().await, ["carrier"]);
}

/// One completion batch (one statement per finish kind on PostgreSQL) of stale and live leases
/// of several finish kinds: only the live ones apply, and only their callbacks are recorded.
async fn a_completion_batch_applies_only_its_live_leases(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let a = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    let b = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    let by_id = |tasks: Vec<Task>| -> HashMap<String, Task> {
        tasks.into_iter().map(|t| (t.id.as_str().to_owned(), t)).collect()
    };
    a.submit_many(vec![
        NewTask::new("stale-ok", "1", ECHO, json!({})),
        NewTask::new("stale-failed", "1", ECHO, json!({})),
    ])
    .await
    .unwrap();
    let stale = by_id(a.claim(&ECHO, 2).await.unwrap());
    clock.advance(Duration::from_secs(60));
    assert_eq!(b.reap_expired().await.unwrap(), 2);
    let taken = by_id(b.claim(&ECHO, 2).await.unwrap());
    a.submit_many(vec![
        NewTask::new("live-ok", "1", ECHO, json!({})),
        NewTask::new("live-retry", "1", ECHO, json!({})),
        NewTask::new("live-failed", "1", ECHO, json!({})),
    ])
    .await
    .unwrap();
    let live = by_id(a.claim(&ECHO, 3).await.unwrap());
    assert_eq!(live.len(), 3);

    let cb = |name: &str| Callback::new("http://example.com/cb", json!({ "task": name }));
    let applied = a
        .finish_many(vec![
            (&stale["stale-ok"], Ok(Outcome::new(json!("stale")).with_callback(cb("stale-ok")))),
            (&live["live-ok"], Ok(Outcome::new(json!("fresh")).with_callback(cb("live-ok")))),
            (&stale["stale-failed"], Err(ExecError::permanent("stale").with_callback(cb("stale-failed")))),
            (&live["live-retry"], Err(ExecError::retryable("again").with_callback(cb("live-retry")))),
            (&live["live-failed"], Err(ExecError::permanent("broken").with_callback(cb("live-failed")))),
        ])
        .await
        .unwrap();
    assert_eq!(applied, [false, true, false, true, true], "only the live leases apply");

    for id in ["stale-ok", "stale-failed"] {
        let t = a.get(&id.into()).await.unwrap().unwrap();
        assert_eq!((t.state, t.lease_no), (TaskState::Running, taken[id].lease_no), "{id} is still b's");
        assert_eq!((&t.result, &t.error), (&None, &None), "{id} untouched");
        assert!(outbox(&db).for_task(&id.into()).await.unwrap().is_empty(), "no callback from a stale lease");
    }
    let t = a.get(&"live-ok".into()).await.unwrap().unwrap();
    assert_eq!((t.state, &t.result), (TaskState::Succeeded, &Some(json!("fresh"))));
    let t = a.get(&"live-retry".into()).await.unwrap().unwrap();
    assert_eq!((t.state, t.error.as_deref()), (TaskState::Queued, Some("again")));
    let t = a.get(&"live-failed".into()).await.unwrap().unwrap();
    assert_eq!((t.state, t.error.as_deref()), (TaskState::Failed, Some("broken")));
    for (id, callbacks) in [("live-ok", 1), ("live-retry", 0), ("live-failed", 1)] {
        let recorded = outbox(&db).for_task(&id.into()).await.unwrap();
        assert_eq!(recorded.len(), callbacks, "{id}: {recorded:?}");
    }

    // b's leases are current: its batch applies.
    let applied = b
        .finish_many(vec![
            (&taken["stale-ok"], Ok(Outcome::new(json!("b")))),
            (&taken["stale-failed"], Ok(Outcome::new(json!("b")))),
        ])
        .await
        .unwrap();
    assert_eq!(applied, [true, true]);
}

/// A submitted batch with a taken id is refused whole, naming the first task whose id was taken,
/// whether by a stored task or by an earlier task of the batch.
async fn a_submitted_batch_with_a_taken_id_is_refused_whole(db: TestDb) {
    let engine = echo_engine(&db);
    engine.submit(NewTask::new("stored", "1", ECHO, json!({}))).await.unwrap();
    let refused = |ids: &[&str]| {
        let tasks: Vec<NewTask> = ids.iter().map(|id| NewTask::new(*id, "1", ECHO, json!({}))).collect();
        let engine = engine.clone();
        async move {
            match engine.submit_many(tasks).await {
                Err(EngineError::DuplicateTask(id)) => id.into_string(),
                other => panic!("expected DuplicateTask, got {other:?}"),
            }
        }
    };
    assert_eq!(refused(&["new-1", "twice", "new-2", "twice", "stored"]).await, "twice");
    assert_eq!(refused(&["new-1", "stored", "new-2", "new-2"]).await, "stored");
    for id in ["new-1", "new-2", "twice"] {
        assert!(engine.get(&id.into()).await.unwrap().is_none(), "{id} rolled back with its batch");
    }
    let dup = engine.submit(NewTask::new("stored", "1", ECHO, json!({}))).await;
    assert!(matches!(dup, Err(EngineError::DuplicateTask(ref id)) if id.as_str() == "stored"), "{dup:?}");

    // The same ids, without the taken one, go in.
    let ids = engine
        .submit_many(vec![NewTask::new("new-1", "1", ECHO, json!({})), NewTask::new("twice", "1", ECHO, json!({}))])
        .await
        .unwrap();
    assert_eq!(ids, [TaskId::new("new-1"), TaskId::new("twice")]);
    assert_eq!(engine.count(&TaskFilter::default()).await.unwrap(), 3);
}

async fn a_task_whose_lease_expired_is_rescued_and_finished(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let dead = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    dead.submit(NewTask::new("orphan", "1", ECHO, json!("x"))).await.unwrap();
    let claimed = dead.claim(&ECHO, 1).await.unwrap();
    assert_eq!(claimed.len(), 1, "the dead worker held it");

    let live = Engine::builder(db.store.clone(), fast_config())
        .clock(clock.clone())
        .executor(ECHO, KindOptions::concurrency(1), FnExecutor::new(|_| async { Ok(Outcome::new(json!("rescued"))) }))
        .build();
    live.start().unwrap();
    // Three missed heartbeats (3/4 of the lease) are not enough to steal the task.
    clock.advance(fast_config().lease * 3 / 4);
    assert_eq!(live.reap_expired().await.unwrap(), 0);
    clock.advance(fast_config().lease);
    let t = wait_for_state(&live, &"orphan".into(), TaskState::Succeeded).await;
    assert_eq!(t.result, Some(json!("rescued")));
    assert_eq!(t.attempts, 2);
    assert!(t.lease_no >= 3, "claim, rescue and claim each moved the fence: {}", t.lease_no);
    live.shutdown(Duration::from_secs(5)).await;
}

async fn retryable_failures_back_off_then_fail_on_the_final_attempt(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .clock(clock.clone())
        .entropy(Arc::new(SeededEntropy::new(7)))
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |ctx| {
                let r = r.clone();
                async move {
                    let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_eq!(ctx.attempt() as usize, n);
                    assert_eq!(ctx.is_final_attempt(), n == 3);
                    Err(ExecError::retryable(format!("flaky {n}")))
                }
            }),
        )
        .build();
    engine.submit(NewTask::new("flaky", "1", ECHO, json!({})).max_attempts(3)).await.unwrap();
    engine.start().unwrap();
    let id: TaskId = "flaky".into();
    for attempt in 1..=2u32 {
        let t = wait_for(&format!("retry {attempt} scheduled"), || async {
            engine.get(&id).await.unwrap().filter(|t| t.state == TaskState::Queued && t.attempts == attempt)
        })
        .await;
        let delay = t.next_run_at_ms - clock.now_ms();
        let exp = 10i64 << (attempt - 1);
        assert!((exp / 2..=exp).contains(&delay), "attempt {attempt}: delay {delay} outside backoff window");
        assert_eq!(t.error.as_deref(), Some(format!("flaky {attempt}").as_str()));
        assert_eq!(runs.load(Ordering::SeqCst), attempt as usize, "not rerun before its time");
        clock.advance(Duration::from_millis(u64::try_from(delay).unwrap()));
    }
    let t = wait_for_state(&engine, &id, TaskState::Failed).await;
    assert_eq!(t.error.as_deref(), Some("flaky 3"));
    assert_eq!(t.attempts, 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn a_permanent_error_fails_the_task_at_once_with_its_callback(db: TestDb) {
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(|ctx| async move {
                let cb = Callback::new("http://example.com/cb", json!({"task": ctx.id().as_str(), "ok": false}));
                Err(ExecError::permanent("bad input").with_callback(cb.with_event_id("ev-perm")))
            }),
        )
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("doomed", "1", ECHO, json!({}))).await.unwrap();
    let t = wait_for_state(&engine, &"doomed".into(), TaskState::Failed).await;
    assert_eq!((t.attempts, t.error.as_deref()), (1, Some("bad input")));
    let entries = outbox(&db).for_task(&"doomed".into()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event_id, "ev-perm");
    assert_eq!(entries[0].body, json!({"task": "doomed", "ok": false}));
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn cancelling_a_running_task_stops_its_executor_and_cancels_it(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            until_cancelled(s, |reason| {
                assert_eq!(reason, Some(CancelReason::Requested));
                ExecError::cancelled("stopped by request")
            }),
        )
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("long", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    assert_eq!(engine.request_cancel(&"long".into()).await.unwrap(), CancelOutcome::Requested);
    let t = wait_for_state(&engine, &"long".into(), TaskState::Cancelled).await;
    assert_eq!(t.error.as_deref(), Some("stopped by request"));
    assert_eq!(
        engine.request_cancel(&"long".into()).await.unwrap(),
        CancelOutcome::AlreadyFinished(TaskState::Cancelled)
    );
    assert_eq!(engine.request_cancel(&"nope".into()).await.unwrap(), CancelOutcome::NotFound);
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn a_cancel_reaches_a_task_running_on_another_node(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let config = taskgate_engine::EngineConfig { lease: Duration::from_millis(400), ..fast_config() };
    let runner = Engine::builder(db.store.clone(), config.clone())
        .executor(ECHO, KindOptions::concurrency(1), until_cancelled(s, |_| ExecError::cancelled("stopped")))
        .build();
    runner.start().unwrap();
    let api_node = Engine::builder(db.store.clone(), config).build();
    api_node.submit(NewTask::new("remote", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    assert_eq!(api_node.request_cancel(&"remote".into()).await.unwrap(), CancelOutcome::Requested);
    wait_for_state(&api_node, &"remote".into(), TaskState::Cancelled).await;
    runner.shutdown(Duration::from_secs(5)).await;
}

async fn cancelling_a_queued_task_ends_it_before_any_claim(db: TestDb) {
    let engine = Engine::builder(db.store.clone(), fast_config()).build();
    engine.submit(NewTask::new("waiting", "1", ECHO, json!({}))).await.unwrap();
    assert_eq!(engine.request_cancel(&"waiting".into()).await.unwrap(), CancelOutcome::Cancelled);
    let t = engine.get(&"waiting".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert!(engine.claim(&ECHO, 10).await.unwrap().is_empty());
}

/// An executor that must never run, and announces every abandonment with a callback naming
/// it; its first `fail_first` announcements fail.
struct Announcer {
    runs: AtomicUsize,
    fail_first: AtomicUsize,
}

impl Announcer {
    fn new(fail_first: usize) -> Arc<Self> {
        Arc::new(Self { runs: AtomicUsize::new(0), fail_first: AtomicUsize::new(fail_first) })
    }
}

#[async_trait::async_trait]
impl Executor for Announcer {
    async fn execute(&self, _ctx: TaskContext) -> Result<Outcome, ExecError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Outcome::new(json!("ran")))
    }

    async fn abandoned(&self, task: &Task, why: Abandonment) -> Result<Option<Callback>, ExecError> {
        if self.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ExecError::retryable("callback settings unreadable"));
        }
        let body = json!({ "task": task.id.as_str(), "ended": format!("{why:?}"), "at": task.finished_at_ms });
        Ok(Some(Callback::new("http://example.com/cb", body).with_event_id(format!("{}-ended", task.id))))
    }
}

async fn announcements_of(db: &TestDb, id: &str) -> Vec<Value> {
    outbox(db).for_task(&id.into()).await.unwrap().into_iter().map(|e| e.body).collect()
}

async fn cancelling_a_queued_task_records_its_announcement(db: TestDb) {
    let announcer = Announcer::new(0);
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(ECHO, KindOptions::concurrency(1), announcer.clone())
        .build();
    engine.submit(NewTask::new("queued", "1", ECHO, json!({}))).await.unwrap();
    assert_eq!(engine.request_cancel(&"queued".into()).await.unwrap(), CancelOutcome::Cancelled);
    let t = engine.get(&"queued".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert_eq!(
        announcements_of(&db, "queued").await,
        [json!({"task": "queued", "ended": "Cancelled", "at": t.finished_at_ms})],
        "announced with the end's time"
    );
}

async fn a_failed_announcement_leaves_the_queued_task_alone(db: TestDb) {
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(ECHO, KindOptions::concurrency(1), Announcer::new(1))
        .build();
    engine.submit(NewTask::new("queued", "1", ECHO, json!({}))).await.unwrap();
    assert!(matches!(engine.request_cancel(&"queued".into()).await, Err(EngineError::Announcement(_))));
    assert_eq!(engine.get(&"queued".into()).await.unwrap().unwrap().state, TaskState::Queued);
    assert_eq!(engine.request_cancel(&"queued".into()).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(announcements_of(&db, "queued").await.len(), 1);
}

/// `dead` claims `id` and dies; after the lease, `live` (running `executor`) rescues it.
async fn rescue_after_death(
    db: &TestDb,
    id: &str,
    max_attempts: u32,
    executor: Arc<Announcer>,
) -> (Engine, Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(0));
    let dead = Engine::builder(db.store.clone(), fast_config()).clock(clock.clone()).build();
    dead.submit(NewTask::new(id, "1", ECHO, json!({})).max_attempts(max_attempts)).await.unwrap();
    assert_eq!(dead.claim(&ECHO, 1).await.unwrap().len(), 1);
    let live = Engine::builder(db.store.clone(), fast_config())
        .clock(clock.clone())
        .executor(ECHO, KindOptions::concurrency(1), executor)
        .build();
    clock.advance(fast_config().lease * 2);
    (dead, live, clock)
}

async fn a_worker_lost_on_the_final_attempt_fails_the_task_with_its_announcement(db: TestDb) {
    let announcer = Announcer::new(0);
    let (dead, live, _) = rescue_after_death(&db, "poison", 1, announcer.clone()).await;
    live.start().unwrap();
    let t = wait_for_state(&live, &"poison".into(), TaskState::Failed).await;
    assert_eq!(t.error.as_deref(), Some("worker lost (lease expired) on the final attempt"));
    assert_eq!(announcer.runs.load(Ordering::SeqCst), 0, "a task that killed its worker is not run again");
    assert_eq!(
        announcements_of(&db, "poison").await,
        [json!({"task": "poison", "ended": "WorkerLost", "at": t.finished_at_ms})]
    );
    assert!(dead.claim(&ECHO, 1).await.unwrap().is_empty());
    live.shutdown(Duration::from_secs(5)).await;
}

async fn a_cancel_request_outlives_the_death_of_its_worker(db: TestDb) {
    let announcer = Announcer::new(0);
    let (dead, live, _) = rescue_after_death(&db, "doomed", 5, announcer.clone()).await;
    assert_eq!(dead.request_cancel(&"doomed".into()).await.unwrap(), CancelOutcome::Requested);
    live.start().unwrap();
    let t = wait_for_state(&live, &"doomed".into(), TaskState::Cancelled).await;
    assert_eq!(announcer.runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        announcements_of(&db, "doomed").await,
        [json!({"task": "doomed", "ended": "Cancelled", "at": t.finished_at_ms})]
    );
    live.shutdown(Duration::from_secs(5)).await;
}

async fn a_failed_announcement_is_asked_again(db: TestDb) {
    let announcer = Announcer::new(2);
    let (_dead, live, clock) = rescue_after_death(&db, "poison", 1, announcer.clone()).await;
    live.start().unwrap();
    // Each failed announcement puts the task back with a backoff on the engine's clock.
    let t = wait_for("the task to fail", || async {
        clock.advance(fast_config().backoff_max);
        live.get(&"poison".into()).await.unwrap().filter(|t| t.state == TaskState::Failed)
    })
    .await;
    assert_eq!(announcer.fail_first.load(Ordering::SeqCst), 0, "asked three times");
    assert_eq!(announcer.runs.load(Ordering::SeqCst), 0);
    assert_eq!(t.attempts, 2, "asking again does not count as an attempt");
    assert_eq!(announcements_of(&db, "poison").await.len(), 1);
    live.shutdown(Duration::from_secs(5)).await;
}

async fn finished_tasks_are_read_once_unfinished_ones_every_time(db: TestDb) {
    let engine = Engine::builder(db.store.clone(), fast_config()).build();
    let id: TaskId = "polled".into();
    engine.submit(NewTask::new(id.clone(), "1", ECHO, json!({}))).await.unwrap();
    assert_eq!(engine.get(&id).await.unwrap().unwrap().state, TaskState::Queued);
    let claimed = engine.claim(&ECHO, 1).await.unwrap().remove(0);
    assert_eq!(engine.get(&id).await.unwrap().unwrap().state, TaskState::Running);
    assert!(engine.finish(&claimed, Ok(Outcome::new(json!("done")))).await.unwrap());
    let finished = engine.get(&id).await.unwrap().unwrap();
    assert_eq!(finished.state, TaskState::Succeeded);
    assert_eq!(finished.result, Some(json!("done")));

    // Nothing writes a finished task; doing so behind the engine's back shows that the next
    // read comes from memory.
    on_pool!(db.store.writer(), p => sqlx::query("UPDATE tg_tasks SET result = '\"changed\"' WHERE id = $1")
        .bind(id.as_str())
        .execute(p)
        .await
        .unwrap()
        .rows_affected());
    assert_eq!(engine.get(&id).await.unwrap().unwrap(), finished);
    assert_eq!(engine.get_for_account(&id, "1").await.unwrap(), Some(finished));
    assert_eq!(engine.get_for_account(&id, "2").await.unwrap(), None);
}

async fn progress_is_fenced(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let progressed = Arc::new(tokio::sync::Notify::new());
    let go_on = Arc::new(tokio::sync::Notify::new());
    let (p, g) = (progressed.clone(), go_on.clone());
    // A long lease keeps the heartbeat from renewing it between the clock jump and the rescue.
    let config = taskgate_engine::EngineConfig { lease: Duration::from_secs(3600), ..fast_config() };
    let engine = Engine::builder(db.store.clone(), config)
        .clock(clock.clone())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |ctx| {
                let (p, g) = (p.clone(), g.clone());
                async move {
                    if ctx.attempt() == 1 {
                        ctx.progress(json!({"percent": 50})).await.unwrap();
                        p.notify_one();
                        g.notified().await;
                        let lost = ctx.progress(json!({"percent": 99})).await;
                        assert!(lost.is_err(), "a rescued task's old worker must not write progress");
                        assert!(ctx.cancel_token().is_cancelled());
                        return Err(ExecError::retryable("lost"));
                    }
                    Ok(Outcome::new(json!("second")))
                }
            }),
        )
        .build();
    engine.submit(NewTask::new("prog", "1", ECHO, json!({}))).await.unwrap();
    engine.start().unwrap();
    progressed.notified().await;
    let t = engine.get(&"prog".into()).await.unwrap().unwrap();
    assert_eq!(t.progress, Some(json!({"percent": 50})));
    // Another node rescues the task as if this worker had died.
    clock.advance(Duration::from_secs(7200));
    engine.reap_expired().await.unwrap();
    go_on.notify_one();
    let t = wait_for_state(&engine, &"prog".into(), TaskState::Succeeded).await;
    assert_eq!(t.result, Some(json!("second")));
    assert_eq!(t.progress, Some(json!({"percent": 50})));
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn shutdown_waits_for_in_flight_work(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |_| {
                let (s, r) = (s.clone(), r.clone());
                async move {
                    s.notify_one();
                    r.notified().await;
                    Ok(Outcome::new(json!("done")))
                }
            }),
        )
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("inflight", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    let shutting = tokio::spawn({
        let e = engine.clone();
        async move { e.shutdown(Duration::from_secs(30)).await }
    });
    release.notify_one();
    shutting.await.unwrap();
    let t = engine.get(&"inflight".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Succeeded);
}

async fn graceful_shutdown_releases_leases(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let stubborn = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(2),
            until_cancelled(s, |reason| {
                assert_eq!(reason, Some(CancelReason::Shutdown));
                ExecError::cancelled("shutting down")
            }),
        )
        .build();
    stubborn.start().unwrap();
    stubborn.submit(NewTask::new("handover", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    stubborn.shutdown(Duration::from_millis(50)).await;

    let t = stubborn.get(&"handover".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Queued, "released, not cancelled or failed");
    assert_eq!(t.attempts, 0, "a released attempt does not count");
    assert!(t.lease_owner.is_none());

    let successor = echo_engine(&db);
    successor.start().unwrap();
    let t = wait_for_state(&successor, &"handover".into(), TaskState::Succeeded).await;
    assert_eq!(t.attempts, 1);
    successor.shutdown(Duration::from_secs(5)).await;
}

async fn shutdown_returns_within_grace_when_an_executor_ignores_cancellation(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |_| {
                let s = s.clone();
                async move {
                    s.notify_one();
                    // Never looks at its cancel token.
                    std::future::pending::<()>().await;
                    Ok(Outcome::new(json!("never")))
                }
            }),
        )
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("deaf", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    let grace = Duration::from_millis(200);
    tokio::time::timeout(grace + Duration::from_secs(5), engine.shutdown(grace))
        .await
        .expect("shutdown returns soon after the grace period");
    let t = engine.get(&"deaf".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Queued, "its lease was handed back");
}

async fn endless_tasks_are_handed_back_at_shutdown_without_waiting(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let live = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1).endless(),
            until_cancelled(s, |_| ExecError::retryable("handed over")),
        )
        .build();
    live.start().unwrap();
    live.submit(NewTask::new("stream", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    let grace = Duration::from_secs(600);
    tokio::time::timeout(Duration::from_secs(30), live.shutdown(grace))
        .await
        .expect("shutdown did not wait out the grace period");
    let t = live.get(&"stream".into()).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Queued, "released for another node");
}

async fn concurrency_per_kind_is_respected(db: TestDb) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(3),
            FnExecutor::new(move |_| {
                let (r, p) = (r.clone(), p.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    Ok(Outcome::new(json!(null)))
                }
            }),
        )
        .build();
    engine.submit_many((0..60).map(|i| NewTask::new(format!("c-{i}"), "1", ECHO, json!(i))).collect()).await.unwrap();
    engine.start().unwrap();
    let done = TaskFilter { kind: Some(ECHO), unfinished_only: true, limit: 1, ..Default::default() };
    wait_for("all done", || async { (engine.count(&done).await.unwrap() == 0).then_some(()) }).await;
    assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn two_engines_never_run_a_task_twice(db: TestDb) {
    let runs: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let make = |name: &str, store: Store| {
        let runs = runs.clone();
        let config = taskgate_engine::EngineConfig { node_id: Some(name.into()), claim_batch: 8, ..fast_config() };
        Engine::builder(store, config)
            .executor(
                ECHO,
                KindOptions::concurrency(8),
                FnExecutor::new(move |ctx| {
                    let runs = runs.clone();
                    async move {
                        *runs.lock().unwrap().entry(ctx.id().to_string()).or_default() += 1;
                        tokio::task::yield_now().await;
                        Ok(Outcome::new(json!(null)))
                    }
                }),
            )
            .build()
    };
    let other_store = Store::open(&db.url, &StoreOptions::default(), &[]).await.unwrap();
    let (a, b) = (make("node-a", db.store.clone()), make("node-b", other_store));
    a.start().unwrap();
    b.start().unwrap();
    let n = 400;
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        a.submit_many(chunk.iter().map(|i| NewTask::new(format!("d-{i}"), "1", ECHO, json!(i))).collect())
            .await
            .unwrap();
    }
    let unfinished = TaskFilter { unfinished_only: true, limit: 1, ..Default::default() };
    wait_for("all done", || async { (a.count(&unfinished).await.unwrap() == 0).then_some(()) }).await;
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), n);
    assert!(runs.values().all(|&c| c == 1), "some task ran twice");
    let all = a.list(&TaskFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert!(all.iter().all(|t| t.state == TaskState::Succeeded && t.attempts == 1));
}

struct Double;

impl TaskSpec for Double {
    const KIND: TaskKind = TaskKind::from_static("test.double");
    type Input = u32;
    type Progress = String;
    type Output = u64;
}

async fn a_typed_executor_reads_its_input_reports_progress_and_returns_its_output(db: TestDb) {
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            Double::KIND,
            KindOptions::concurrency(1),
            FnExecutor::new(|ctx| async move {
                let n = ctx.input_of::<Double>().map_err(|e| ExecError::permanent(e.to_string()))?;
                ctx.report::<Double>(&format!("doubling {n}"))
                    .await
                    .map_err(|e| ExecError::retryable(e.to_string()))?;
                Outcome::of::<Double>(&(u64::from(n) * 2)).map_err(|e| ExecError::permanent(e.to_string()))
            }),
        )
        .build();
    engine.start().unwrap();
    let id = engine.submit(NewTask::of::<Double>("d-1", "1", &21).unwrap()).await.unwrap();
    let task = wait_for_state(&engine, &id, TaskState::Succeeded).await;
    assert_eq!(task.input_of::<Double>().unwrap(), 21);
    assert_eq!(task.progress_of::<Double>().unwrap().as_deref(), Some("doubling 21"));
    assert_eq!(task.output_of::<Double>().unwrap(), Some(42));
    engine.shutdown(Duration::from_secs(5)).await;
}

/// One task run to `state` by an engine on a clock standing at 10 000 ms whose ECHO executor
/// ends as `end` says; the task as it then reads.
async fn ended_task<F>(db: &TestDb, end: F, state: TaskState) -> Arc<Task>
where
    F: Fn(&TaskContext) -> Result<Outcome, ExecError> + Send + Sync + 'static,
{
    let end = Arc::new(end);
    let engine = Engine::builder(db.store.clone(), fast_config())
        .clock(Arc::new(ManualClock::new(10_000)))
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |ctx| {
                let end = end.clone();
                async move { end(&ctx) }
            }),
        )
        .build();
    engine.start().unwrap();
    let id = engine.submit(NewTask::new("t-1", "1", ECHO, json!({}))).await.unwrap();
    let task = wait_for_state(&engine, &id, state).await;
    engine.shutdown(Duration::from_secs(5)).await;
    task
}

async fn a_success_ends_at_the_time_its_executor_announced_on_the_engine_clock(db: TestDb) {
    let end = |ctx: &TaskContext| Ok(Outcome::new(json!(null)).finished_at_ms(ctx.clock().now_ms() + 7));
    let task = ended_task(&db, end, TaskState::Succeeded).await;
    assert_eq!((task.started_at_ms, task.finished_at_ms), (Some(10_000), Some(10_007)));
}

async fn a_failure_ends_at_the_time_its_executor_announced(db: TestDb) {
    let task = ended_task(&db, |_| Err(ExecError::permanent("no").finished_at_ms(12_345)), TaskState::Failed).await;
    assert_eq!(task.finished_at_ms, Some(12_345));
}

async fn an_announced_end_before_the_start_is_recorded_as_the_start(db: TestDb) {
    let task = ended_task(&db, |_| Ok(Outcome::new(json!(null)).finished_at_ms(1)), TaskState::Succeeded).await;
    assert_eq!((task.started_at_ms, task.finished_at_ms), (Some(10_000), Some(10_000)));
}

async fn without_an_announced_end_a_task_ends_at_the_engine_clock(db: TestDb) {
    let task = ended_task(&db, |_| Ok(Outcome::new(json!(null))), TaskState::Succeeded).await;
    assert_eq!(task.finished_at_ms, Some(10_000));
}

both_backends!(
    a_typed_executor_reads_its_input_reports_progress_and_returns_its_output,
    a_success_ends_at_the_time_its_executor_announced_on_the_engine_clock,
    a_failure_ends_at_the_time_its_executor_announced,
    an_announced_end_before_the_start_is_recorded_as_the_start,
    without_an_announced_end_a_task_ends_at_the_engine_clock,
);

async fn a_purge_stops_and_deletes_one_accounts_tasks_and_keeps_the_others(db: TestDb) {
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(ECHO, KindOptions::concurrency(1), until_cancelled(s, |_| ExecError::cancelled("stopped")))
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("running", "1", ECHO, json!({}))).await.unwrap();
    started.notified().await;
    engine.submit(NewTask::new("queued", "1", ECHO, json!({}))).await.unwrap();
    engine.submit(NewTask::new("other", "2", ECHO, json!({}))).await.unwrap();
    assert_eq!(engine.stop_tasks(Some("1"), Duration::from_secs(5)).await.unwrap(), 2);
    let purged = engine.purge(Some("1")).await.unwrap();
    assert_eq!(purged.tasks, 2);
    assert!(engine.get(&"running".into()).await.unwrap().is_none());
    assert!(engine.get(&"queued".into()).await.unwrap().is_none());
    assert!(engine.get(&"other".into()).await.unwrap().is_some());
    // "other" now runs until it is told to stop, which a short grace does at once.
    engine.shutdown(Duration::from_millis(50)).await;
}

async fn a_purged_finished_task_is_forgotten_by_the_cache(db: TestDb) {
    let engine = echo_engine(&db);
    engine.start().unwrap();
    engine.submit(NewTask::new("done", "1", ECHO, json!({}))).await.unwrap();
    wait_for_state(&engine, &"done".into(), TaskState::Succeeded).await;
    assert!(engine.get(&"done".into()).await.unwrap().is_some(), "read once: now in the cache");
    assert_eq!(engine.purge(None).await.unwrap().tasks, 1);
    assert!(engine.get(&"done".into()).await.unwrap().is_none());
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Gives every task submitted in its scope the same directive.
struct Always(taskgate_engine::Directive);

impl taskgate_engine::DirectiveSource for Always {
    fn next(&self) -> Option<taskgate_engine::Directive> {
        Some(self.0.clone())
    }
}

fn directive(manual: bool, outcome: taskgate_engine::Forced) -> Arc<Always> {
    Arc::new(Always(taskgate_engine::Directive { rule: "r1".into(), hold_ms: 0, manual, outcome }))
}

async fn a_forced_failure_ends_a_task_without_running_it(db: TestDb) {
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .executor(
            ECHO,
            KindOptions::concurrency(1),
            FnExecutor::new(move |_ctx| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { Ok(Outcome::new(json!("ran"))) }
            }),
        )
        .build();
    engine.start().unwrap();
    let forced = taskgate_engine::Forced::Failure { error_code: "FailedOperation".into(), error_message: "no".into() };
    let submit = engine.submit(NewTask::new("forced", "1", ECHO, json!({})));
    taskgate_engine::directive::scope(directive(false, forced), submit).await.unwrap();
    let task = wait_for_state(&engine, &"forced".into(), TaskState::Failed).await;
    assert_eq!(task.error.as_deref(), Some("no"));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the work never ran");
    assert_eq!(task.directive.as_ref().map(|d| d.rule.as_str()), Some("r1"));
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn a_manual_task_waits_for_its_outcome_then_runs_as_told(db: TestDb) {
    let engine = echo_engine(&db);
    engine.start().unwrap();
    let submit = engine.submit(NewTask::new("held", "1", ECHO, json!({"n": 1})));
    taskgate_engine::directive::scope(directive(true, taskgate_engine::Forced::AsRun), submit).await.unwrap();
    wait_for_state(&engine, &"held".into(), TaskState::Running).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.get(&"held".into()).await.unwrap().unwrap().state, TaskState::Running, "still held");
    assert!(engine.finish_manual(&"held".into(), taskgate_engine::Forced::AsRun).await.unwrap());
    let task = wait_for_state(&engine, &"held".into(), TaskState::Succeeded).await;
    assert_eq!(task.result, Some(json!({"echo": {"n": 1}})));
    assert!(!engine.finish_manual(&"held".into(), taskgate_engine::Forced::AsRun).await.unwrap(), "finished already");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// An engine that only claims (never started), on `clock`, with `options` for `ECHO`.
fn claiming_engine(db: &TestDb, clock: Arc<ManualClock>, options: KindOptions) -> Engine {
    Engine::builder(db.store.clone(), fast_config())
        .clock(clock)
        .executor(ECHO, options, FnExecutor::new(|_ctx| async move { Ok(Outcome::new(json!(null))) }))
        .build()
}

/// Submits `n` tasks `{prefix}-{i}` of `account`, one millisecond apart on `clock`.
async fn queue(engine: &Engine, clock: &ManualClock, account: &str, prefix: &str, n: usize) {
    for i in 0..n {
        engine.submit(NewTask::new(format!("{prefix}-{i}"), account, ECHO, json!({}))).await.unwrap();
        clock.advance(Duration::from_millis(1));
    }
}

async fn claimed_ids(engine: &Engine, max: u32) -> Vec<String> {
    let mut ids: Vec<String> =
        engine.claim(&ECHO, max).await.unwrap().into_iter().map(|t| t.id.into_string()).collect();
    ids.sort();
    ids
}

async fn a_claim_serves_the_account_with_fewer_running_tasks_first(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = claiming_engine(&db, clock.clone(), KindOptions::concurrency(4));
    queue(&engine, &clock, "100001", "a", 5).await;
    queue(&engine, &clock, "200002", "b", 1).await;
    assert_eq!(claimed_ids(&engine, 1).await, ["a-0"], "equal running counts: the oldest task first");
    assert_eq!(claimed_ids(&engine, 1).await, ["b-0"], "the account without a running task next, though newer");
    assert_eq!(claimed_ids(&engine, 1).await, ["a-1"], "an account's own tasks in the order they were queued");
}

async fn a_batch_claim_shares_its_slots_between_accounts(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = claiming_engine(&db, clock.clone(), KindOptions::concurrency(8));
    queue(&engine, &clock, "100001", "a", 10).await;
    queue(&engine, &clock, "200002", "b", 3).await;
    assert_eq!(claimed_ids(&engine, 6).await, ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]);
    assert_eq!(claimed_ids(&engine, 2).await, ["a-3", "a-4"], "the flooding account gets the slots no one else wants");
}

async fn an_account_at_its_running_cap_waits_while_other_accounts_are_claimed(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = claiming_engine(&db, clock.clone(), KindOptions::concurrency(8).max_running_per_account(2));
    queue(&engine, &clock, "100001", "a", 5).await;
    queue(&engine, &clock, "200002", "b", 1).await;
    assert_eq!(claimed_ids(&engine, 10).await, ["a-0", "a-1", "b-0"]);
    assert!(claimed_ids(&engine, 10).await.is_empty(), "the account is at its cap");
    let running = engine.get(&"a-0".into()).await.unwrap().unwrap();
    assert!(engine.finish(&running, Ok(Outcome::new(json!(null)))).await.unwrap());
    assert_eq!(claimed_ids(&engine, 10).await, ["a-2"], "a finished task frees one place under the cap");
}

both_backends!(
    a_claim_serves_the_account_with_fewer_running_tasks_first,
    a_batch_claim_shares_its_slots_between_accounts,
    an_account_at_its_running_cap_waits_while_other_accounts_are_claimed,
    a_forced_failure_ends_a_task_without_running_it,
    a_manual_task_waits_for_its_outcome_then_runs_as_told,
    a_purge_stops_and_deletes_one_accounts_tasks_and_keeps_the_others,
    a_purged_finished_task_is_forgotten_by_the_cache,
    a_submitted_task_reads_back_and_lists_newest_first_per_account,
    a_task_submitted_in_the_callers_transaction_commits_and_rolls_back_with_it,
    workers_run_submitted_tasks_to_success,
    a_stale_lease_cannot_finish_its_task,
    rows_a_success_carries_are_written_with_it_and_never_by_a_stale_lease,
    a_completion_batch_applies_only_its_live_leases,
    a_submitted_batch_with_a_taken_id_is_refused_whole,
    a_task_whose_lease_expired_is_rescued_and_finished,
    retryable_failures_back_off_then_fail_on_the_final_attempt,
    a_permanent_error_fails_the_task_at_once_with_its_callback,
    cancelling_a_running_task_stops_its_executor_and_cancels_it,
    a_cancel_reaches_a_task_running_on_another_node,
    cancelling_a_queued_task_ends_it_before_any_claim,
    cancelling_a_queued_task_records_its_announcement,
    a_failed_announcement_leaves_the_queued_task_alone,
    a_worker_lost_on_the_final_attempt_fails_the_task_with_its_announcement,
    a_cancel_request_outlives_the_death_of_its_worker,
    a_failed_announcement_is_asked_again,
    finished_tasks_are_read_once_unfinished_ones_every_time,
    progress_is_fenced,
    shutdown_waits_for_in_flight_work,
    graceful_shutdown_releases_leases,
    shutdown_returns_within_grace_when_an_executor_ignores_cancellation,
    endless_tasks_are_handed_back_at_shutdown_without_waiting,
    concurrency_per_kind_is_respected,
    two_engines_never_run_a_task_twice,
);
