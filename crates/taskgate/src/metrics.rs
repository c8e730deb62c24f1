//! Prometheus metrics: API requests by service, action and answer code, and their latency; the
//! backlog (queued tasks per kind and account, undelivered callbacks per destination); products
//! register their own (whiteboard push frames) in the same registry.

use crate::action::Service;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use taskgate_engine::{Engine, Outbox, QueueStat};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every label value is a static name (service, action table entry, error code), so counting a
/// request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: &'static str,
    action: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    service: &'static str,
    action: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    backlog: Backlog,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    kind: String,
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

/// Most (kind, account) and destination series the backlog gauges show; the longest queues win.
pub const MAX_BACKLOG_SERIES: usize = 100;

/// What waits, per task kind and account and per callback destination, so an operator sees a
/// noisy tenant: set whole by [`Backlog::set`] every few seconds.
#[derive(Clone, Default)]
pub struct Backlog {
    queue_depth: Family<QueueLabels, Gauge>,
    queue_oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    outbox_pending: Family<DestinationLabels, Gauge>,
    outbox_lag: Family<DestinationLabels, Gauge<f64, AtomicU64>>,
}

/// How often the backlog gauges are read from the store.
pub const BACKLOG_REFRESH: Duration = Duration::from_secs(2);
/// Undelivered callbacks read per refresh, the oldest first.
const BACKLOG_CALLBACKS: u32 = 10_000;

impl Backlog {
    /// Refreshes the gauges every [`BACKLOG_REFRESH`] until `stop` is cancelled.
    pub fn spawn_refresh(self, engine: Engine, outbox: Outbox, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(BACKLOG_REFRESH);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = every.tick() => {}
                }
                match tokio::try_join!(async { engine.queue_stats().await.map_err(|e| e.to_string()) }, async {
                    outbox.backlog(BACKLOG_CALLBACKS).await.map_err(|e| e.to_string())
                },)
                {
                    Ok((queues, callbacks)) => self.set(&queues, &callbacks, engine.clock().now_ms()),
                    Err(error) => tracing::warn!(%error, "reading the backlog for /metrics failed"),
                }
            }
        })
    }

    /// Replaces every series with `queues` and `outbox` as of `now_ms`.
    pub fn set(&self, queues: &[QueueStat], outbox: &[(String, u64, i64)], now_ms: i64) {
        let age = |since_ms: i64| (now_ms.saturating_sub(since_ms).max(0) as f64) / 1000.0;
        let mut queues: Vec<&QueueStat> = queues.iter().collect();
        queues.sort_by_key(|stat| std::cmp::Reverse(stat.depth));
        self.queue_depth.clear();
        self.queue_oldest_age.clear();
        for stat in queues.into_iter().take(MAX_BACKLOG_SERIES) {
            let labels = QueueLabels { kind: stat.kind.as_str().to_owned(), account: stat.account.clone() };
            self.queue_depth.get_or_create(&labels).set(i64::try_from(stat.depth).unwrap_or(i64::MAX));
            self.queue_oldest_age.get_or_create(&labels).set(age(stat.oldest_created_at_ms));
        }
        let mut outbox: Vec<&(String, u64, i64)> = outbox.iter().collect();
        outbox.sort_by_key(|(_, pending, _)| std::cmp::Reverse(*pending));
        self.outbox_pending.clear();
        self.outbox_lag.clear();
        for (destination, pending, oldest) in outbox.into_iter().take(MAX_BACKLOG_SERIES) {
            let labels = DestinationLabels { destination: destination.clone() };
            self.outbox_pending.get_or_create(&labels).set(i64::try_from(*pending).unwrap_or(i64::MAX));
            self.outbox_lag.get_or_create(&labels).set(age(*oldest));
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register("taskgate_requests", "API requests by service, action and answer code", requests.clone());
        registry.register("taskgate_request_duration_seconds", "API request latency", latency.clone());
        let backlog = Backlog::default();
        registry.register("taskgate_queue_depth", "Queued tasks by kind and account", backlog.queue_depth.clone());
        registry.register(
            "taskgate_queue_oldest_age_seconds",
            "How long the oldest queued task of a kind and account has waited",
            backlog.queue_oldest_age.clone(),
        );
        registry.register(
            "taskgate_outbox_pending",
            "Callbacks not yet delivered, by destination",
            backlog.outbox_pending.clone(),
        );
        registry.register(
            "taskgate_outbox_lag_seconds",
            "How long the oldest undelivered callback of a destination has waited",
            backlog.outbox_lag.clone(),
        );
        Self { registry, requests, latency, backlog }
    }
}

impl Metrics {
    /// Requests that never reached an action (bad signature, unknown action) count under empty
    /// service/action labels, so a flood of garbage cannot mint unbounded label sets.
    /// `code`: the answer's error code as the metrics label it (`None` for a success).
    pub fn observe(
        &self,
        service: Option<Service>,
        action: &'static str,
        code: Option<&'static str>,
        elapsed: Duration,
    ) {
        let (service, action) = match service {
            Some(service) => (service.label(), action),
            None => ("", ""),
        };
        let code = code.unwrap_or("OK");
        self.requests.get_or_create(&RequestLabels { service, action, code }).inc();
        self.latency.get_or_create(&LatencyLabels { service, action }).observe(elapsed.as_secs_f64());
    }

    /// The backlog gauges, for the loop that refreshes them.
    pub fn backlog(&self) -> Backlog {
        self.backlog.clone()
    }

    /// Where products register their own metrics, before the server starts serving.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
