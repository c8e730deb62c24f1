//! UserSig, Tencent's TLS-Sig-API v2 ticket that authenticates a user of an SdkAppId: a
//! zlib-compressed JSON document carrying an HMAC-SHA256 over the identity and validity window.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::io::{Read, Write};

#[derive(Debug, Serialize, Deserialize)]
struct Ticket {
    #[serde(rename = "TLS.ver")]
    version: String,
    #[serde(rename = "TLS.identifier")]
    identifier: String,
    #[serde(rename = "TLS.sdkappid")]
    sdk_app_id: u64,
    #[serde(rename = "TLS.expire")]
    expire: i64,
    #[serde(rename = "TLS.time")]
    time: i64,
    #[serde(rename = "TLS.sig")]
    sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    #[error("the UserSig is not a valid TLS-Sig-API v2 ticket")]
    Malformed,
    #[error("the UserSig was issued for another user or application")]
    WrongIdentity,
    #[error("the UserSig signature does not match")]
    BadSignature,
    #[error("the UserSig has expired")]
    Expired,
}

/// A decompressed ticket is tiny; the cap stops a crafted zlib bomb.
const MAX_TICKET_BYTES: u64 = 4096;

fn signature(key: &str, identifier: &str, sdk_app_id: u64, time: i64, expire: i64) -> String {
    let content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(content.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// URL-safe variant used by TLS-Sig-API: `+`→`*`, `/`→`-`, `=`→`_`.
fn to_usersig_alphabet(standard: &str) -> String {
    standard
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn from_usersig_alphabet(sig: &str) -> String {
    sig.chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

/// Issues a UserSig valid from `now` for `expire_secs` seconds.
pub fn gen_usersig(key: &str, sdk_app_id: u64, identifier: &str, now: i64, expire_secs: i64) -> String {
    let ticket = Ticket {
        version: "2.0".into(),
        identifier: identifier.into(),
        sdk_app_id,
        expire: expire_secs,
        time: now,
        sig: signature(key, identifier, sdk_app_id, now, expire_secs),
    };
    let json = serde_json::to_vec(&ticket).expect("ticket serialises");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&json).expect("writing to a Vec cannot fail");
    let compressed = encoder.finish().expect("writing to a Vec cannot fail");
    to_usersig_alphabet(&base64::engine::general_purpose::STANDARD.encode(compressed))
}

/// Checks that `usersig` was issued with `key` for this user and application and is still valid.
pub fn verify_usersig(
    key: &str,
    sdk_app_id: u64,
    identifier: &str,
    usersig: &str,
    now: i64,
) -> Result<(), UserSigError> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(from_usersig_alphabet(usersig.trim()))
        .map_err(|_| UserSigError::Malformed)?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_TICKET_BYTES)
        .read_to_end(&mut json)
        .map_err(|_| UserSigError::Malformed)?;
    let ticket: Ticket = serde_json::from_slice(&json).map_err(|_| UserSigError::Malformed)?;
    if ticket.identifier != identifier || ticket.sdk_app_id != sdk_app_id {
        return Err(UserSigError::WrongIdentity);
    }
    let expected = signature(key, &ticket.identifier, ticket.sdk_app_id, ticket.time, ticket.expire);
    if !crate::sign::signatures_match(&expected, &ticket.sig) {
        return Err(UserSigError::BadSignature);
    }
    if ticket.time.saturating_add(ticket.expire) < now {
        return Err(UserSigError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "usersig-signing-key";

    #[test]
    fn issued_usersig_verifies() {
        let sig = gen_usersig(KEY, 1400000001, "alice", 1_700_000_000, 86_400);
        assert_eq!(verify_usersig(KEY, 1400000001, "alice", &sig, 1_700_000_100), Ok(()));
    }

    #[test]
    fn usersig_uses_the_url_safe_alphabet() {
        let sig = gen_usersig(KEY, 1400000001, "alice", 1_700_000_000, 86_400);
        assert!(!sig.contains(['+', '/', '=']));
    }

    #[test]
    fn usersig_of_another_user_is_wrong_identity() {
        let sig = gen_usersig(KEY, 1400000001, "alice", 1_700_000_000, 86_400);
        assert_eq!(verify_usersig(KEY, 1400000001, "bob", &sig, 1_700_000_100), Err(UserSigError::WrongIdentity));
    }

    #[test]
    fn usersig_with_another_key_is_bad_signature() {
        let sig = gen_usersig("other-key", 1400000001, "alice", 1_700_000_000, 86_400);
        assert_eq!(verify_usersig(KEY, 1400000001, "alice", &sig, 1_700_000_100), Err(UserSigError::BadSignature));
    }

    #[test]
    fn usersig_past_its_window_is_expired() {
        let sig = gen_usersig(KEY, 1400000001, "alice", 1_700_000_000, 60);
        assert_eq!(verify_usersig(KEY, 1400000001, "alice", &sig, 1_700_000_061), Err(UserSigError::Expired));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(verify_usersig(KEY, 1, "a", "not-a-ticket", 0), Err(UserSigError::Malformed));
    }
}
