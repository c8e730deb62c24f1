//! taskgate's durable task machinery: the database ([`store`]) and its schema
//! ([`migrations`]), tasks ([`task`]) and their typed contracts ([`contract`]), what a product
//! implements to run them ([`executor`]), the engine that queues and runs them ([`engine`], with
//! its workers), the callback [`outbox`], the [`url_guard`] for user-supplied URLs, object
//! storage ([`objects`]), ClientToken [`idempotency`] and v1 request [`nonces`]; a test harness's reset wipes tasks
//! ([`Engine::purge`]). The `testing`
//! feature adds helpers for tests and benchmarks.

mod backend;
pub mod clock;
pub mod contract;
pub mod directive;
pub mod engine;
pub mod executor;
mod finished;
pub mod idempotency;
pub mod migrations;
pub mod nonces;
pub mod objects;
pub mod outbox;
mod reset;
pub mod signals;
mod slots;
pub mod store;
pub mod task;
#[cfg(feature = "testing")]
pub mod testing;
pub mod url_guard;
mod worker;

pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SeededEntropy, SystemClock, jittered_backoff_ms};
pub use contract::TaskSpec;
pub use directive::{Directive, DirectiveSource, Forced};
pub use engine::{CancelOutcome, Engine, EngineBuilder, EngineConfig, EngineError, KindOptions, QueueStat, TaskFilter};
pub use executor::{
    Abandonment, CancelReason, ErrorClass, ExecError, Executor, Outcome, ProgressError, SuccessRows, TaskContext,
    WriteOnSuccess,
};
pub use migrations::{MigrationSet, SchemaMigration};
pub use outbox::{Callback, CallbackFilter, CallbackRecord, DeliveryAttempt, Outbox, OutboxConfig};
pub use reset::Purged;
pub use signals::{Signal, Signals, Subscription};
pub use store::{Backend, Store, StoreError, StoreOptions, Tx, like_containing};
pub use task::{Lease, NewTask, Task, TaskId, TaskKind, TaskState};

/// Installs ring as the process's TLS crypto provider (this crate's HTTP clients are built
/// without a built-in one, to avoid compiling aws-lc). Harmless when one is already set.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
