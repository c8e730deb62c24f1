//! The Tencent Cloud API 3.0 edge at `/`: parse → authenticate → route → check the account and
//! rate → apply a test harness's fault → decode the typed request → run the action → wrap the
//! answer in the envelope.

mod auth;
pub mod clock;
mod envelope;
pub mod faults;
mod idempotent;
mod ratelimit;
pub mod request;
pub mod rules;
mod state;

pub use state::Gateway;

use crate::action::{Answer, ApiError, Call, Service};
use crate::products::Routed;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use faults::{Failure, Target};
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
    result: Result<Answer, Failure>,
}

/// Takes the whole request rather than the method, URI and `HeaderMap` extractors, which clone
/// the headers.
pub async fn handle_api(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let answered = answer(&gateway, &parts, body).await;
    let code = answered.result.as_ref().err().map(Failure::metric_code);
    gateway.metrics.observe(answered.service, answered.action, code, started.elapsed());
    if let Err(Failure::Api(error)) = &answered.result
        && error.code == ErrorCode::InternalError
    {
        tracing::warn!(request_id, action = answered.action, "answered InternalError");
    }
    envelope::response(answered.result, answered.language, &request_id)
}

async fn answer(gateway: &Gateway, parts: &Parts, body: Body) -> Answered {
    let headers = &parts.headers;
    let language = request::header_language(headers);
    let refused = |error: ApiError| Answered { service: None, action: "", language, result: Err(error.into()) };
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
        Err((language, error)) => return Answered { service: None, action: "", language, result: Err(error.into()) },
    };
    let language = parsed.language;
    let (routed, result) = dispatch(gateway, parsed, headers).await;
    Answered { service: routed.map(|r| r.service()), action: routed.map_or("", |r| r.name()), language, result }
}

async fn dispatch<'g>(
    gateway: &'g Gateway,
    parsed: request::ParsedRequest,
    headers: &HeaderMap,
) -> (Option<Routed<'g>>, Result<Answer, Failure>) {
    let now = gateway.clock.now_unix();
    let account = match auth::authenticate(&gateway.accounts, &parsed, headers, now) {
        Ok(account) => account,
        Err(error) => return (None, Err(error.into())),
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let routed = match gateway.products.route(&parsed.version, &parsed.action, &[parsed.signed_service(), host]) {
        Ok(routed) => routed,
        Err(error) => return (None, Err(error.into())),
    };
    let result = async {
        routed.service().check_region(parsed.region.as_deref(), &gateway.regions)?;
        // Expiry is a fact of today, not of the (possibly frozen) signature clock.
        account.check_service(routed.service(), time::OffsetDateTime::now_utc().unix_timestamp())?;
        gateway.rate_limits.check(&account.uin, routed.name()).await?;
        // Last of the checks: only a request about to run is recorded, and rate limits bound
        // how fast an account can add records.
        auth::refuse_replay(&gateway.nonces, &parsed).await?;
        let target = Target { service: routed.service(), action: routed.name(), account: &account.uin };
        if let Some(fault) = gateway.faults.apply(&target) {
            if let Some(latency) = fault.latency {
                tokio::time::sleep(latency).await;
            }
            if let Some(error) = fault.error {
                return Err(error.into_failure(routed.service(), &account, parsed.language));
            }
        }
        let call = Call { account };
        let run = async {
            match parsed.client_token.as_deref() {
                Some(token) => idempotent::run_once(&gateway.idempotency, &call, &routed, &parsed, token).await,
                None => routed.run(&call, &parsed.params, parsed.encoding).await,
            }
        };
        // A test rule reaches the tasks this call creates through the engine, not the product.
        let answer = match gateway.rules.source_for(routed.service(), routed.name(), &call.account.uin) {
            Some(source) => taskgate_engine::directive::scope(source, run).await,
            None => run.await,
        };
        answer.map_err(Failure::from)
    }
    .await;
    (Some(routed), result)
}
