//! Shared fixtures: isolated databases on both backends, a real HTTP callback receiver,
//! closure executors and deadline-bounded waiting on observable state.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use taskgate_engine::{
    CancelReason, Engine, EngineConfig, ExecError, Executor, Outcome, Store, StoreOptions, Task, TaskContext, TaskId,
    TaskState, testing::service,
};
use tokio::sync::Notify;

pub(crate) const PG_ENV: &str = "TASKGATE_TEST_PG_URL";

/// A fresh database: a SQLite file in its own directory, or a PostgreSQL schema of its own.
pub(crate) struct TestDb {
    pub url: String,
    pub store: Store,
    dir: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub(crate) fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskgate-engine-{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = temp_dir("db");
        let url = format!("sqlite://{}", dir.join("taskgate.db").display());
        let store = Store::open(&url, &StoreOptions::default(), &[]).await.unwrap();
        TestDb { url, store, dir: Some(dir) }
    }

    /// `None` (after saying so on stderr) when no PostgreSQL is configured and none is
    /// required; see [`service`].
    pub(crate) async fn postgres() -> Option<Self> {
        let base = service(PG_ENV)?;
        let (store, schema) = Store::open_in_fresh_schema(&base, &StoreOptions::default(), &[]).await.unwrap();
        Some(TestDb { url: schema.url, store, dir: None })
    }
}

/// Declares `mod $name { sqlite, postgres }` tests running `async fn $name(TestDb)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

/// Short timings so the tests finish quickly; nothing waits for these to elapse as a way
/// of synchronising.
pub(crate) fn fast_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(8),
        poll_interval: Duration::from_millis(20),
        reap_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..EngineConfig::default()
    }
}

type ExecFn = dyn Fn(TaskContext) -> Pin<Box<dyn Future<Output = Result<Outcome, ExecError>> + Send>> + Send + Sync;

/// An executor from a closure.
pub(crate) struct FnExecutor(Box<ExecFn>);

impl FnExecutor {
    pub(crate) fn new<F, Fut>(f: F) -> Arc<Self>
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outcome, ExecError>> + Send + 'static,
    {
        Arc::new(Self(Box::new(move |ctx| Box::pin(f(ctx)))))
    }
}

#[async_trait]
impl Executor for FnExecutor {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        (self.0)(ctx).await
    }
}

/// An executor that signals `started`, waits for its cancel token, then fails with what `end`
/// makes of the cancel reason.
pub(crate) fn until_cancelled<F>(started: Arc<Notify>, end: F) -> Arc<FnExecutor>
where
    F: Fn(Option<CancelReason>) -> ExecError + Clone + Send + Sync + 'static,
{
    FnExecutor::new(move |ctx| {
        let (started, end) = (started.clone(), end.clone());
        async move {
            started.notify_one();
            ctx.cancel_token().cancelled().await;
            Err(end(ctx.cancel_reason()))
        }
    })
}

pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it yields a value or the deadline passes.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) async fn wait_for_state(engine: &Engine, id: &TaskId, state: TaskState) -> Arc<Task> {
    wait_for(&format!("task {id} to be {state}"), || async {
        engine.get(id).await.unwrap().filter(|t| t.state == state)
    })
    .await
}

/// One callback request as received.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub event_id: String,
    pub body: serde_json::Value,
    pub status: u16,
}

#[derive(Default)]
struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    fail_first: Mutex<usize>,
    notify: Notify,
}

/// A real HTTP server on 127.0.0.1 recording callbacks; the first `fail_first` requests get a 500.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event_id = headers.get("x-taskgate-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let status = {
        let mut fail = state.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    };
    state.hits.lock().unwrap().push(Hit { event_id, body, status: status.as_u16() });
    state.notify.notify_waiters();
    status
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> Self {
        let state = Arc::new(ReceiverState { fail_first: Mutex::new(fail_first), ..Default::default() });
        let app = Router::new()
            .route("/cb", post(receive))
            .route("/loop", post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/loop")]) }))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver { addr, state, shutdown: Some(tx) }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/cb", self.addr)
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Successful deliveries per event id.
    pub(crate) fn delivered(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for h in self.hits().into_iter().filter(|h| h.status == 200) {
            *m.entry(h.event_id).or_default() += 1;
        }
        m
    }

    /// Waits (bounded) until `cond` holds over the hits so far.
    pub(crate) async fn wait_until(&self, what: &str, cond: impl Fn(&[Hit]) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(&self.state.hits.lock().unwrap()) {
                return;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}"),
            }
        }
    }
}
