//! The response envelope every SDK expects: HTTP 200, `Content-Type: application/json` exactly
//! (with a charset suffix the Python SDK reads an error as an empty success), and a RequestId.

use super::faults::Failure;
use crate::action::Answer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tcapi::error_code::Language;

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "Response")]
    response: ErrorResponse<'a>,
}

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
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

pub(super) fn response(result: Result<Answer, Failure>, language: Language, request_id: &str) -> Response {
    let body = match result {
        Ok(answer) => success_body(&answer, request_id),
        Err(error) => serde_json::to_vec(&ErrorEnvelope {
            response: ErrorResponse {
                error: ErrorFields { code: error.code(), message: error.message(language) },
                request_id,
            },
        })
        .expect("strings serialise"),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"Response":{<the answer's members>,"RequestId":"…"}}`, by concatenation: the members are
/// already JSON, and going through a map to append one key would serialise them again.
fn success_body(answer: &Answer, request_id: &str) -> Vec<u8> {
    let members = answer.members();
    let mut body = Vec::with_capacity(members.len() + 80);
    body.extend_from_slice(br#"{"Response":{"#);
    body.extend_from_slice(members.as_bytes());
    if !members.is_empty() {
        body.push(b',');
    }
    body.extend_from_slice(br#""RequestId":"#);
    serde_json::to_writer(&mut body, request_id).expect("strings serialise");
    body.extend_from_slice(b"}}");
    body
}

#[cfg(test)]
mod tests {
    use super::success_body;
    use crate::action::Answer;
    use serde_json::{Value, json};

    fn parsed(body: Vec<u8>) -> Value {
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn the_request_id_joins_the_answers_members() {
        let answer = Answer::of(&json!({"TaskID": "t-1", "Result": {"Total": 0}})).unwrap();
        assert_eq!(
            parsed(success_body(&answer, "r-1")),
            json!({"Response": {"TaskID": "t-1", "Result": {"Total": 0}, "RequestId": "r-1"}})
        );
    }

    #[test]
    fn an_empty_answer_holds_only_the_request_id() {
        let answer = Answer::of(&json!({})).unwrap();
        assert_eq!(parsed(success_body(&answer, "r-1")), json!({"Response": {"RequestId": "r-1"}}));
    }
}
