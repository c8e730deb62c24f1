//! The `/_taskgate` control API of test harnesses: health, reset, callback inboxes, the
//! callbacks the outbox sent, the engine's tasks and the faults injected on the API. JSON in and out, never the Tencent
//! envelope, never reachable by an API signature: open to loopback clients in `taskgate dev`,
//! and to `Authorization: Bearer <token>` when `[control] token` is configured; not routed at
//! all otherwise.

pub mod inbox;

use crate::action::{Account, Service};
use crate::capabilities::{Capabilities, Capability};
use crate::config::ControlConfig;
use crate::gateway::Gateway;
use crate::gateway::faults::FaultSpec;
use crate::gateway::rules::{RuleOutcome, RuleRequest, valid_error_code};
use crate::products::Products;
use crate::products::registration::TaskAction;
use crate::products::reset::{Removed, ResetScope};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use inbox::{Inbox, InboxRecord, InboxRefusal};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use taskgate_engine::{Backend, CallbackFilter, Engine, Forced, Outbox, TaskFilter, TaskId, TaskState};

/// How long a reset waits for running tasks to stop before deleting them anyway.
const RESET_GRACE: Duration = Duration::from_secs(10);
/// Most tasks or callbacks one listing returns.
const MAX_LISTED: u32 = 10_000;

/// Who may use the control API.
#[derive(Debug, Clone)]
struct Access {
    token: Option<String>,
    loopback: bool,
}

impl Access {
    fn allows(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        if self.loopback && peer.ip().is_loopback() {
            return true;
        }
        let Some(token) = &self.token else { return false };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        tcapi::sign::signatures_match(token, presented)
    }
}

/// What the control API reaches: the gateway's accounts and products, the engine, the outbox
/// and the inboxes.
pub struct Control {
    gateway: Arc<Gateway>,
    engine: Engine,
    outbox: Outbox,
    inbox: Inbox,
    backend: Backend,
    capabilities: Capabilities,
}

impl Control {
    pub fn new(gateway: Arc<Gateway>, engine: Engine, outbox: Outbox, capabilities: Capabilities) -> Self {
        let backend = engine.store().backend();
        Self { gateway, engine, outbox, inbox: Inbox::default(), backend, capabilities }
    }
}

/// The `/_taskgate` routes, or `None` when `[control]` opens them to no one.
pub fn router(control: Arc<Control>, config: &ControlConfig) -> Option<Router> {
    let access = Access { token: config.token.clone().filter(|t| !t.is_empty()), loopback: config.open_on_loopback };
    if access.token.is_none() && !access.loopback {
        return None;
    }
    let routes = Router::new()
        .route("/_taskgate/health", get(health))
        .route("/_taskgate/reset", post(reset))
        .route("/_taskgate/inbox/{name}", get(list_inbox).delete(clear_inbox).post(record).put(record).patch(record))
        .route("/_taskgate/callbacks", get(callbacks))
        .route("/_taskgate/tasks", get(tasks))
        .route("/_taskgate/tasks/{service}/{task_id}/finish", post(finish))
        .route("/_taskgate/rules", get(list_rules).post(add_rule).delete(remove_rules))
        .route("/_taskgate/rules/{id}", axum::routing::delete(remove_rule))
        .route("/_taskgate/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/_taskgate/faults/{id}", axum::routing::delete(remove_fault))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "no such control endpoint") })
        .layer(DefaultBodyLimit::max(inbox::MAX_BODY_BYTES + 1))
        .with_state(control);
    Some(routes.layer(middleware::from_fn(move |request: Request, next: Next| {
        let access = access.clone();
        async move { guard(&access, request, next).await }
    })))
}

async fn guard(access: &Access, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match peer {
        Some(peer) if access.allows(peer, request.headers()) => next.run(request).await,
        _ => problem(StatusCode::UNAUTHORIZED, "the control API needs `Authorization: Bearer <[control] token>`"),
    }
}

fn problem(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "a control request failed");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "the request failed; the server log has the cause")
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// Each capability, whether it can run here, why not and how to install what it lacks.
    capabilities: [&'a Capability; 3],
}

async fn health(State(control): State<Arc<Control>>) -> Response {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        database: match control.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        capabilities: control.capabilities.all(),
    })
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// The UIN whose state goes; every account's when absent.
    account: Option<String>,
}

