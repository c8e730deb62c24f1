//! `Answer`: an action's response object as JSON text, serialised once from the typed response
//! (not through a `serde_json::Value`), ready for the envelope to add the RequestId.

use super::error::ApiError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(String);

impl Answer {
    /// Fails (InternalError) unless `response` serialises as a JSON object.
    pub fn of<T: Serialize + ?Sized>(response: &T) -> Result<Self, ApiError> {
        let text = serde_json::to_string(response).map_err(ApiError::internal)?;
        if !text.starts_with('{') {
            return Err(ApiError::internal(format!("an action answered something other than an object: {text}")));
        }
        Ok(Self(text))
    }

    /// The object's members without the braces, empty for `{}`.
    pub fn members(&self) -> &str {
        &self.0[1..self.0.len() - 1]
    }

    /// A stored answer (a ClientToken's first success), replayed as it was written.
    /// Fails (InternalError) unless it is a JSON object's text.
    pub fn stored(text: String) -> Result<Self, ApiError> {
        if !(text.starts_with('{') && text.ends_with('}')) {
            return Err(ApiError::internal("a stored answer is not a JSON object"));
        }
        Ok(Self(text))
    }

    /// The answer's JSON text, to store it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Answer;
    use serde_json::json;
    use tcapi::ErrorCode;

    #[test]
    fn members_are_the_object_without_braces() {
        assert_eq!(Answer::of(&json!({"A": 1, "B": "x"})).unwrap().members(), r#""A":1,"B":"x""#);
        assert_eq!(Answer::of(&json!({})).unwrap().members(), "");
    }

    #[test]
    fn anything_but_an_object_is_an_internal_error() {
        for response in [json!(null), json!([1]), json!("text"), json!(1)] {
            assert_eq!(Answer::of(&response).unwrap_err().code, ErrorCode::InternalError);
        }
    }

    #[test]
    fn a_stored_answer_replays_its_text_unchanged() {
        let first = Answer::of(&json!({"TaskID": "abc", "Nested": {"N": [1, 2]}})).unwrap();
        assert_eq!(Answer::stored(first.as_str().to_owned()).unwrap(), first);
    }

    #[test]
    fn a_stored_text_that_is_no_object_is_an_internal_error() {
        assert_eq!(Answer::stored("[1]".to_owned()).unwrap_err().code, ErrorCode::InternalError);
    }
}
