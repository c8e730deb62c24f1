//! `ClientToken`: the same token on the same action and account within 24 hours answers with
//! the first success instead of doing the work again (the SDKs' retry options add tokens).

use super::request::ParsedRequest;
use crate::action::Call;
use crate::action::{Answer, ApiError};
use crate::products::Routed;
use std::time::Duration;
use taskgate_engine::idempotency::{Idempotency, Reservation, TokenKey};
use tcapi::ErrorCode;

/// Longest token accepted, as Tencent documents for ClientToken.
const MAX_TOKEN_CHARS: usize = 64;
/// How long an unfinished first request blocks its token; bounds the damage of a crash
/// between reserving and completing.
const IN_PROGRESS_TTL: Duration = Duration::from_secs(300);

pub(super) async fn run_once(
    idempotency: &Idempotency,
    call: &Call,
    routed: &Routed<'_>,
    parsed: &ParsedRequest,
    token: &str,
) -> Result<Answer, ApiError> {
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid_value(
            "ClientToken",
            format!("must be 1 to {MAX_TOKEN_CHARS} printable ASCII characters"),
        ));
    }
    let key = TokenKey { account: &call.account.uin, action: routed.name(), token };
    match idempotency.reserve(key, IN_PROGRESS_TTL).await.map_err(ApiError::internal)? {
        Reservation::Done(first) => Answer::stored(first),
        Reservation::InProgress => Err(ApiError::new(
            ErrorCode::FailedOperation,
            format!("A request with the ClientToken `{token}` is still being processed; retry later."),
        )),
        Reservation::Reserved => {
            let result = routed.run(call, &parsed.params, parsed.encoding).await;
            // Only a success is replayed: after an error the client may retry with the same token.
            match &result {
                Ok(answer) => idempotency.complete(key, answer.as_str()).await.map_err(ApiError::internal)?,
                Err(_) => idempotency.release(key).await.map_err(ApiError::internal)?,
            }
            result
        }
    }
}
