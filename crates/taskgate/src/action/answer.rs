//! `Answer`: an action's response object as JSON text, serialised once from the typed response
//! (not through a `serde_json::Value`), ready for the envelope to add the RequestId.

use super::error::ApiError;
use serde::Serialize;
use serde_json::Value;

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

    /// For storing the answer of a ClientToken request.
    pub fn to_value(&self) -> Result<Value, ApiError> {
        serde_json::from_str(&self.0).map_err(ApiError::internal)
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
    fn round_trips_through_a_value() {
        let value = json!({"TaskID": "abc", "Nested": {"N": [1, 2]}});
        assert_eq!(Answer::of(&value).unwrap().to_value().unwrap(), value);
    }
}
