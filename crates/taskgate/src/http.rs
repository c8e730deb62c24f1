//! The HTTP surface on one port: the API at `/`, health and metrics.

use crate::app::App;
use crate::gateway::handle_api;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", any(handle_api))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// Liveness plus a database round trip: 503 when the store does not answer.
async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    let (status, body) = if app.database_ok().await {
        (StatusCode::OK, r#"{"status":"ok","database":"ok"}"#)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unavailable","database":"unreachable"}"#)
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        app.metrics.render(),
    )
}
