//! The browser whiteboard client (`assets/board.html`): one static page that reads its user from
//! its own query string and speaks the room protocol over the WebSocket, so it needs no state here.

use axum::http::header;
use axum::response::IntoResponse;

const BOARD_HTML: &str = include_str!("../../../assets/board.html");

/// `GET /whiteboard/rooms/{sdk_app_id}/{room_id}`: the page; the room is taken from the path by
/// the page itself and checked by the WebSocket it opens.
pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], BOARD_HTML)
}
