//! Callback delivery: at least once, retried with backoff, surviving restarts, guarded.

mod common;

use std::{sync::Arc, time::Duration};

use common::{FnExecutor, Receiver, TestDb, fast_config, wait_for, wait_for_state};
use serde_json::json;
use taskgate_engine::{
    Engine, KindOptions, NewTask, Outcome, TaskKind, TaskState,
    outbox::{Callback, CallbackFilter, DeliveryState, Outbox, OutboxConfig},
    url_guard::{GuardedClient, UrlPolicy},
};

const NOTIFY: TaskKind = TaskKind::from_static("test.notify");

fn outbox_config() -> OutboxConfig {
    OutboxConfig {
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..OutboxConfig::default()
    }
}

fn outbox(db: &TestDb, allow_private_targets: bool, config: OutboxConfig) -> Outbox {
    let policy = UrlPolicy { allow_private_targets, ..UrlPolicy::default() };
    Outbox::new(db.store.clone(), config, GuardedClient::new(policy, Duration::from_secs(5)).unwrap())
}

async fn wait_for_delivery_state(
    outbox: &Outbox,
    event_id: &str,
    state: DeliveryState,
) -> taskgate_engine::outbox::OutboxEntry {
    wait_for(&format!("callback {event_id} {state:?}"), || async {
        outbox.get(event_id).await.unwrap().filter(|e| e.state == state)
    })
    .await
}

async fn callback_delivered_at_least_once_after_500s(db: TestDb) {
    let receiver = Receiver::start(2).await;
    let outbox = outbox(&db, true, outbox_config());
    outbox.start();
    let url = receiver.url();
    let engine = Engine::builder(db.store.clone(), fast_config())
        .outbox(outbox.waker())
        .executor(
            NOTIFY,
            KindOptions::concurrency(2),
            FnExecutor::new(move |ctx| {
                let cb = Callback::new(url.clone(), json!({"TaskId": ctx.id().as_str(), "Status": "Finished"}));
                async move { Ok(Outcome::new(json!("ok")).with_callback(cb)) }
            }),
        )
        .build();
    engine.start().unwrap();
    engine.submit(NewTask::new("cb-1", "1", NOTIFY, json!({}))).await.unwrap();
    wait_for_state(&engine, &"cb-1".into(), TaskState::Succeeded).await;
    receiver.wait_until("a successful delivery", |hits| hits.iter().any(|h| h.status == 200)).await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "two 500s, then success: {hits:?}");
    assert!(hits.iter().all(|h| h.event_id == hits[0].event_id), "the event id is stable across retries");
    assert_eq!(hits[2].body, json!({"TaskId": "cb-1", "Status": "Finished"}));
    let entry = wait_for_delivery_state(&outbox, &hits[0].event_id, DeliveryState::Delivered).await;
    assert_eq!(entry.attempts, 3);
    assert_eq!(entry.task_id, Some("cb-1".into()));
    engine.shutdown(Duration::from_secs(5)).await;
    outbox.shutdown().await;
}

async fn every_delivery_attempt_is_listed_with_its_status(db: TestDb) {
    let receiver = Receiver::start(1).await;
    let outbox = outbox(&db, true, outbox_config());
    outbox.start();
    let id = outbox.enqueue(Callback::new(receiver.url(), json!({"n": 1})), None).await.unwrap();
    wait_for_delivery_state(&outbox, &id, DeliveryState::Delivered).await;
    let filter = CallbackFilter { task_id: None, limit: 10 };
    let [record] = <[_; 1]>::try_from(outbox.list(&filter).await.unwrap()).unwrap();
    assert_eq!(record.entry.event_id, id);
    let statuses: Vec<_> = record.attempts.iter().map(|a| (a.attempt, a.status, a.error.is_some())).collect();
    assert_eq!(statuses, [(1, Some(500), true), (2, Some(200), false)]);
    assert!(record.attempts[0].started_at_ms <= record.attempts[1].started_at_ms);
    outbox.shutdown().await;
}

/// Accepts connections and never answers; counts them. Aborting the task closes them all.
async fn hanging_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hang", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted, task)
}

async fn a_hanging_destination_holds_only_its_own_lane(db: TestDb) {
    let (hanging, accepted, receiver) = hanging_receiver().await;
    let healthy = Receiver::start(0).await;
    let config = outbox_config();
    // A client that waits a minute for an answer: the hanging deliveries outlast the test.
    let policy = UrlPolicy { allow_private_targets: true, ..UrlPolicy::default() };
    let client = GuardedClient::new(policy, Duration::from_secs(60)).unwrap();
    let outbox = Outbox::new(db.store.clone(), config.clone(), client);
    for n in 0..50 {
        outbox.enqueue(Callback::new(hanging.clone(), json!({"n": n})), None).await.unwrap();
    }
    outbox.start();
    wait_for("the hanging lane to fill", || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) >= config.per_destination).then_some(())
    })
    .await;
    let id = outbox.enqueue(Callback::new(healthy.url(), json!({"healthy": true})), None).await.unwrap();
    wait_for_delivery_state(&outbox, &id, DeliveryState::Delivered).await;
    // Delivered while every hanging delivery still waits for its answer.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), config.per_destination);
    let filter = CallbackFilter { task_id: None, limit: 100 };
    let hanging_attempts: usize =
        outbox.list(&filter).await.unwrap().iter().filter(|r| r.entry.url == hanging).map(|r| r.attempts.len()).sum();
    assert_eq!(hanging_attempts, 0, "no hanging delivery has ended yet");
    receiver.abort();
    outbox.shutdown().await;
}

