//! Reads a raw HTTP request into the common parameters, the signature material and the action
//! parameters, for both signature kinds and all three encodings (JSON, form, query).

use crate::action::{ApiError, CaseMessage};
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value};
use tcapi::ErrorCode;
use tcapi::error_code::Language;
use tcapi::params::{self, Encoding, unflatten};
use tcapi::sign::{Tc3Authorization, UNSIGNED_PAYLOAD, V1Method, sha256_hex};

const MAX_QUERY_BYTES: usize = 32 * 1024;
const MAX_V1_BODY_BYTES: usize = 1024 * 1024;
/// The real service's answer to a v1-signed body over [`MAX_V1_BODY_BYTES`], as the SDKs' users
/// report it (tencentcloud-sdk-python issues 42 and 68, tencentcloud-sdk-php issue 20).
const V1_BODY_TOO_LARGE: CaseMessage = CaseMessage {
    en_us: "The provided credentials could not be validated because of exceeding request size limit, \
            please use new signature method `TC3-HMAC-SHA256`.",
    zh_cn: "由于请求包大小超过限制，请求签名验证失败，请使用新的签名方法 `TC3-HMAC-SHA256`。",
};

/// Parameters that belong to the protocol, not to the action, in flattened requests. Go's SDK
/// strips them from TC3 GET queries; v1 requests always carry them beside the action's own.
const COMMON_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// An idempotency key any action accepts (the SDKs add it when their retry option is on).
const CLIENT_TOKEN: &str = "ClientToken";

#[derive(Debug)]
pub enum SignatureMaterial {
    Tc3 {
        authorization: Tc3Authorization,
        timestamp: i64,
        method: String,
        raw_query: String,
        payload_hash: String,
        token: Option<String>,
    },
    V1 {
        method: V1Method,
        http_method: String,
        secret_id: String,
        timestamp: i64,
        /// The request's `Nonce`, which with SecretId and Timestamp identifies it for replay checks.
        nonce: String,
        signature: String,
        /// Every decoded parameter, common ones included, as the string to sign needs them.
        pairs: Vec<(String, String)>,
        token: Option<String>,
    },
}

#[derive(Debug)]
pub struct ParsedRequest {
    pub action: String,
    pub version: String,
    pub region: Option<String>,
    pub language: Language,
    pub client_token: Option<String>,
    pub params: Value,
    pub encoding: Encoding,
    pub signature: SignatureMaterial,
}

