//! `ApiError`: a Tencent error code with its message, the one error type handlers return.

use tcapi::ErrorCode;
use tcapi::error_code::{Language, fixed_message};
use tcapi::params::ParamError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The real service's message in the caller's language where it has a fixed one,
    /// otherwise ours, which names the offending input.
    pub fn localized_message(&self, language: Language) -> &str {
        fixed_message(self.code, language).unwrap_or(&self.message)
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        tracing::error!(%context, "internal error");
        Self::new(ErrorCode::InternalError, "An internal error has occurred. Retry your request.")
    }

    pub fn missing(field: &str) -> Self {
        Self::from(ParamError::missing(field))
    }

    pub fn invalid_value(field: &str, detail: impl Into<String>) -> Self {
        Self::from(ParamError::invalid_value(field, detail))
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}
