//! An axum hello-world: the baseline `bench/gateway.sh` compares taskgate's gateway with.
//!
//! `cargo run --release -p taskgate --example hello_baseline -- [LISTEN]` (default `127.0.0.1:0`)
//! prints `hello_baseline listening on http://HOST:PORT` once bound, then answers `POST /` with
//! a small Tencent-style JSON envelope. Same stack as the server (axum 0.8, hyper, tokio
//! multi-threaded runtime), none of its work: no parsing, no signature, no database.

use axum::{Router, body::Bytes, http::header, response::IntoResponse, routing::post};

const BODY: &str = r#"{"Response":{"TaskID":"","RequestId":"00000000-0000-4000-8000-000000000000"}}"#;

async fn hello(_body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("hello_baseline listening on http://{}", listener.local_addr()?);
    let app = Router::new().route("/", post(hello));
    axum::serve(listener, app).await
}
