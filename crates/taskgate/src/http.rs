//! The HTTP surface on one port: the API at `/`, health and metrics.

use crate::app::App;
use crate::gateway::handle_api;
use crate::products::tiw::{board_page, room_http};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use std::sync::Arc;
use tower_http::services::ServeDir;

pub fn router(app: Arc<App>) -> Router {
    let files = ServeDir::new(app.objects.local_root());
    Router::new()
        .route("/", any(handle_api))
        .route("/whiteboard/v1/rooms/{sdk_app_id}/{room_id}/ops", get(room_http::get_ops).post(room_http::post_ops))
        .route("/whiteboard/v1/rooms/{sdk_app_id}/{room_id}/ws", get(room_http::socket))
        .route("/whiteboard/rooms/{sdk_app_id}/{room_id}", get(board_page::page))
        .nest_service("/files", files)
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
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}
