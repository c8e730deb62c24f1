//! The room protocol over HTTP and WebSocket (see docs in README): clients authenticated by
//! UserSig append operations to a room's log and receive everyone's operations live.
//!
//! Every limit answers with a JSON `{"error": …}` naming it: 400 for an id outside 1..=i64::MAX
//! or an invalid operation, 413 for a request over `room_max_request_bytes` or
//! `room_max_ops_per_request`, 429 for a room at its quota (`room_max_ops`, `room_max_bytes`).
//! Over the WebSocket the same refusals are `{"type":"error","message":…}` frames; a message
//! over `room_max_request_bytes` closes the socket.

use super::context::Tiw;
use super::rooms::{AppendError, RoomKey};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use whiteboard::op::{LoggedOp, Op, parse_ops};

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The room of a URL, or a 400 naming the id out of range.
fn room_of(sdk_app_id: &str, room_id: &str) -> Result<RoomKey, Box<Response>> {
    RoomKey::parse(sdk_app_id, room_id).map_err(|e| Box::new(refuse(StatusCode::BAD_REQUEST, e.to_string())))
}

/// Checks that `user_sig` was issued for `user_id` by the room's SdkAppId.
fn authenticate(tiw: &Tiw, room: RoomKey, user_id: &str, user_sig: &str) -> Result<(), Box<Response>> {
    let Some(key) = tiw.sdk_app_keys.get(&room.sdk_app_id()) else {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            format!("SdkAppId {} is not configured", room.sdk_app_id()),
        )));
    };
    if user_id.is_empty() {
        return Err(Box::new(refuse(StatusCode::UNAUTHORIZED, "user_id is missing")));
    }
    tcapi::usersig::verify_usersig(key, room.sdk_app_id(), user_id, user_sig, tiw.now_unix())
        .map_err(|e| Box::new(refuse(StatusCode::UNAUTHORIZED, e.to_string())))
}

fn header_identity(headers: &HeaderMap) -> (String, String) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (get("x-user-id"), get("x-user-sig"))
}

/// A refusal of operations a client sent, as HTTP status and message.
struct Refusal {
    status: StatusCode,
    message: String,
}

/// Parses a request's operations and checks the per-request limits.
fn parse_request(tiw: &Tiw, text: &str) -> Result<Vec<Op>, Refusal> {
    let ops = parse_ops(text).map_err(|e| Refusal { status: StatusCode::BAD_REQUEST, message: e.to_string() })?;
    let max = tiw.config.room_max_ops_per_request;
    if ops.len() > max {
        return Err(Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "a request holds at most {max} operations (tiw.room_max_ops_per_request), got {}",
                ops.len()
            ),
        });
    }
    Ok(ops)
}

async fn append(tiw: &Tiw, room: RoomKey, user_id: &str, ops: Vec<Op>) -> Result<Vec<LoggedOp>, Refusal> {
    tiw.rooms.append(room, user_id, ops, tiw.engine.clock().now_ms()).await.map_err(|e| match e {
        AppendError::Quota(quota) => Refusal { status: StatusCode::TOO_MANY_REQUESTS, message: quota.to_string() },
        AppendError::Store(e) => {
            tracing::error!(error = %e, "appending room operations failed");
            Refusal { status: StatusCode::INTERNAL_SERVER_ERROR, message: "the operations could not be stored".into() }
        }
    })
}

pub async fn post_ops(
    State(tiw): State<Arc<Tiw>>,
    Path((sdk_app_id, room_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let room = match room_of(&sdk_app_id, &room_id) {
        Ok(room) => room,
        Err(refused) => return *refused,
    };
    let (user_id, user_sig) = header_identity(&headers);
    if let Err(refused) = authenticate(&tiw, room, &user_id, &user_sig) {
        return *refused;
    }
    let max = tiw.config.room_max_request_bytes;
    // Read up to the limit only: a larger body is refused without being held.
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a request body holds at most {max} bytes (tiw.room_max_request_bytes)"),
        );
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return refuse(StatusCode::BAD_REQUEST, "the request body is not UTF-8 text");
    };
    let appended = match parse_request(&tiw, text) {
        Ok(ops) => append(&tiw, room, &user_id, ops).await,
        Err(refusal) => Err(refusal),
    };
    match appended {
        Ok(ops) => axum::Json(Appended { ops }).into_response(),
        Err(refusal) => refuse(refusal.status, refusal.message),
    }
}

/// The answer to `POST …/ops`: the stamped operations.
#[derive(Serialize)]
struct Appended {
    ops: Vec<LoggedOp>,
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: u64,
    /// Operations per page; absent means `room_log_page_ops`, larger than
    /// `room_log_page_max_ops` is lowered to it.
    limit: Option<usize>,
}

