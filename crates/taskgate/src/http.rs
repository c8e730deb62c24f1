//! The HTTP surface on one port: the API at `/`, the tiw room routes and board page, the public
//! bucket's files, health and metrics.

use crate::gateway::{Gateway, handle_api};
use crate::products::tiw::{Tiw, board_page, room_http};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use std::sync::Arc;
use taskgate_engine::Store;
use taskgate_engine::objects::Objects;
use tower_http::services::ServeDir;

pub(crate) fn router(gateway: Arc<Gateway>, tiw: Arc<Tiw>, objects: &Objects, store: Store) -> Router {
    let rooms = Router::new()
        .route("/whiteboard/v1/rooms/{sdk_app_id}/{room_id}/ops", get(room_http::get_ops).post(room_http::post_ops))
        .route("/whiteboard/v1/rooms/{sdk_app_id}/{room_id}/ws", get(room_http::socket))
        .route("/whiteboard/rooms/{sdk_app_id}/{room_id}", get(board_page::page))
        .with_state(tiw);
    let api = Router::new().route("/", any(handle_api)).route("/metrics", get(metrics)).with_state(gateway);
    Router::new()
        .merge(api)
        .merge(rooms)
        .route("/healthz", get(healthz).with_state(store))
        .nest_service("/files", ServeDir::new(objects.local_root()))
}

/// Liveness plus a database round trip: 503 when the store does not answer.
async fn healthz(State(store): State<Store>) -> impl IntoResponse {
    let ping =
        taskgate_engine::on_pool!(store.reader(), pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()));
    let (status, body) = match ping {
        Ok(()) => (StatusCode::OK, r#"{"status":"ok","database":"ok"}"#),
        Err(error) => {
            tracing::warn!(%error, "database health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unavailable","database":"unreachable"}"#)
        }
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], gateway.metrics.render())
}
