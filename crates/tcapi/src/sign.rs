//! Request signatures: TC3-HMAC-SHA256 (v3, `Authorization` header) and HmacSHA1/HmacSHA256
//! (v1, `Signature` parameter), for both signing (clients, tests) and verification (server).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm a TC3 `Authorization` header may name.
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

/// Payload hash marker a client sends in `X-TC-Content-SHA256` when it did not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

/// Lowercase hex; `hex::encode` goes through a `char` iterator, several times slower, and
/// every request hashes and signs twice.
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    hex
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The parts of a parsed `Authorization: TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why an `Authorization` header could not be parsed; the text becomes the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("the algorithm must be `TC3-HMAC-SHA256`")]
    Algorithm,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`Credential` must be `<SecretId>/<Date>/<Service>/tc3_request`")]
    Credential,
    #[error("`SignedHeaders` must include `content-type` and `host`")]
    SignedHeaders,
    #[error("`Signature` must be 64 lowercase hexadecimal characters")]
    Signature,
}

impl Tc3Authorization {
    /// Parses the header value. The credential is split from the right because the service
    /// label some clients sign with (the endpoint's first DNS label) may itself contain `/`-free
    /// oddities such as `localhost:8080`, while the SecretId never contains `/`.
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let rest = header
            .trim()
            .strip_prefix(TC3_ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or(AuthorizationError::Algorithm)?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let Some((key, value)) = part.trim().split_once('=') else {
                continue;
            };
            match key.trim() {
                "Credential" => credential = Some(value.trim()),
                "SignedHeaders" => signed = Some(value.trim()),
                "Signature" => signature = Some(value.trim()),
                _ => {}
            }
        }
        let credential = credential.ok_or(AuthorizationError::Missing("Credential"))?;
        let signed = signed.ok_or(AuthorizationError::Missing("SignedHeaders"))?;
        let signature = signature.ok_or(AuthorizationError::Missing("Signature"))?;

        let mut scope = credential.rsplitn(4, '/');
        let (terminator, service, date, secret_id) = (scope.next(), scope.next(), scope.next(), scope.next());
        let (Some("tc3_request"), Some(service), Some(date), Some(secret_id)) = (terminator, service, date, secret_id)
        else {
            return Err(AuthorizationError::Credential);
        };
        if secret_id.is_empty() || service.is_empty() || !is_iso_date(date) {
            return Err(AuthorizationError::Credential);
        }

        let signed_headers: Vec<String> = signed.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
        if !signed_headers.iter().any(|h| h == "content-type") || !signed_headers.iter().any(|h| h == "host") {
            return Err(AuthorizationError::SignedHeaders);
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(AuthorizationError::Signature);
        }
        Ok(Self {
            secret_id: secret_id.to_owned(),
            date: date.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }

    /// The header value a client sends for these parts.
    pub fn to_header(&self) -> String {
        format!(
            "{TC3_ALGORITHM} Credential={}/{}/{}/tc3_request, SignedHeaders={}, Signature={}",
            self.secret_id,
            self.date,
            self.service,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The UTC calendar date (`YYYY-MM-DD`) of a Unix timestamp, as TC3 puts it in the scope.
pub fn utc_date(unix_seconds: i64) -> String {
    // Civil-from-days (Howard Hinnant); avoids a date crate dependency in this pure crate.
    let days = unix_seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Everything that goes into a TC3 canonical request.
#[derive(Debug, Clone)]
pub struct Tc3CanonicalInput<'a> {
    pub method: &'a str,
    /// The raw query string exactly as on the request line (empty for POST).
    pub query: &'a str,
    /// `(lowercase name, value)` for each signed header, in the order of `SignedHeaders`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body, or of `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
}

// The canonical request and the string to sign are built with `push_str` into one buffer each,
// not `format!`, as every request builds them at least once.

pub fn tc3_canonical_request(input: &Tc3CanonicalInput<'_>) -> String {
    let mut headers: Vec<&(&str, &str)> = input.headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut canonical = String::with_capacity(256);
    for part in [input.method, "\n/\n", input.query, "\n"] {
        canonical.push_str(part);
    }
    for (name, value) in &headers {
        for part in [name, ":", value.trim(), "\n"] {
            canonical.push_str(part);
        }
    }
    canonical.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            canonical.push(';');
        }
        canonical.push_str(name);
    }
    canonical.push('\n');
    canonical.push_str(input.payload_hash);
    canonical
}

pub fn tc3_string_to_sign(timestamp: i64, date: &str, service: &str, canonical_request: &str) -> String {
    let timestamp = timestamp.to_string();
    let hash = sha256_hex(canonical_request.as_bytes());
    let mut string_to_sign = String::with_capacity(160);
    for part in [TC3_ALGORITHM, "\n", &timestamp, "\n", date, "/", service, "/tc3_request\n", &hash] {
        string_to_sign.push_str(part);
    }
    string_to_sign
}

/// `HexLower(HMAC(kSigning, StringToSign))` with the key derived from date and service.
pub fn tc3_signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let mut key = Vec::with_capacity(3 + secret_key.len());
    key.extend_from_slice(b"TC3");
    key.extend_from_slice(secret_key.as_bytes());
    let k_date = hmac_sha256(&key, date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex_lower(&hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// The hash algorithm of a v1 (`Signature` parameter) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Method {
    HmacSha1,
    HmacSha256,
}

impl V1Method {
    /// `SignatureMethod` parameter value; absent means HmacSHA1.
    pub fn from_param(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("HmacSHA1") => Some(Self::HmacSha1),
            Some("HmacSHA256") => Some(Self::HmacSha256),
            Some(_) => None,
        }
    }
}

/// `METHOD + host + "/?" + sorted name=value pairs` over decoded values, `Signature` excluded.
pub fn v1_string_to_sign(method: &str, host: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}{host}/?{}", joined.join("&"))
}

/// Base64 of the HMAC, as the `Signature` parameter carries it (before URL encoding).
pub fn v1_signature(method: V1Method, secret_key: &str, string_to_sign: &str) -> String {
    let raw = match method {
        V1Method::HmacSha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret_key.as_bytes()).expect("any key length");
            mac.update(string_to_sign.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        V1Method::HmacSha256 => hmac_sha256(secret_key.as_bytes(), string_to_sign.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Constant-time comparison, so a wrong signature reveals nothing about the right one.
pub fn signatures_match(expected: &str, received: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

/// Signs a TC3 request as the official SDKs do (`content-type;host`), for tests and tools.
pub struct Tc3Signer<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    pub service: &'a str,
}

impl Tc3Signer<'_> {
    /// The `Authorization` header value for a request with these parts.
    pub fn authorization(
        &self,
        method: &str,
        host: &str,
        content_type: &str,
        query: &str,
        body: &[u8],
        timestamp: i64,
    ) -> String {
        let headers = [("content-type", content_type), ("host", host)];
        let canonical = tc3_canonical_request(&Tc3CanonicalInput {
            method,
            query,
            headers: &headers,
            payload_hash: &sha256_hex(body),
        });
        let date = utc_date(timestamp);
        let signature = tc3_signature(
            self.secret_key,
            &date,
            self.service,
            &tc3_string_to_sign(timestamp, &date, self.service, &canonical),
        );
        Tc3Authorization {
            secret_id: self.secret_id.to_owned(),
            date,
            service: self.service.to_owned(),
            signed_headers: vec!["content-type".into(), "host".into()],
            signature,
        }
        .to_header()
    }
}