/// One page of the log: `{"ops":[…],"next_after":N,"more":bool}`; read on with
/// `after=next_after` while `more`.
pub async fn get_ops(
    State(tiw): State<Arc<Tiw>>,
    Path((sdk_app_id, room_id)): Path<(String, String)>,
    query: Result<Query<LogQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let room = match room_of(&sdk_app_id, &room_id) {
        Ok(room) => room,
        Err(refused) => return *refused,
    };
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return refuse(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let (user_id, user_sig) = header_identity(&headers);
    if let Err(refused) = authenticate(&tiw, room, &user_id, &user_sig) {
        return *refused;
    }
    match tiw.rooms.log_page(room, query.after, None, query.limit).await {
        Ok(page) => axum::Json(page).into_response(),
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
    State(tiw): State<Arc<Tiw>>,
    Path((sdk_app_id, room_id)): Path<(String, String)>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let room = match room_of(&sdk_app_id, &room_id) {
        Ok(room) => room,
        Err(refused) => return *refused,
    };
    if let Err(refused) = authenticate(&tiw, room, &query.user_id, &query.user_sig) {
        return *refused;
    }
    let max = tiw.config.room_max_request_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_socket(tiw, room, query.user_id, socket))
}

/// A frame to a room client. Serialised straight from the operations: going through a
/// `serde_json::Value` would hold every point of a page as a separate tree node, several
/// times the page's size.
#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    ops: &'a [LoggedOp],
    #[serde(skip_serializing_if = "Option::is_none")]
    more: Option<bool>,
}

fn frame(kind: &str, ops: &[LoggedOp], more: Option<bool>) -> Option<Message> {
    match serde_json::to_string(&Frame { kind, ops, more }) {
        Ok(text) => Some(Message::Text(text.into())),
        Err(e) => {
            tracing::error!(error = %e, "serialising a room frame failed");
            None
        }
    }
}

/// Sends the log after `after` page by page (`{"type":"log","ops":[…],"more":bool}` frames,
/// the last with `more: false`) and returns the last `seq` sent; `None` when the socket or
/// the store failed.
async fn send_log(tiw: &Tiw, room: RoomKey, after: u64, kind: &str, socket: &mut WebSocket) -> Option<u64> {
    let mut sent = after;
    loop {
        let page = match tiw.rooms.log_page(room, sent, None, None).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "reading a room log failed");
                return None;
            }
        };
        sent = page.next_after;
        let more = page.more;
        if kind == "log" || !page.ops.is_empty() {
            socket.send(frame(kind, &page.ops, Some(more))?).await.ok()?;
        }
        if !more {
            return Some(sent);
        }
    }
}

/// Sends the log in pages, then relays the room's operations both ways until the client
/// leaves or the server shuts down.
async fn serve_socket(tiw: Arc<Tiw>, room: RoomKey, user_id: String, mut socket: WebSocket) {
    let _served = tiw.rooms.socket_token();
    // Subscribe before reading the log, so nothing appended in between is missed.
    let mut live = tiw.rooms.subscribe(room);
    let closing = tiw.rooms.closing().clone();
    let Some(mut sent) = send_log(&tiw, room, 0, "log", &mut socket).await else {
        return;
    };
    loop {
        tokio::select! {
            () = closing.cancelled() => {
                let close = CloseFrame { code: close_code::AWAY, reason: "the server is shutting down".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let appended = match parse_request(&tiw, &text) {
                        Ok(ops) => append(&tiw, room, &user_id, ops).await,
                        Err(refusal) => Err(refusal),
                    };
                    if let Err(refusal) = appended {
                        let error = json!({ "type": "error", "message": refusal.message }).to_string();
                        if socket.send(Message::Text(error.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            announced = live.recv() => {
                match announced {
                    // Operations this client has not seen come before these (or may, for an
                    // empty announcement): the log has them, in order.
                    Ok(ops) if ops.first().is_none_or(|op| op.seq > sent + 1) => {
                        match send_log(&tiw, room, sent, "ops", &mut socket).await {
                            Some(last) => sent = last,
                            None => return,
                        }
                    }
                    Ok(ops) => {
                        let ops: Vec<LoggedOp> = ops.iter().filter(|op| op.seq > sent).cloned().collect();
                        if let Some(last) = ops.last() {
                            sent = last.seq;
                            let Some(message) = frame("ops", &ops, None) else { return };
                            if socket.send(message).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Too slow a reader: catch up from the log instead, page by page.
                    Err(RecvError::Lagged(_)) => match send_log(&tiw, room, sent, "ops", &mut socket).await {
                        Some(last) => sent = last,
                        None => return,
                    },
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }
}