/// What a reset removed.
#[derive(Serialize)]
struct ResetAnswer {
    /// Tasks that were still queued or running and were stopped.
    stopped_tasks: u64,
    tasks: u64,
    callbacks: u64,
    client_tokens: u64,
    #[serde(flatten)]
    products: Removed,
    inbox_records: usize,
    rules: usize,
    faults: usize,
}

async fn reset(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let request: ResetRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResetRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return problem(StatusCode::BAD_REQUEST, format!("the body is not a reset request: {e}")),
        }
    };
    // An account that is not configured (one of `--any-credentials`) owns no SdkAppId.
    let account = request.account.map(|uin| {
        control.gateway.accounts.by_uin(&uin).unwrap_or_else(|| {
            Arc::new(Account {
                uin,
                services: Vec::new(),
                service_expires_at: None,
                sdk_apps: Default::default(),
                app_id: None,
                buckets: Default::default(),
            })
        })
    });
    let scope = account.as_deref().map_or(ResetScope::Everyone, ResetScope::Account);
    match reset_scope(&control, scope).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => internal(e),
    }
}

async fn reset_scope(control: &Control, scope: ResetScope<'_>) -> anyhow::Result<ResetAnswer> {
    let uin = scope.uin();
    let stopped_tasks = control.engine.stop_tasks(uin, RESET_GRACE).await?;
    let products = control.gateway.products.reset(scope).await?;
    let purged = control.engine.purge(uin).await?;
    let inbox_records = if uin.is_none() { control.inbox.clear_all() } else { 0 };
    let rules = if uin.is_none() { control.gateway.rules.remove(None) } else { 0 };
    let faults = if uin.is_none() { control.gateway.faults.clear() } else { 0 };
    tracing::info!(account = uin.unwrap_or("all"), tasks = purged.tasks, "reset");
    Ok(ResetAnswer {
        stopped_tasks,
        tasks: purged.tasks,
        callbacks: purged.callbacks,
        client_tokens: purged.client_tokens,
        products,
        inbox_records,
        rules,
        faults,
    })
}

async fn record(
    State(control): State<Arc<Control>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    request_query: axum::extract::RawQuery,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let record = InboxRecord {
        method: method.to_string(),
        query: request_query.0,
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        json: serde_json::from_str(&text).ok(),
        body: text,
        received_at_ms: control.engine.clock().now_ms(),
    };
    match control.inbox.record(&name, record) {
        Ok(()) => axum::Json(json!({ "recorded": true })).into_response(),
        Err(refusal @ InboxRefusal::BadName) => problem(StatusCode::BAD_REQUEST, refusal),
        Err(refusal @ InboxRefusal::TooLarge) => problem(StatusCode::PAYLOAD_TOO_LARGE, refusal),
        Err(refusal) => problem(StatusCode::INSUFFICIENT_STORAGE, refusal),
    }
}

async fn list_inbox(State(control): State<Arc<Control>>, Path(name): Path<String>) -> Response {
    if !inbox::valid_name(&name) {
        return problem(StatusCode::BAD_REQUEST, InboxRefusal::BadName);
    }
    axum::Json(json!({ "requests": control.inbox.list(&name) })).into_response()
}

