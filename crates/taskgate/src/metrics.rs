//! Prometheus metrics: API requests by service, action and answer code, and their latency;
//! products register their own (whiteboard push frames) in the same registry.

use crate::action::Service;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

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
        Self { registry, requests, latency }
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
