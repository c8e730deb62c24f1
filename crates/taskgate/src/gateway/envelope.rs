//! The response envelope every SDK expects: HTTP 200, `Content-Type: application/json` exactly
//! (with a charset suffix the Python SDK reads an error as an empty success), and a RequestId.

use super::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tcapi::error_code::Language;

pub fn response(result: Result<Value, ApiError>, language: Language, request_id: &str) -> Response {
    let inner = match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
            Value::Object(fields)
        }
        Ok(other) => {
            tracing::error!(?other, "an action answered something other than an object");
            error_body(&ApiError::internal("non-object response"), language, request_id)
        }
        Err(error) => error_body(&error, language, request_id),
    };
    let body = serde_json::to_vec(&json!({ "Response": inner })).expect("JSON values serialise");
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_body(error: &ApiError, language: Language, request_id: &str) -> Value {
    json!({
        "Error": { "Code": error.code, "Message": error.localized_message(language) },
        "RequestId": request_id,
    })
}