async fn clear_inbox(State(control): State<Arc<Control>>, Path(name): Path<String>) -> Response {
    axum::Json(json!({ "removed": control.inbox.clear(&name) })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackQuery {
    task_id: Option<String>,
    /// The `EventType` member of the callback's body (tiw's events carry one).
    event_type: Option<String>,
}

#[derive(Serialize)]
struct CallbackView {
    event_id: String,
    task_id: Option<String>,
    url: String,
    body: Value,
    /// `pending`, `delivered` or `dead` (given up).
    state: taskgate_engine::outbox::DeliveryState,
    created_at_ms: i64,
    delivered_at_ms: Option<i64>,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct AttemptView {
    attempt: u32,
    started_at_ms: i64,
    latency_ms: u64,
    status: Option<u16>,
    error: Option<String>,
}

async fn callbacks(
    State(control): State<Arc<Control>>,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let filter = CallbackFilter { task_id: query.task_id.map(TaskId::new), limit: MAX_LISTED };
    let records = match control.outbox.list(&filter).await {
        Ok(records) => records,
        Err(e) => return internal(e),
    };
    let views: Vec<CallbackView> = records
        .into_iter()
        .filter(|r| {
            query.event_type.as_deref().is_none_or(|t| r.entry.body.get("EventType").and_then(Value::as_str) == Some(t))
        })
        .map(|r| CallbackView {
            event_id: r.entry.event_id,
            task_id: r.entry.task_id.map(|id| id.as_str().to_owned()),
            url: r.entry.url,
            body: r.entry.body,
            state: r.entry.state,
            created_at_ms: r.entry.created_at_ms,
            delivered_at_ms: r.entry.delivered_at_ms,
            attempts: r
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    started_at_ms: a.started_at_ms,
                    latency_ms: a.latency_ms,
                    status: a.status,
                    error: a.error,
                })
                .collect(),
        })
        .collect();
    axum::Json(json!({ "callbacks": views })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    service: Option<Service>,
    state: Option<TaskState>,
    account: Option<String>,
}

#[derive(Serialize)]
struct TaskView {
    id: String,
    service: Service,
    kind: String,
    account: String,
    state: TaskState,
    /// The ids the product's actions know the task by, by wire name (`TaskId`, `ImageId`).
    ids: serde_json::Map<String, Value>,
    created_at_ms: i64,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    attempts: u32,
    error: Option<String>,
}

async fn tasks(
    State(control): State<Arc<Control>>,
    query: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let kinds = match query.service {
        None => vec![None],
        Some(service) => Products::kinds(service).cloned().map(Some).collect(),
    };
    let mut views = Vec::new();
    for kind in kinds {
        let filter = TaskFilter {
            account: query.account.clone(),
            kind,
            state: query.state,
            limit: MAX_LISTED,
            ..TaskFilter::default()
        };
        let tasks = match control.engine.list(&filter).await {
            Ok(tasks) => tasks,
            Err(e) => return internal(e),
        };
        views.extend(tasks.into_iter().filter_map(|task| {
            let (service, ids) = Products::wire_ids(&task)?;
            Some(TaskView {
                service,
                kind: task.kind.as_str().to_owned(),
                account: task.account,
                state: task.state,
                ids,
                created_at_ms: task.created_at_ms,
                started_at_ms: task.started_at_ms,
                finished_at_ms: task.finished_at_ms,
                attempts: task.attempts,
                error: task.error,
                id: task.id.as_str().to_owned(),
            })
        }));
    }
    views.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    axum::Json(json!({ "tasks": views })).into_response()
}

/// A JSON body, or what is wrong with it, naming the member (`mode: unknown variant …`).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).map_err(|e| {
        match e.path().to_string().as_str() {
            "." => format!("the body is not valid: {}", e.inner()),
            path => format!("{path}: {}", e.inner()),
        }
    })
}

async fn add_rule(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let request: RuleRequest = match json_body(&body) {
        Ok(request) => request,
        Err(refusal) => return problem(StatusCode::BAD_REQUEST, refusal),
    };
    match control.gateway.rules.add(request) {
        Ok(rule) => axum::Json(rule).into_response(),
        Err(refusal) => problem(StatusCode::BAD_REQUEST, refusal),
    }
}

async fn add_fault(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let faults = &control.gateway.faults;
    let products = &control.gateway.products;
    // The action table's own name, found by routing it in each (or the named) service.
    let action_of = |service: Option<Service>, name: &str| {
        let services = service.map_or(Service::ALL.to_vec(), |s| vec![s]);
        services.into_iter().find_map(|s| {
            let routed = products.route(s.version(), name, &[s.label()]).ok()?;
            (routed.service() == s).then(|| routed.name())
        })
    };
    match FaultSpec::parse(&body, faults.max_message_bytes(), action_of).and_then(|spec| faults.add(spec)) {
        Ok(view) => axum::Json(view).into_response(),
        Err(refusal) => problem(StatusCode::BAD_REQUEST, refusal),
    }
}

async fn list_rules(State(control): State<Arc<Control>>) -> Response {
    axum::Json(json!({ "rules": control.gateway.rules.list() })).into_response()
}

