//! The task record and its vocabulary: ids, kinds, states, and what a product submits.

use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::directive::Directive;
use crate::store::StoreError;

/// A task id. Its format belongs to the product (a UUID, an integer-like string, a 20-char
/// `[0-9a-v]` id…); the engine only needs it unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for TaskId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for TaskId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// The key an executor is registered under, e.g. `tiw.snapshot`. Products map their own
/// enums to these with `const` values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskKind(Cow<'static, str>);

impl TaskKind {
    pub const fn from_static(kind: &'static str) -> Self {
        Self(Cow::Borrowed(kind))
    }

    pub fn new(kind: impl Into<String>) -> Self {
        Self(Cow::Owned(kind.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for TaskKind {
    fn from(s: &'static str) -> Self {
        Self::from_static(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskState {
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "succeeded" => TaskState::Succeeded,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            _ => return None,
        })
    }

    pub const fn is_finished(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored task. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskId,
    /// The owning account (the caller's UIN).
    pub account: String,
    pub kind: TaskKind,
    pub state: TaskState,
    pub input: Value,
    pub result: Option<Value>,
    /// The last error: of the failed attempt while retrying, the final one once failed.
    pub error: Option<String>,
    pub progress: Option<Value>,
    pub created_at_ms: i64,
    /// The first time a worker picked the task up.
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    /// Claims so far, the running one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_run_at_ms: i64,
    pub lease_owner: Option<String>,
    /// The fencing token: incremented by every claim and every rescue.
    pub lease_no: i64,
    pub lease_expires_at_ms: Option<i64>,
    pub heartbeat_at_ms: Option<i64>,
    pub cancel_requested: bool,
    /// A test harness's directive for this task, if one was given when it was submitted.
    pub directive: Option<Directive>,
}

impl Task {
    /// The lease this record was read under; only its holder may finish or update the task.
    pub fn lease(&self) -> Lease {
        Lease { task_id: self.id.clone(), lease_no: self.lease_no }
    }
}

/// A claim on a running task, fenced by its lease number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub task_id: TaskId,
    pub lease_no: i64,
}

/// What a product submits.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub id: TaskId,
    pub account: String,
    pub kind: TaskKind,
    pub input: Value,
    /// `None` takes the engine's default.
    pub max_attempts: Option<u32>,
    /// Do not run before this time; `None` means now.
    pub run_at_ms: Option<i64>,
}

impl NewTask {
    pub fn new(id: impl Into<TaskId>, account: impl Into<String>, kind: TaskKind, input: Value) -> Self {
        Self { id: id.into(), account: account.into(), kind, input, max_attempts: None, run_at_ms: None }
    }

    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    pub fn run_at_ms(mut self, at: i64) -> Self {
        self.run_at_ms = Some(at);
        self
    }
}

/// The column list every task query selects, as a literal so it can be `concat!`ed into
/// `'static` SQL.
macro_rules! task_columns {
    () => {
        "id, account, kind, state, input, result, error, progress, created_at_ms, \
         started_at_ms, finished_at_ms, attempts, max_attempts, next_run_at_ms, lease_owner, lease_no, \
         lease_expires_at_ms, heartbeat_at_ms, cancel_requested, directive"
    };
}
pub(crate) use task_columns;

fn parse_json(what: &'static str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

fn to_u32(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt { what, detail: format!("{n} out of range") })
}

pub(crate) fn task_from_row<'r, R>(r: &'r R) -> Result<Task, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let state: String = r.try_get("state")?;
    let input: String = r.try_get("input")?;
    let result: Option<String> = r.try_get("result")?;
    let progress: Option<String> = r.try_get("progress")?;
    let directive: Option<String> = r.try_get("directive")?;
    Ok(Task {
        id: TaskId(r.try_get("id")?),
        account: r.try_get("account")?,
        kind: TaskKind::new(r.try_get::<String, _>("kind")?),
        state: TaskState::parse(&state).ok_or(StoreError::Corrupt { what: "task state", detail: state })?,
        input: parse_json("task input", &input)?,
        result: result.as_deref().map(|t| parse_json("task result", t)).transpose()?,
        error: r.try_get("error")?,
        progress: progress.as_deref().map(|t| parse_json("task progress", t)).transpose()?,
        created_at_ms: r.try_get("created_at_ms")?,
        started_at_ms: r.try_get("started_at_ms")?,
        finished_at_ms: r.try_get("finished_at_ms")?,
        attempts: to_u32("task attempts", r.try_get("attempts")?)?,
        max_attempts: to_u32("task max_attempts", r.try_get("max_attempts")?)?,
        next_run_at_ms: r.try_get("next_run_at_ms")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_no: r.try_get("lease_no")?,
        lease_expires_at_ms: r.try_get("lease_expires_at_ms")?,
        heartbeat_at_ms: r.try_get("heartbeat_at_ms")?,
        cancel_requested: r.try_get("cancel_requested")?,
        directive: directive.as_deref().map(Directive::from_stored).transpose()?,
    })
}
