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
