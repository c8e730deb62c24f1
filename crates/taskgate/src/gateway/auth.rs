//! Authentication of a parsed request: TC3-HMAC-SHA256 or HmacSHA1/256, against the configured
//! credentials, accepting exactly the variants the official clients produce (protocol.md §3.2).

use super::request::{ParsedRequest, SignatureMaterial};
use crate::accounts::{Accounts, Credential};
use crate::action::Account;
use crate::action::ApiError;
use axum::http::HeaderMap;
use std::sync::Arc;
use taskgate_engine::nonces::{NonceKey, Nonces};
use tcapi::ErrorCode;
use tcapi::sign::{
    Tc3Authorization, Tc3CanonicalInput, signatures_match, tc3_canonical_request, tc3_signature, tc3_string_to_sign,
    utc_date, v1_signature, v1_string_to_sign,
};

/// Largest accepted distance between the client's timestamp and the server clock.
const MAX_CLOCK_SKEW_SECS: i64 = 300;

pub(super) fn authenticate(
    accounts: &Accounts,
    request: &ParsedRequest,
    headers: &HeaderMap,
    now: i64,
) -> Result<Arc<Account>, ApiError> {
    match &request.signature {
        SignatureMaterial::Tc3 { authorization, timestamp, method, raw_query, payload_hash, token } => {
            let Some(credential) = accounts.credential(&authorization.secret_id) else {
                let account = derived(accounts, &authorization.secret_id)?;
                check_timestamp(*timestamp, now)?;
                check_scope_date(authorization, *timestamp)?;
                return Ok(account);
            };
            check_timestamp(*timestamp, now)?;
            check_scope_date(authorization, *timestamp)?;
            let material = Tc3Material { authorization, timestamp: *timestamp, method, raw_query, payload_hash };
            if !verify_tc3_signature(&material, headers, &credential.secret_key) {
                return Err(signature_failure());
            }
            check_token(credential, token.as_deref())?;
            Ok(credential.account.clone())
        }
        SignatureMaterial::V1 { method, http_method, secret_id, timestamp, signature, pairs, token, .. } => {
            let Some(credential) = accounts.credential(secret_id) else {
                let account = derived(accounts, secret_id)?;
                check_timestamp(*timestamp, now)?;
                return Ok(account);
            };
            check_timestamp(*timestamp, now)?;
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
            let expected = v1_signature(*method, &credential.secret_key, &v1_string_to_sign(http_method, host, pairs));
            if !signatures_match(&expected, signature) {
                return Err(signature_failure());
            }
            check_token(credential, token.as_deref())?;
            Ok(credential.account.clone())
        }
    }
}

/// Refuses a v1 request accepted before (same SecretId, Timestamp, Nonce and Signature): a captured
/// request cannot be sent again within its validity window, on any node sharing the store.
/// TC3 carries no nonce; its signature binds the timestamp only, as Tencent's does.
pub(super) async fn refuse_replay(nonces: &Nonces, request: &ParsedRequest) -> Result<(), ApiError> {
    let SignatureMaterial::V1 { secret_id, timestamp, nonce, signature, .. } = &request.signature else {
        return Ok(());
    };
    let key = NonceKey { secret_id, timestamp: *timestamp, nonce, signature };
    // Kept twice the window: nodes whose clocks differ by up to the window still see the row.
    let keep_until = timestamp.saturating_add(2 * MAX_CLOCK_SKEW_SECS);
    let first = nonces.first_use(key, keep_until).await.map_err(ApiError::internal)?;
    if first {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::AuthFailureSignatureExpire,
            "The signature was already used: a request signed with HmacSHA1 or HmacSHA256 is accepted once. Sign every request anew, with a new Nonce.",
        ))
    }
}

/// The account of a SecretId that is not configured: one of its own with `--any-credentials`
/// (whose signature has no key to be checked with, so only its form and time are), else
/// `AuthFailure.SecretIdNotFound`.
fn derived(accounts: &Accounts, secret_id: &str) -> Result<Arc<Account>, ApiError> {
    accounts.derived(secret_id).ok_or_else(|| {
        ApiError::new(ErrorCode::AuthFailureSecretIdNotFound, format!("The SecretId `{secret_id}` is not found."))
    })
}

fn check_scope_date(authorization: &Tc3Authorization, timestamp: i64) -> Result<(), ApiError> {
    if authorization.date != utc_date(timestamp) {
        return Err(ApiError::new(
            ErrorCode::AuthFailureInvalidAuthorization,
            format!(
                "The date `{}` in the credential scope is not the UTC date of `X-TC-Timestamp` {timestamp}.",
                authorization.date
            ),
        ));
    }
    Ok(())
}

