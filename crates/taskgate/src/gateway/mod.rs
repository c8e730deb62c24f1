//! The Tencent Cloud API 3.0 edge at `/`: parse → authenticate → route → check the account and
//! rate → decode the typed request → run the action → wrap the answer in the envelope.

mod answer;
mod auth;
mod envelope;
mod error;
mod idempotent;
mod ratelimit;
pub mod request;

pub use answer::Answer;
pub use error::ApiError;
pub use ratelimit::RateLimits;

use crate::app::App;
use crate::products::{self, ActionEntry, Call, Service};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcapi::ErrorCode;
use tcapi::error_code::Language;

/// The largest body any request may have: TC3 POST, 10 MB (v1 POST and GET are smaller and
/// checked once the signature kind is known).
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How long a client may take to send its body once the head arrived: a slow or silent sender
/// must not hold a connection (and up to 10 MB) forever. 10 MB at a modest 1 Mbit/s takes 80 s.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// What the metrics and the envelope know about an answered call.
struct Answered {
    service: Option<Service>,
    /// The routed action's name; empty when the request never reached one.
    action: &'static str,
    language: Language,
    result: Result<Answer, ApiError>,
}

/// Takes the whole request rather than the method, URI and `HeaderMap` extractors, which clone
/// the headers.
pub async fn handle_api(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let answered = answer(&app, &parts, body).await;
    let code = answered.result.as_ref().err().map(|e| e.code);
    app.metrics.observe(answered.service, answered.action, code, started.elapsed());
    if let Err(error) = &answered.result
        && error.code == ErrorCode::InternalError
    {
        tracing::warn!(request_id, action = answered.action, "answered InternalError");
    }
    envelope::response(answered.result, answered.language, &request_id)
}

async fn answer(app: &App, parts: &Parts, body: Body) -> Answered {
    let headers = &parts.headers;
    let language = request::header_language(headers);
    let refused = |error| Answered { service: None, action: "", language, result: Err(error) };
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return refused(ApiError::new(
                ErrorCode::RequestSizeLimitExceeded,
                "The request body exceeds the 10 MB limit of a TC3-HMAC-SHA256 POST.",
            ));
        }
        Err(_) => {
            return refused(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("The request body did not arrive within {} seconds.", BODY_READ_TIMEOUT.as_secs()),
            ));
        }
    };
    let parsed = match request::parse(&parts.method, &parts.uri, headers, &body) {
        Ok(parsed) => parsed,
        Err((language, error)) => return Answered { service: None, action: "", language, result: Err(error) },
    };
    let language = parsed.language;
    let (entry, result) = dispatch(app, parsed, headers).await;
    Answered { service: entry.map(|e| e.service), action: entry.map_or("", |e| e.name), language, result }
}

async fn dispatch(
    app: &App,
    parsed: request::ParsedRequest,
    headers: &HeaderMap,
) -> (Option<&'static ActionEntry>, Result<Answer, ApiError>) {
    let now = app.clock.now_unix();
    let account = match auth::authenticate(&app.accounts, &parsed, headers, now) {
        Ok(account) => account,
        Err(error) => return (None, Err(error)),
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let entry = match products::find_action(&parsed.version, &parsed.action, &[parsed.signed_service(), host]) {
        Ok(entry) => entry,
        Err(error) => return (None, Err(error)),
    };
    let result = async {
        entry.service.check_region(parsed.region.as_deref(), &app.config.regions)?;
        entry.service.check_account(&account, now)?;
        app.rate_limits.check(&account.uin, entry.name)?;
        // Last of the checks: only a request about to run is recorded, and rate limits bound
        // how fast an account can add records.
        auth::refuse_replay(&app.nonces, &parsed).await?;
        let call = Call { account, now };
        match parsed.client_token.as_deref() {
            Some(token) => idempotent::run_once(app, &call, entry, &parsed, token).await,
            None => (entry.run)(&call, app, &parsed.params, parsed.encoding).await,
        }
    }
    .await;
    (Some(entry), result)
}
