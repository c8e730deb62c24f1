//! Test directives: how a test harness wants a task to go — held for a while, held until it
//! is told how to end, or ended with a forced outcome instead of running its work. The engine
//! stores a task's directive with it and its workers obey it; products never see directives,
//! they only say how their kind fails or succeeds when forced ([`Executor::forced`]).
//!
//! Directives reach tasks without passing through products: the API edge runs an action
//! inside [`scope`] with a [`DirectiveSource`], and every task the action submits in that
//! scope asks the source for its directive.
//!
//! [`Executor::forced`]: crate::Executor::forced

use std::{future::Future, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::{
    executor::{ExecError, Executor, Outcome, TaskContext},
    on_pool,
    store::{Store, StoreError},
    task::TaskId,
};

/// How a directed task ends once its hold is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Forced {
    /// Its executor runs the work as usual.
    AsRun,
    /// It succeeds without running, as its kind says a work-less success reads.
    Success,
    /// It fails as its product reports a failure, with this code and message.
    Failure { error_code: String, error_message: String },
}

/// A test harness's directive for one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directive {
    /// The rule that gave it (the harness's id), for listings.
    pub rule: String,
    /// Milliseconds the task is held, running, before anything else happens.
    pub hold_ms: u64,
    /// Held after that until [`crate::Engine::finish_manual`] says how it ends.
    pub manual: bool,
    #[serde(flatten)]
    pub outcome: Forced,
}

/// Gives the directive of each task submitted in a [`scope`]: `None` leaves the task ordinary.
/// Called once per submitted task, so a source can count them.
pub trait DirectiveSource: Send + Sync {
    fn next(&self) -> Option<Directive>;
}

tokio::task_local! {
    static SOURCE: Arc<dyn DirectiveSource>;
}

/// Runs `future` with `source` giving the directives of the tasks it submits.
pub async fn scope<F: Future>(source: Arc<dyn DirectiveSource>, future: F) -> F::Output {
    SOURCE.scope(source, future).await
}

/// The directive of a task being submitted now, from the enclosing [`scope`] if any.
pub(crate) fn next() -> Option<Directive> {
    SOURCE.try_with(|source| source.next()).ok().flatten()
}

/// How often a task held for its outcome looks whether it came (it may be set on any node).
const MANUAL_POLL: Duration = Duration::from_millis(100);

/// Runs a directed task: its hold, then (manual) the wait for its outcome, then its work or
/// its executor's forced end. A cancel ends the hold or the wait as a cancellation.
pub(crate) async fn run(
    executor: &dyn Executor,
    ctx: TaskContext,
    directive: Directive,
    store: &Store,
) -> Result<Outcome, ExecError> {
    let held = || ExecError::cancelled("cancelled while held by a test rule");
    let token = ctx.cancel_token().clone();
    if directive.hold_ms > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(directive.hold_ms)) => {}
            () = token.cancelled() => return Err(held()),
        }
    }
    let outcome = if directive.manual {
        loop {
            match read(store, ctx.id()).await {
                Ok(Some(now)) if !now.manual => break now.outcome,
                Ok(_) => {}
                Err(error) => tracing::warn!(task = %ctx.id(), %error, "reading a held task's directive failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(MANUAL_POLL) => {}
                () = token.cancelled() => return Err(held()),
            }
        }
    } else {
        directive.outcome
    };
    match outcome {
        Forced::AsRun => executor.execute(ctx).await,
        forced => executor.forced(ctx, &forced).await,
    }
}

pub(crate) async fn read(store: &Store, id: &TaskId) -> Result<Option<Directive>, StoreError> {
    let text: Option<String> = on_pool!(store.reader(), p => {
        match sqlx::query("SELECT directive FROM tg_tasks WHERE id = $1").bind(id.as_str()).fetch_optional(p).await? {
            Some(row) => row.try_get("directive")?,
            None => None,
        }
    });
    text.as_deref().map(Directive::from_stored).transpose()
}

impl Directive {
    /// The text `tg_tasks.directive` holds.
    pub(crate) fn to_stored(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt { what: "task directive", detail: e.to_string() })
    }

    /// A directive read back from `tg_tasks.directive`.
    pub(crate) fn from_stored(text: &str) -> Result<Self, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt { what: "task directive", detail: e.to_string() })
    }
}
