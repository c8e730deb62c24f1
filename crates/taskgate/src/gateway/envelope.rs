//! The response envelope every SDK expects: HTTP 200, `Content-Type: application/json` exactly
//! (with a charset suffix the Python SDK reads an error as an empty success), and a RequestId.

use super::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use tcapi::ErrorCode;
use tcapi::error_code::Language;

/// `{"Response": …}`, serialised straight from its parts rather than built as a `Value` first.
#[derive(Serialize)]
struct Envelope<T> {
    #[serde(rename = "Response")]
    response: T,
}

/// An error answer's `Response`; the fields in the order a JSON object map sorts them, as for a
/// success, so that every answer lists its keys alphabetically.
#[derive(Serialize)]
struct ErrorResponse<'a> {
    #[serde(rename = "Error")]
    error: ErrorFields<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    #[serde(rename = "Code")]
    code: ErrorCode,
    #[serde(rename = "Message")]
    message: &'a str,
}

pub fn response(result: Result<Value, ApiError>, language: Language, request_id: &str) -> Response {
    let body = match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
            serde_json::to_vec(&Envelope { response: fields })
        }
        Ok(other) => {
            tracing::error!(?other, "an action answered something other than an object");
            error_body(&ApiError::internal("non-object response"), language, request_id)
        }
        Err(error) => error_body(&error, language, request_id),
    }
    .expect("JSON values serialise");
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_body(error: &ApiError, language: Language, request_id: &str) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Envelope {
        response: ErrorResponse {
            error: ErrorFields { code: error.code, message: error.localized_message(language) },
            request_id,
        },
    })
}
