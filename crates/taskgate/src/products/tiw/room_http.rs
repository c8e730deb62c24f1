//! The room protocol over HTTP and WebSocket (see docs in README): clients authenticated by
//! UserSig append operations to a room's log and receive everyone's operations live.

use super::rooms::RoomKey;
use crate::app::App;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use taskgate_engine::{Clock, SystemClock};
use tokio::sync::broadcast::error::RecvError;
use whiteboard::op::{LoggedOp, parse_ops};

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Checks that `user_sig` was issued for `user_id` by the room's SdkAppId.
fn authenticate(app: &App, room: RoomKey, user_id: &str, user_sig: &str) -> Result<(), Box<Response>> {
    let Some(key) = app.accounts.sdk_app_key(room.sdk_app_id) else {
        return Err(Box::new(refuse(StatusCode::NOT_FOUND, format!("SdkAppId {} is not configured", room.sdk_app_id))));
    };
    if user_id.is_empty() {
        return Err(Box::new(refuse(StatusCode::UNAUTHORIZED, "user_id is missing")));
    }
    tcapi::usersig::verify_usersig(key, room.sdk_app_id, user_id, user_sig, time::OffsetDateTime::now_utc().unix_timestamp())
        .map_err(|e| Box::new(refuse(StatusCode::UNAUTHORIZED, e.to_string())))
}

fn header_identity(headers: &HeaderMap) -> (String, String) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (get("x-user-id"), get("x-user-sig"))
}

pub async fn post_ops(
    State(app): State<Arc<App>>,
    Path((sdk_app_id, room_id)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let room = RoomKey { sdk_app_id, room_id };
    let (user_id, user_sig) = header_identity(&headers);
    if let Err(refused) = authenticate(&app, room, &user_id, &user_sig) {
        return *refused;
    }
    let ops = match parse_ops(&body) {
        Ok(ops) => ops,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match app.rooms.append(room, &user_id, ops, SystemClock.now_ms()).await {
        Ok(logged) => axum::Json(json!({ "ops": logged })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "appending room operations failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "the operations could not be stored")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: u64,
}

pub async fn get_ops(
    State(app): State<Arc<App>>,
    Path((sdk_app_id, room_id)): Path<(u64, u64)>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Response {
    let room = RoomKey { sdk_app_id, room_id };
    let (user_id, user_sig) = header_identity(&headers);
    if let Err(refused) = authenticate(&app, room, &user_id, &user_sig) {
        return *refused;
    }
    match app.rooms.log(room, query.after, None).await {
        Ok(ops) => axum::Json(json!({ "ops": ops })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading a room log failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "the room log could not be read")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SocketQuery {
    user_id: String,
    user_sig: String,
}

pub async fn socket(
    State(app): State<Arc<App>>,
    Path((sdk_app_id, room_id)): Path<(u64, u64)>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let room = RoomKey { sdk_app_id, room_id };
    if let Err(refused) = authenticate(&app, room, &query.user_id, &query.user_sig) {
        return *refused;
    }
    upgrade.on_upgrade(move |socket| serve_socket(app, room, query.user_id, socket))
}

fn frame(kind: &str, ops: &[LoggedOp]) -> Message {
    Message::Text(json!({ "type": kind, "ops": ops }).to_string().into())
}

/// Sends the log, then relays the room's operations both ways until the client leaves.
async fn serve_socket(app: Arc<App>, room: RoomKey, user_id: String, mut socket: WebSocket) {
    // Subscribe before reading the log, so nothing appended in between is missed.
    let mut live = app.rooms.subscribe(room);
    let log = match app.rooms.log(room, 0, None).await {
        Ok(log) => log,
        Err(e) => {
            tracing::error!(error = %e, "reading a room log failed");
            return;
        }
    };
    let mut sent = log.last().map_or(0, |op| op.seq);
    if socket.send(frame("log", &log)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = match parse_ops(&text) {
                        Ok(ops) => app.rooms.append(room, &user_id, ops, SystemClock.now_ms()).await.err().map(|e| {
                            tracing::error!(error = %e, "appending room operations failed");
                            "the operations could not be stored".to_owned()
                        }),
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(message) = reply {
                        let error = json!({ "type": "error", "message": message }).to_string();
                        if socket.send(Message::Text(error.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            announced = live.recv() => {
                let ops: Vec<LoggedOp> = match announced {
                    Ok(ops) => ops.iter().filter(|op| op.seq > sent).cloned().collect(),
                    // Too slow a reader: catch up from the log instead.
                    Err(RecvError::Lagged(_)) => match app.rooms.log(room, sent, None).await {
                        Ok(ops) => ops,
                        Err(_) => return,
                    },
                    Err(RecvError::Closed) => return,
                };
                if let Some(last) = ops.last() {
                    sent = last.seq;
                    if socket.send(frame("ops", &ops)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