impl ParsedRequest {
    /// The service label a TC3 client signed with, a routing hint.
    pub fn signed_service(&self) -> &str {
        match &self.signature {
            SignatureMaterial::Tc3 { authorization, .. } => &authorization.service,
            SignatureMaterial::V1 { .. } => "",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

pub fn header_language(headers: &HeaderMap) -> Language {
    Language::from_header(header(headers, "x-tc-language"))
}

fn size_exceeded(what: &str) -> ApiError {
    ApiError::new(ErrorCode::RequestSizeLimitExceeded, format!("The request exceeds the size limit: {what}."))
}

pub fn parse(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ParsedRequest, (Language, ApiError)> {
    let language = header_language(headers);
    let fail = |error: ApiError| (language, error);
    if method != Method::GET && method != Method::POST {
        return Err(fail(ApiError::new(
            ErrorCode::UnsupportedProtocol,
            format!("The HTTP method `{method}` is not supported: use POST or GET."),
        )));
    }
    let raw_query = uri.query().unwrap_or_default();
    if raw_query.len() > MAX_QUERY_BYTES {
        return Err(fail(size_exceeded("a query string may hold at most 32 KB")));
    }
    match header(headers, "authorization") {
        Some(authorization) => parse_tc3(method, raw_query, headers, body, authorization).map_err(fail),
        None => parse_v1(method, raw_query, headers, body),
    }
}

fn media_type(headers: &HeaderMap) -> String {
    header(headers, "content-type").and_then(|ct| ct.split(';').next()).unwrap_or_default().trim().to_ascii_lowercase()
}

/// The decoded pairs of a query or form body; more than the flattened decoder accepts (with the
/// protocol's own beside them) is refused before they are all copied out.
fn pairs_of(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let most = params::MAX_FLATTENED_PARAMS + COMMON_PARAMS.len() + 1;
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        if pairs.len() == most {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "The request parameters are malformed: a request may carry at most {} parameters.",
                    params::MAX_FLATTENED_PARAMS
                ),
            ));
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Ok(pairs)
}

/// The action's own parameters of a flattened request, without the protocol's.
fn flattened_params(pairs: &[(String, String)]) -> Result<(Value, Option<String>), ApiError> {
    let client_token = pairs.iter().find(|(k, _)| k == CLIENT_TOKEN).map(|(_, v)| v.clone());
    let own = pairs
        .iter()
        .filter(|(k, _)| k != CLIENT_TOKEN && !COMMON_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    Ok((unflatten(own)?, client_token))
}

fn parse_tc3(
    method: &Method,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    authorization: &str,
) -> Result<ParsedRequest, ApiError> {
    let authorization = Tc3Authorization::parse(authorization).map_err(|e| {
        ApiError::new(
            ErrorCode::AuthFailureInvalidAuthorization,
            format!("The request `Authorization` header does not conform to tencentcloud standards: {e}."),
        )
    })?;
    let action = header(headers, "x-tc-action").ok_or_else(|| ApiError::missing_common("Action"))?;
    let version = header(headers, "x-tc-version").ok_or_else(|| ApiError::missing_common("Version"))?;
    let timestamp = header(headers, "x-tc-timestamp").ok_or_else(|| ApiError::missing_common("Timestamp"))?;
    let timestamp = timestamp.parse::<i64>().map_err(|_| {
        ApiError::new(ErrorCode::InvalidParameter, format!("`X-TC-Timestamp` must be Unix seconds, got `{timestamp}`."))
    })?;
    let payload_hash = match header(headers, "x-tc-content-sha256") {
        Some(UNSIGNED_PAYLOAD) => sha256_hex(UNSIGNED_PAYLOAD.as_bytes()),
        _ => sha256_hex(body),
    };

    let (params, encoding, client_token) = if method == Method::GET {
        let (params, token) = flattened_params(&pairs_of(raw_query.as_bytes())?)?;
        (params, Encoding::Flattened, token)
    } else {
        match media_type(headers).as_str() {
            "application/json" => {
                let (params, token) = json_params(body)?;
                (params, Encoding::Json, token)
            }
            "application/x-www-form-urlencoded" => {
                let (params, token) = flattened_params(&pairs_of(body)?)?;
                (params, Encoding::Flattened, token)
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("The Content-Type `{other}` is not supported: send application/json."),
                ));
            }
        }
    };
    Ok(ParsedRequest {
        action: action.to_owned(),
        version: version.to_owned(),
        region: header(headers, "x-tc-region").map(str::to_owned),
        language: header_language(headers),
        client_token,
        params,
        encoding,
        signature: SignatureMaterial::Tc3 {
            authorization,
            timestamp,
            method: method.as_str().to_owned(),
            raw_query: raw_query.to_owned(),
            payload_hash,
            token: header(headers, "x-tc-token").map(str::to_owned),
        },
    })
}

fn json_params(body: &[u8]) -> Result<(Value, Option<String>), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Value::Object(Map::new()), None));
    }
    params::check_json_size(body)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("The request body is not valid JSON: {e}.")))?;
    params::check_depth(&value)?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "The request body must be a JSON object."));
    };
    let client_token = match fields.remove(CLIENT_TOKEN) {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token),
        Some(_) => {
            return Err(ApiError::new(ErrorCode::InvalidParameter, "The parameter `ClientToken` must be a string."));
        }
    };
    Ok((Value::Object(fields), client_token))
}

