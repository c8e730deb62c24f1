//! `ApiError`: a Tencent error code with its message, the one error type handlers return.

use tcapi::ErrorCode;
use tcapi::error_code::{Language, fixed_message};
use tcapi::params::ParamError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The real service's own text for this particular case of the code, by language.
    case_message: Option<CaseMessage>,
}

/// One case of an error code that the real service words differently from the code's usual
/// text, in both languages it answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseMessage {
    pub en_us: &'static str,
    pub zh_cn: &'static str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), case_message: None }
    }

    /// An error the real service words in its own way for this case: `case` in the caller's
    /// language replaces both the code's fixed text and `message`.
    pub fn case(code: ErrorCode, case: CaseMessage) -> Self {
        Self { code, message: case.en_us.to_owned(), case_message: Some(case) }
    }

    /// The real service's message in the caller's language where it has a fixed one (for this
    /// case, else for the code), otherwise ours, which names the offending input.
    pub fn localized_message(&self, language: Language) -> &str {
        match (self.case_message, language) {
            (Some(case), Language::EnUs) => case.en_us,
            (Some(case), Language::ZhCn) => case.zh_cn,
            (None, _) => fixed_message(self.code, language).unwrap_or(&self.message),
        }
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
