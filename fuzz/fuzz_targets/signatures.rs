//! The signature verifiers' inputs: a TC3 `Authorization` header, the canonical request and
//! string to sign built from hostile parts, any timestamp, and the v1 string to sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcapi::sign::{
    Tc3Authorization, Tc3CanonicalInput, V1Method, signatures_match, tc3_canonical_request, tc3_signature,
    tc3_string_to_sign, utc_date, v1_signature, v1_string_to_sign,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}');
    let header = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let received = parts.next().unwrap_or_default();
    let timestamp = data.get(..8).map_or(0, |b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
    let date = utc_date(timestamp);
    if let Ok(authorization) = Tc3Authorization::parse(header) {
        let values: Vec<(&str, &str)> = authorization.signed_headers.iter().map(|h| (h.as_str(), received)).collect();
        let canonical = tc3_canonical_request(&Tc3CanonicalInput {
            method: "POST",
            query,
            headers: &values,
            payload_hash: received,
        });
        let expected = tc3_signature(
            "key",
            &authorization.date,
            &authorization.service,
            &tc3_string_to_sign(timestamp, &date, &authorization.service, &canonical),
        );
        let _ = signatures_match(&expected, &authorization.signature);
    }
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    for method in [V1Method::HmacSha1, V1Method::HmacSha256] {
        let expected = v1_signature(method, "key", &v1_string_to_sign("GET", header, &pairs));
        let _ = signatures_match(&expected, received);
    }
});
