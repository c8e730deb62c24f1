//! The HTTP/1.1 listener: hyper connections with limits chosen so that every request a client
//! can reasonably send reaches the API and is answered inside the `{"Response": …}` envelope,
//! and a shutdown that stops accepting at once and waits a bounded time for open requests.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

/// Most header lines in one request. hyper's default (100) answers more with a bare HTTP 431;
/// Tencent documents no such limit and its SDKs send about ten.
pub const MAX_HEADERS: usize = 1024;
/// Largest request head (request line and headers) hyper buffers, in bytes. The request line's
/// URI is capped separately by hyper at 65,534 bytes (a bare HTTP 414 beyond, the one answer
/// outside the envelope), twice Tencent's 32 KB limit for a GET query, which the API answers
/// with `RequestSizeLimitExceeded`.
pub const MAX_HEAD_BYTES: usize = 1 << 20;
/// A client must send its whole request head within this time (slow-header clients).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for requests in flight before closing their connections.
pub const DRAIN_GRACE: Duration = Duration::from_secs(3);
/// Most HTTP connections served at once; further clients wait in the listen backlog, so a
/// flood of idle sockets cannot exhaust the file descriptors the store and workers need
/// (`main` raises the descriptor limit to at least twice this where the hard limit allows).
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open connections
/// finish their current request for at most [`DRAIN_GRACE`] and closes the rest.
/// Requests carry the client's address as axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(peer).await;
        let service = TowerToHyperService::new(service);
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .max_headers(MAX_HEADERS)
                .max_buf_size(MAX_HEAD_BYTES)
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    return;
                }
                () = stop.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error during shutdown");
            }
        });
        // Reap finished connections so the set does not grow with the server's uptime.
        while connections.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(DRAIN_GRACE, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(open = connections.len(), "closing connections still open after the drain grace");
        connections.shutdown().await;
    }
}
