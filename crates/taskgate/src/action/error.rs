//! `ApiError`: a Tencent error code with its message, the one error type handlers return.

use tcapi::ErrorCode;
use tcapi::error_code::{Language, fixed_message};
use tcapi::params::ParamError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The real service's Chinese text for this case, when Tencent words it (then `message` is
    /// its English one); otherwise the code's fixed text or `message` answers in both languages.
    zh_cn: Option<String>,
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
        Self { code, message: message.into(), zh_cn: None }
    }

    /// An error the real service words in its own way for this case: `case` in the caller's
    /// language replaces both the code's fixed text and `message`.
    pub fn case(code: ErrorCode, case: CaseMessage) -> Self {
        Self { code, message: case.en_us.to_owned(), zh_cn: Some(case.zh_cn.to_owned()) }
    }

    /// The real service's message in the caller's language where it has one (for this case,
    /// else the code's fixed text), otherwise ours, which names the offending input.
    pub fn localized_message(&self, language: Language) -> &str {
        match (&self.zh_cn, language) {
            (Some(_), Language::EnUs) => &self.message,
            (Some(zh_cn), Language::ZhCn) => zh_cn,
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

    /// A common parameter (Action, Version, Timestamp, Region…) missing: the real service
    /// answers it in English whatever the language asked (tencentcloud-sdk-nodejs issue 99:
    /// `X-TC-Language: zh-CN`, answered "The request is missing a required parameter
    /// `Timestamp`.").
    pub fn missing_common(name: &str) -> Self {
        Self::new(ErrorCode::MissingParameter, ParamError::missing(name).to_string())
    }

    pub fn invalid_value(field: &str, detail: impl Into<String>) -> Self {
        Self::from(ParamError::invalid_value(field, detail))
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        Self { code: error.code(), message: error.to_string(), zh_cn: error.zh_cn() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_action_parameter_answers_in_the_callers_language() {
        let error = ApiError::missing("TaskID");
        assert_eq!(error.localized_message(Language::ZhCn), "请求缺少必传参数 `TaskID`。");
        assert_eq!(error.localized_message(Language::EnUs), "The request is missing a required parameter `TaskID`.");
    }

    #[test]
    fn a_missing_common_parameter_answers_in_english_in_both_languages() {
        let error = ApiError::missing_common("Timestamp");
        for language in [Language::ZhCn, Language::EnUs] {
            assert_eq!(error.localized_message(language), "The request is missing a required parameter `Timestamp`.");
        }
    }

    #[test]
    fn a_fixed_text_answers_for_its_code_in_both_languages() {
        let error = ApiError::new(ErrorCode::RequestLimitExceeded, "ours");
        assert_eq!(error.localized_message(Language::ZhCn), "您当前每秒请求次数超过了频率上限，请稍后重试。");
        assert!(error.localized_message(Language::EnUs).starts_with("Your current request times in a second"));
    }
}
