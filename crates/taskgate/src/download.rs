//! Streams a file from a user-supplied URL to disk, hashing it on the way: never held in memory,
//! capped in size, reporting progress, stopping when the task is cancelled. Image import and
//! document transcoding download their inputs with it.

use futures_util::StreamExt;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};
use taskgate_engine::url_guard::{GuardedClient, guard_error};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url} is not an allowed address: {reason}")]
    Refused { url: String, reason: String },
    #[error("{url} could not be fetched: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} ended after {received} of {expected} bytes")]
    Truncated { url: String, received: u64, expected: u64 },
    /// The server's disk failed; the cause (logged by the importer) is not the tenant's.
    #[error("the server could not store the download; try again later")]
    Disk(#[from] std::io::Error),
    #[error("the download was cancelled")]
    Cancelled,
}

impl DownloadError {
    /// Whether another try later may succeed (the server or network may recover).
    pub fn is_transient(&self) -> bool {
        match self {
            DownloadError::Unreachable { .. } | DownloadError::Truncated { .. } | DownloadError::Disk(_) => true,
            DownloadError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Downloaded {
    pub bytes: u64,
    pub sha256: String,
    pub md5: String,
}

/// Bytes received so far and the announced total, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub bytes: u64,
    pub total: Option<u64>,
}

/// How often progress is reported at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub async fn download(
    client: &GuardedClient,
    url: &str,
    destination: &Path,
    limit: u64,
    cancel: &CancellationToken,
    mut on_progress: impl AsyncProgress,
) -> Result<Downloaded, DownloadError> {
    let describe = |e: &reqwest::Error| match guard_error(e) {
        Some(refusal) => DownloadError::Refused { url: url.to_owned(), reason: refusal.to_string() },
        None => DownloadError::Unreachable { url: url.to_owned(), reason: error_chain(e) },
    };
    let request = client
        .request(reqwest::Method::GET, url)
        .map_err(|e| DownloadError::Refused { url: url.to_owned(), reason: e.to_string() })?;
    let response = request.send().await.map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(DownloadError::Status { url: url.to_owned(), status: response.status().as_u16() });
    }
    let total = response.content_length();
    if total.is_some_and(|t| t > limit) {
        return Err(DownloadError::TooLarge { url: url.to_owned(), limit });
    }
    let mut file = tokio::fs::File::create(destination).await?;
    let (mut sha256, mut md5) = (Sha256::new(), Md5::new());
    let mut bytes = 0u64;
    let mut reported = Instant::now();
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            () = cancel.cancelled() => return Err(DownloadError::Cancelled),
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|e| describe(&e))?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(DownloadError::TooLarge { url: url.to_owned(), limit });
        }
        sha256.update(&chunk);
        md5.update(&chunk);
        file.write_all(&chunk).await?;
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            on_progress.report(Progress { bytes, total }).await;
        }
    }
    if let Some(expected) = total.filter(|t| *t != bytes) {
        return Err(DownloadError::Truncated { url: url.to_owned(), received: bytes, expected });
    }
    file.flush().await?;
    file.sync_all().await?;
    on_progress.report(Progress { bytes, total }).await;
    Ok(Downloaded { bytes, sha256: hex::encode(sha256.finalize()), md5: hex::encode(md5.finalize()) })
}

/// The whole cause chain of a request error: reqwest's own text alone says only "error
/// sending request".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Receives progress while a download runs.
pub trait AsyncProgress {
    fn report(&mut self, progress: Progress) -> impl std::future::Future<Output = ()> + Send;
}
