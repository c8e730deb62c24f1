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

#[cfg(test)]
mod tests {
    /// The page replays the log itself: its undo bound must be the server's.
    #[test]
    fn the_page_bounds_undo_as_the_server_replay_does() {
        let line = format!("const UNDO_LIMIT = {};", whiteboard::replay::UNDO_LIMIT);
        assert!(super::BOARD_HTML.contains(&line), "assets/board.html lacks `{line}`");
    }
}
