//! Tencent's whiteboard event envelope `{Timestamp, SdkAppId, ExpireTime, Sign, EventType,
//! EventData}`, signed with the application's callback key when it has one.

use super::callback_settings::{self, EventFamily};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use taskgate_engine::{Callback, ExecError, Store};

/// How long a receiver should accept the signature, as an anti-replay window.
const SIGNATURE_LIFETIME_SECS: i64 = 3600;

/// `md5_hex(CallbackKey + decimal(ExpireTime))`.
pub fn sign(callback_key: &str, expire_time: i64) -> String {
    hex::encode(Md5::digest(format!("{callback_key}{expire_time}").as_bytes()))
}

/// The event body; `ExpireTime` and `Sign` are carried only when a callback key is set, as
/// Tencent documents.
pub fn envelope(sdk_app_id: u64, event_type: &str, event_data: Value, callback_key: Option<&str>, now: i64) -> Value {
    let mut body = json!({
        "Timestamp": now,
        "SdkAppId": sdk_app_id,
        "EventType": event_type,
        "EventData": event_data,
    });
    if let Some(key) = callback_key.filter(|k| !k.is_empty()) {
        let expire_time = now + SIGNATURE_LIFETIME_SECS;
        body["ExpireTime"] = json!(expire_time);
        body["Sign"] = json!(sign(key, expire_time));
    }
    body
}

/// The signed callback of an event of `family` for the application, or `None` when the
/// application has no callback URL for that family. `now_ms` is the event's time (Unix ms).
pub async fn event(
    store: &Store,
    sdk_app_id: u64,
    family: EventFamily,
    event_type: &str,
    data: impl serde::Serialize,
    event_id: String,
    now_ms: i64,
) -> Result<Option<Callback>, ExecError> {
    let settings = callback_settings::get(store, sdk_app_id, family)
        .await
        .map_err(|e| ExecError::retryable(format!("reading the {family:?} callback settings failed: {e}")))?;
    if settings.callback.is_empty() {
        return Ok(None);
    }
    let data = serde_json::to_value(data).map_err(|e| ExecError::permanent(e.to_string()))?;
    let body = envelope(sdk_app_id, event_type, data, Some(&settings.callback_key), now_ms.div_euclid(1000));
    Ok(Some(Callback::new(settings.callback, body).with_event_id(event_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_tencents_check_vector() {
        assert_eq!(sign("Xz4ZgayTr7rMgWQrH", 1588040109), "a2dabb362a9b811c0e26953a6276a41c");
    }

    #[test]
    fn unsigned_envelope_has_no_sign() {
        let body = envelope(1400000001, "SnapshotTaskFinished", json!({}), None, 1_700_000_000);
        assert!(body.get("Sign").is_none() && body.get("ExpireTime").is_none());
    }

    #[test]
    fn signed_envelope_expires_an_hour_later() {
        let body = envelope(1400000001, "SnapshotTaskFinished", json!({}), Some("k"), 1_700_000_000);
        assert_eq!(body["ExpireTime"], 1_700_003_600);
        assert_eq!(body["Sign"], sign("k", 1_700_003_600));
    }
}