async fn an_accounts_hanging_callbacks_hold_only_its_own_places(db: TestDb) {
    let config = OutboxConfig { per_destination: 4, per_account: 8, ..outbox_config() };
    // Four destinations that hang: without the account's cap its callbacks would hold 16 places.
    let receivers: Vec<_> = futures_util::future::join_all((0..4).map(|_| hanging_receiver())).await;
    let healthy = Receiver::start(0).await;
    let engine = Engine::builder(db.store.clone(), fast_config()).build();
    let flooder = engine.submit(NewTask::new("a-task", "100001", NOTIFY, json!({}))).await.unwrap();
    let other = engine.submit(NewTask::new("b-task", "200002", NOTIFY, json!({}))).await.unwrap();
    let policy = UrlPolicy { allow_private_targets: true, ..UrlPolicy::default() };
    let outbox =
        Outbox::new(db.store.clone(), config.clone(), GuardedClient::new(policy, Duration::from_secs(60)).unwrap());
    for n in 0..40 {
        let (url, _, _) = &receivers[n % receivers.len()];
        outbox.enqueue(Callback::new(url.clone(), json!({"n": n})), Some(&flooder)).await.unwrap();
    }
    let accepted =
        || receivers.iter().map(|(_, accepted, _)| accepted.load(std::sync::atomic::Ordering::SeqCst)).sum::<usize>();
    outbox.start();
    wait_for("the account's places to fill", || async { (accepted() >= config.per_account).then_some(()) }).await;
    let id = outbox.enqueue(Callback::new(healthy.url(), json!({"other": true})), Some(&other)).await.unwrap();
    wait_for_delivery_state(&outbox, &id, DeliveryState::Delivered).await;
    assert_eq!(accepted(), config.per_account, "the flooding account holds exactly its own places");
    for (_, _, receiver) in &receivers {
        receiver.abort();
    }
    outbox.shutdown().await;
}

async fn pending_callbacks_survive_restart(db: TestDb) {
    let receiver = Receiver::start(0).await;
    let before = outbox(&db, true, outbox_config());
    let event =
        before.enqueue(Callback::new(receiver.url(), json!({"n": 1})).with_event_id("ev-restart"), None).await.unwrap();
    assert_eq!(event, "ev-restart");
    drop(before);

    let after = outbox(&db, true, outbox_config());
    after.start();
    receiver.wait_until("the recorded callback", |hits| hits.iter().any(|h| h.event_id == "ev-restart")).await;
    wait_for_delivery_state(&after, "ev-restart", DeliveryState::Delivered).await;
    after.shutdown().await;
}

async fn private_receiver_refused_by_default(db: TestDb) {
    let receiver = Receiver::start(0).await;
    let outbox = outbox(&db, false, outbox_config());
    outbox.start();
    let url = format!("http://localhost:{}/cb", receiver.addr.port());
    outbox.enqueue(Callback::new(url, json!({})).with_event_id("ev-private"), None).await.unwrap();
    let entry = wait_for_delivery_state(&outbox, "ev-private", DeliveryState::Dead).await;
    assert!(entry.last_error.unwrap().contains("forbidden range"));
    assert!(receiver.hits().is_empty());
    outbox.shutdown().await;
}

async fn delivery_gives_up_after_max_attempts(db: TestDb) {
    let receiver = Receiver::start(usize::MAX).await;
    let outbox = outbox(&db, true, OutboxConfig { max_attempts: 3, ..outbox_config() });
    outbox.start();
    outbox.enqueue(Callback::new(receiver.url(), json!({})).with_event_id("ev-dead"), None).await.unwrap();
    let entry = wait_for_delivery_state(&outbox, "ev-dead", DeliveryState::Dead).await;
    assert_eq!(entry.attempts, 3);
    assert_eq!(receiver.hits().len(), 3);
    assert!(entry.last_error.unwrap().contains("500"));
    outbox.shutdown().await;
}

async fn many_receivers_served_concurrently(db: TestDb) {
    let receivers: Vec<Receiver> = futures_util::future::join_all((0..4).map(|_| Receiver::start(1))).await;
    let outbox = Arc::new(outbox(&db, true, OutboxConfig { concurrency: 8, ..outbox_config() }));
    outbox.start();
    for i in 0..40 {
        let r = &receivers[i % receivers.len()];
        outbox.enqueue(Callback::new(r.url(), json!({"i": i})), None).await.unwrap();
    }
    for r in &receivers {
        r.wait_until("ten deliveries", |hits| hits.iter().filter(|h| h.status == 200).count() >= 10).await;
        assert_eq!(r.delivered().len(), 10);
    }
    outbox.shutdown().await;
}

both_backends!(
    every_delivery_attempt_is_listed_with_its_status,
    a_hanging_destination_holds_only_its_own_lane,
    an_accounts_hanging_callbacks_hold_only_its_own_places,
    callback_delivered_at_least_once_after_500s,
    pending_callbacks_survive_restart,
    private_receiver_refused_by_default,
    delivery_gives_up_after_max_attempts,
    many_receivers_served_concurrently,
);