fn signature_failure() -> ApiError {
    ApiError::new(
        ErrorCode::AuthFailureSignatureFailure,
        "The provided credentials could not be validated. Please check your signature is correct.",
    )
}

fn check_timestamp(timestamp: i64, now: i64) -> Result<(), ApiError> {
    // `abs_diff`: a hostile timestamp such as i64::MIN must not overflow the subtraction.
    if now.abs_diff(timestamp) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(ApiError::new(
            ErrorCode::AuthFailureSignatureExpire,
            format!(
                "Signature expired. Timestamp is {timestamp}, deviation between `Timestamp` and the server time {now} is over 300 seconds."
            ),
        ));
    }
    Ok(())
}

fn check_token(credential: &Credential, token: Option<&str>) -> Result<(), ApiError> {
    match token {
        Some(token) if !credential.tokens.iter().any(|t| t == token) => {
            Err(ApiError::new(ErrorCode::AuthFailureTokenFailure, "The provided token is invalid for this SecretId."))
        }
        _ => Ok(()),
    }
}

struct Tc3Material<'a> {
    authorization: &'a Tc3Authorization,
    timestamp: i64,
    method: &'a str,
    raw_query: &'a str,
    payload_hash: &'a str,
}

/// `127.0.0.1:8080` → `127.0.0.1`, `[::1]:8080` → `[::1]`; `None` when there is no port.
fn host_without_port(host: &str) -> Option<&str> {
    let (name, port) = host.rsplit_once(':')?;
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    // tccli puts the scheme in the Host header (`http://127.0.0.1:8080`).
    let authority = name.rsplit_once("://").map_or(name, |(_, rest)| rest);
    let is_bare_ipv6 = authority.contains(':') && !authority.ends_with(']');
    (is_port && !is_bare_ipv6).then_some(name)
}

/// Tries the header values as received, then lower-cased (Tencent's docs sign lower-case values,
/// e.g. `x-tc-action:describeinstances`), each with the `Host` as received and without its port
/// (the Node SDK signs the bare hostname).
fn verify_tc3_signature(material: &Tc3Material<'_>, headers: &HeaderMap, secret_key: &str) -> bool {
    let Some(received): Option<Vec<(&str, &str)>> = material
        .authorization
        .signed_headers
        .iter()
        .map(|name| Some((name.as_str(), headers.get(name.as_str())?.to_str().ok()?.trim())))
        .collect()
    else {
        return false;
    };
    let raw_host = received.iter().find(|(n, _)| *n == "host").map_or("", |(_, v)| *v);
    let hosts = std::iter::once(raw_host).chain(host_without_port(raw_host));

    let auth = material.authorization;
    let matches = |candidate: &[(&str, &str)]| {
        let canonical = tc3_canonical_request(&Tc3CanonicalInput {
            method: material.method,
            query: material.raw_query,
            headers: candidate,
            payload_hash: material.payload_hash,
        });
        let string_to_sign = tc3_string_to_sign(material.timestamp, &auth.date, &auth.service, &canonical);
        let expected = tc3_signature(secret_key, &auth.date, &auth.service, &string_to_sign);
        signatures_match(&expected, &auth.signature)
    };
    for host in hosts {
        let as_received: Vec<(&str, &str)> =
            received.iter().map(|&(name, value)| (name, if name == "host" { host } else { value })).collect();
        if matches(&as_received) {
            return true;
        }
        let lowered: Vec<String> = as_received.iter().map(|(_, value)| value.to_ascii_lowercase()).collect();
        if lowered.iter().zip(&as_received).all(|(lower, (_, value))| lower == value) {
            continue;
        }
        let lowered: Vec<(&str, &str)> =
            as_received.iter().zip(&lowered).map(|(&(name, _), lower)| (name, lower.as_str())).collect();
        if matches(&lowered) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn port_is_removed_from_host_names_and_addresses() {
        assert_eq!(host_without_port("127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(host_without_port("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_without_port("http://127.0.0.1:18080"), Some("http://127.0.0.1"));
    }

    #[test]
    fn hosts_without_port_are_left_alone() {
        assert_eq!(host_without_port("tiw.tencentcloudapi.com"), None);
        assert_eq!(host_without_port("[::1]"), None);
        assert_eq!(host_without_port("::1"), None);
    }
}
