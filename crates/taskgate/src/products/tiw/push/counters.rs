//! Frames of all whiteboard pushes of this node, exported with the server's metrics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// A push is real time while `dropped` stays still.
#[derive(Clone, Debug, Default)]
pub struct PushCounters {
    /// Frames handed to encoders.
    pub frames: Counter,
    /// Frames skipped because an encoder fell more than a frame behind.
    pub dropped: Counter,
    /// Encoder or output failures (each restarts the push's pipeline).
    pub exceptions: Counter,
}

impl PushCounters {
    /// New counters, registered in `registry` as `taskgate_push_*`.
    pub fn registered(registry: &mut Registry) -> Self {
        let counters = Self::default();
        registry.register("taskgate_push_frames", "Frames handed to whiteboard push encoders", counters.frames.clone());
        registry.register(
            "taskgate_push_frames_dropped",
            "Push frames skipped because an encoder fell behind",
            counters.dropped.clone(),
        );
        registry.register(
            "taskgate_push_exceptions",
            "Whiteboard push encoder or output failures",
            counters.exceptions.clone(),
        );
        counters
    }
}