async fn remove_rules(State(control): State<Arc<Control>>) -> Response {
    axum::Json(json!({ "removed": control.gateway.rules.remove(None) })).into_response()
}

async fn remove_rule(State(control): State<Arc<Control>>, Path(id): Path<String>) -> Response {
    match control.gateway.rules.remove(Some(&id)) {
        0 => problem(StatusCode::NOT_FOUND, format!("no rule `{id}`")),
        removed => axum::Json(json!({ "removed": removed })).into_response(),
    }
}

/// How a task held by a `manual` rule ends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishRequest {
    outcome: RuleOutcome,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

/// `POST /_taskgate/tasks/{service}/{task_id}/finish`: `task_id` is the id the product's
/// actions use (ecm and tcss `TaskId`, tiw `TaskID`/`TaskId`) or the engine's.
async fn finish(
    State(control): State<Arc<Control>>,
    Path((service, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(service) = serde_json::from_value::<Service>(Value::String(service.clone())) else {
        return problem(StatusCode::BAD_REQUEST, format!("unknown service `{service}`"));
    };
    let request: FinishRequest = match json_body(&body) {
        Ok(request) => request,
        Err(refusal) => return problem(StatusCode::BAD_REQUEST, refusal),
    };
    let forced = match request.outcome {
        RuleOutcome::AsRun => Forced::AsRun,
        RuleOutcome::Success => Forced::Success,
        RuleOutcome::Failure => match request.error_code {
            Some(code) if valid_error_code(&code) => {
                Forced::Failure { error_code: code, error_message: request.error_message.unwrap_or_default() }
            }
            _ => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "error_code: a failure needs a code such as `FailedOperation.Example`",
                );
            }
        },
    };
    let task = match find_task(&control, service, &task_id).await {
        Ok(Some(task)) => task,
        Ok(None) => return problem(StatusCode::NOT_FOUND, format!("no {} task `{task_id}`", service.label())),
        Err(e) => return internal(e),
    };
    if forced == Forced::Success
        && let Some(kind_action) = task_action_of(service, &task)
        && let Err(why) = kind_action.forced_success
    {
        return problem(StatusCode::BAD_REQUEST, format!("outcome: this task cannot succeed without its work: {why}"));
    }
    match control.engine.finish_manual(&task.id, forced).await {
        Ok(true) => axum::Json(json!({ "finished": true, "task": task.id.as_str() })).into_response(),
        Ok(false) => problem(StatusCode::CONFLICT, format!("task `{task_id}` is not waiting for a manual finish")),
        Err(e) => internal(e),
    }
}

/// The task of `service` known by `id`, either the engine's id or one of its wire ids.
async fn find_task(control: &Control, service: Service, id: &str) -> anyhow::Result<Option<taskgate_engine::Task>> {
    if let Some(task) = control.engine.get(&TaskId::new(id)).await?
        && Products::wire_ids(&task).is_some_and(|(s, _)| s == service)
    {
        return Ok(Some((*task).clone()));
    }
    for kind in Products::kinds(service) {
        let filter = TaskFilter { kind: Some(kind.clone()), limit: MAX_LISTED, ..TaskFilter::default() };
        for task in control.engine.list(&filter).await? {
            let named = Products::wire_ids(&task).is_some_and(|(_, ids)| {
                ids.values().any(|v| v.as_str() == Some(id) || v.as_i64().map(|n| n.to_string()).as_deref() == Some(id))
            });
            if named {
                return Ok(Some(task));
            }
        }
    }
    Ok(None)
}

/// The action that creates tasks of `task`'s kind.
fn task_action_of(service: Service, task: &taskgate_engine::Task) -> Option<&'static TaskAction> {
    Products::task_actions(service).iter().find(|action| action.kind == task.kind)
}

async fn list_faults(State(control): State<Arc<Control>>) -> Response {
    axum::Json(json!({ "faults": control.gateway.faults.list() })).into_response()
}

async fn clear_faults(State(control): State<Arc<Control>>) -> Response {
    axum::Json(json!({ "removed": control.gateway.faults.clear() })).into_response()
}

async fn remove_fault(State(control): State<Arc<Control>>, Path(id): Path<String>) -> Response {
    axum::Json(json!({ "removed": control.gateway.faults.remove(&id) })).into_response()
}