fn parse_v1(
    method: &Method,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ParsedRequest, (Language, ApiError)> {
    let header_fail = |error: ApiError| (header_language(headers), error);
    if body.len() > MAX_V1_BODY_BYTES {
        return Err(header_fail(ApiError::case(ErrorCode::AuthFailureSignatureFailure, V1_BODY_TOO_LARGE)));
    }
    let mut pairs = pairs_of(raw_query.as_bytes()).map_err(header_fail)?;
    if method == Method::POST {
        pairs.extend(pairs_of(body).map_err(header_fail)?);
    }
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let language = param("Language").map_or_else(|| header_language(headers), |l| Language::from_header(Some(l)));
    let fail = |error: ApiError| (language, error);
    let Some(signature) = param("Signature") else {
        return Err(fail(ApiError::new(
            ErrorCode::AuthFailureInvalidAuthorization,
            "The request carries neither an `Authorization` header nor a `Signature` parameter.",
        )));
    };
    let required = |name: &str| param(name).ok_or_else(|| ApiError::missing_common(name));
    let parsed = (|| {
        let method_name = param("SignatureMethod");
        let signature_method = V1Method::from_param(method_name)
            .ok_or_else(|| ApiError::invalid_value("SignatureMethod", "use HmacSHA1 or HmacSHA256"))?;
        let timestamp = required("Timestamp")?;
        let timestamp = timestamp.parse::<i64>().map_err(|_| {
            ApiError::new(ErrorCode::InvalidParameter, "The parameter `Timestamp` must be Unix seconds.")
        })?;
        let nonce = required("Nonce")?.to_owned();
        let (params, client_token) = flattened_params(&pairs)?;
        Ok(ParsedRequest {
            action: required("Action")?.to_owned(),
            version: required("Version")?.to_owned(),
            region: param("Region").map(str::to_owned),
            language,
            client_token,
            params,
            encoding: Encoding::Flattened,
            signature: SignatureMaterial::V1 {
                method: signature_method,
                http_method: method.as_str().to_owned(),
                secret_id: required("SecretId")?.to_owned(),
                timestamp,
                nonce,
                signature: signature.to_owned(),
                pairs: pairs.clone(),
                token: param("Token").map(str::to_owned),
            },
        })
    })();
    parsed.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    /// A well-formed TC3 header (its signature is not checked by `parse`).
    const AUTHORIZATION: &str = "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2026-11-30/tcss/tc3_request, SignedHeaders=content-type;host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        map
    }

    fn code(result: Result<ParsedRequest, (Language, ApiError)>) -> ErrorCode {
        result.expect_err("a refusal").1.code
    }

    #[test]
    fn a_v1_body_over_1_mb_is_a_signature_failure_asking_for_tc3_in_the_callers_language() {
        let body = format!("Action=DescribeImage&Signature=x&{}", "a".repeat(MAX_V1_BODY_BYTES));
        let uri: Uri = "/".parse().unwrap();
        for (language, asks) in
            [("en-US", "please use new signature method `TC3-HMAC-SHA256`."), ("zh-CN", "请使用新的签名方法")]
        {
            let form = headers(&[("content-type", "application/x-www-form-urlencoded"), ("x-tc-language", language)]);
            let (language, error) = parse(&Method::POST, &uri, &form, body.as_bytes()).expect_err("a refusal");
            assert_eq!(error.code, ErrorCode::AuthFailureSignatureFailure);
            assert!(error.localized_message(language).contains(asks), "{}", error.localized_message(language));
        }
    }

    #[test]
    fn a_6000_segment_key_before_authentication_is_invalid_parameter() {
        let uri: Uri = format!("/?Signature=x&Timestamp=1&Nonce=1&{}=1", vec!["a"; 6000].join(".")).parse().unwrap();
        assert_eq!(code(parse(&Method::GET, &uri, &HeaderMap::new(), b"")), ErrorCode::InvalidParameter);
    }

    #[test]
    fn a_json_body_nested_past_the_depth_bound_is_invalid_parameter() {
        let body = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let h = headers(&[
            ("authorization", AUTHORIZATION),
            ("x-tc-action", "DescribeUnfinishRefreshTask"),
            ("x-tc-version", "2020-11-01"),
            ("x-tc-timestamp", "1"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            code(parse(&Method::POST, &Uri::from_static("/"), &h, body.as_bytes())),
            ErrorCode::InvalidParameter
        );
    }

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT)]
    }

    fn content_type() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("application/json"),
            Just("application/x-www-form-urlencoded"),
            Just("application/json; charset=utf-8"),
            Just("text/plain")
        ]
    }

    proptest! {
        #[test]
        fn parse_answers_every_request(
            method in method(),
            query in "[A-Za-z0-9.=&%+]{0,300}",
            body in prop::collection::vec(any::<u8>(), 0..400),
            content_type in content_type(),
            tc3 in any::<bool>(),
            timestamp in "-?[0-9]{0,20}",
        ) {
            let uri: Uri = match format!("/?{query}").parse() { Ok(uri) => uri, Err(_) => return Ok(()) };
            let mut pairs = vec![("content-type", content_type), ("x-tc-timestamp", timestamp.as_str())];
            if tc3 {
                pairs.push(("authorization", AUTHORIZATION));
                pairs.push(("x-tc-action", "DescribeUnfinishRefreshTask"));
                pairs.push(("x-tc-version", "2020-11-01"));
            }
            if let Ok(parsed) = parse(&method, &uri, &headers(&pairs), &body) {
                prop_assert!(tcapi::params::check_depth(&parsed.params).is_ok());
            }
        }

        #[test]
        fn flattened_bodies_of_any_shape_are_answered(
            keys in prop::collection::vec("[A-Za-z0-9.]{1,80}", 1..50),
        ) {
            let body = keys.iter().map(|k| format!("{k}=1")).collect::<Vec<_>>().join("&");
            let h = headers(&[
                ("authorization", AUTHORIZATION),
                ("x-tc-action", "DescribeUnfinishRefreshTask"),
                ("x-tc-version", "2020-11-01"),
                ("x-tc-timestamp", "1"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]);
            let _ = parse(&Method::POST, &Uri::from_static("/"), &h, body.as_bytes());
        }
    }
}
