//! `Registration`: a task kind's executor as a product hands it to the server, which registers
//! it with the engine (after applying the `[concurrency]` configuration).

use std::sync::Arc;
use taskgate_engine::{Executor, KindOptions, TaskKind};

pub struct Registration {
    pub kind: TaskKind,
    /// The product's defaults; `[concurrency]` may change how many run at once.
    pub options: KindOptions,
    pub executor: Arc<dyn Executor>,
}

/// Tasks of one kind running at once on a node unless a product or `[concurrency]` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Registration {
    /// A kind whose tasks end on their own, [`DEFAULT_CONCURRENCY`] at once.
    pub fn finite(kind: TaskKind, executor: Arc<dyn Executor>) -> Self {
        Self { kind, options: KindOptions::concurrency(DEFAULT_CONCURRENCY), executor }
    }
}

/// An action that creates tasks, as test rules see it (`/_taskgate/rules`).
#[derive(Debug, Clone)]
pub struct TaskAction {
    pub name: &'static str,
    /// The kind of the tasks it creates.
    pub kind: TaskKind,
    /// Whether a test rule may force its tasks to succeed without their work: `Err` says why
    /// such a success would be a lie (a snapshot without pictures, an image without a disk).
    pub forced_success: Result<(), &'static str>,
}
