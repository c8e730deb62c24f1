//! The HTTP surface on one port: the API at `/`, the tiw room routes and board page, the public
//! bucket's files, health and metrics.

use crate::gateway::{Gateway, handle_api};
use crate::products::tiw::{Tiw, board_page, room_http};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    let router = Router::new().merge(api).merge(rooms).route("/healthz", get(healthz).with_state(store));
    match objects.local_root() {
        Some(dir) => router.nest_service("/files", ServeDir::new(dir)),
        None => router.route("/files/{*key}", get(public_object).with_state(objects.clone())),
    }
}

/// `GET /files/{key}` of an S3 public bucket: any node serves any object, so `base_url` may
/// name a node (or a load balancer in front of several) rather than the S3 endpoint.
async fn public_object(State(objects): State<Objects>, Path(key): Path<String>) -> Response {
    match objects.public_object(&key).await {
        Ok(Some(object)) => (
            [(header::CONTENT_TYPE, content_type(&key).to_owned()), (header::CONTENT_LENGTH, object.size.to_string())],
            Body::from_stream(object.content),
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(%error, key, "reading a public object failed");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

/// The types of what the public bucket holds (snapshot pictures, HLS streams), as `ServeDir`
/// names them for the local bucket.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
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
