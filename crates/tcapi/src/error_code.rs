//! Tencent Cloud error codes as one enum whose wire names are the `Error.Code` strings.

use serde::{Serialize, Serializer};

macro_rules! error_codes {
    ($($variant:ident => $wire:literal,)*) => {
        /// An `Error.Code` value. Product-specific codes live here too, so a code is never a
        /// free-form string anywhere in the server.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)* }
            }
        }
    };
}

error_codes! {
    AuthFailureInvalidAuthorization => "AuthFailure.InvalidAuthorization",
    AuthFailureInvalidSecretId => "AuthFailure.InvalidSecretId",
    AuthFailureSecretIdNotFound => "AuthFailure.SecretIdNotFound",
    AuthFailureSignatureExpire => "AuthFailure.SignatureExpire",
    AuthFailureSignatureFailure => "AuthFailure.SignatureFailure",
    AuthFailureTokenFailure => "AuthFailure.TokenFailure",
    FailedOperation => "FailedOperation",
    FailedOperationFileDownloadFail => "FailedOperation.FileDownloadFail",
    FailedOperationFileFormatError => "FailedOperation.FileFormatError",
    FailedOperationFileOpenFail => "FailedOperation.FileOpenFail",
    FailedOperationFileUploadFail => "FailedOperation.FileUploadFail",
    FailedOperationTranscode => "FailedOperation.Transcode",
    FailedOperationTranscodeServerError => "FailedOperation.TranscodeServerError",
    FailedOperationWhiteboardPush => "FailedOperation.WhiteboardPush",
    InternalError => "InternalError",
    InvalidAction => "InvalidAction",
    InvalidParameter => "InvalidParameter",
    InvalidParameterCallbackAddressFormatError => "InvalidParameter.CallbackAddressFormatError",
    InvalidParameterFileFormatUnsupported => "InvalidParameter.FileFormatUnsupported",
    InvalidParameterInvalidExtra => "InvalidParameter.InvalidExtra",
    InvalidParameterRecordParameter => "InvalidParameter.RecordParameter",
    InvalidParameterTaskNotFound => "InvalidParameter.TaskNotFound",
    InvalidParameterTranscodeParameter => "InvalidParameter.TranscodeParameter",
    InvalidParameterUrlFormatError => "InvalidParameter.UrlFormatError",
    InvalidParameterValue => "InvalidParameterValue",
    InvalidParameterValueImageNameDuplicate => "InvalidParameterValue.ImageNameDuplicate",
    InvalidParameterValueInvaildPageParam => "InvalidParameterValue.InvaildPageParam",
    InvalidParameterValueInvalidFilter => "InvalidParameterValue.InvalidFilter",
    InvalidParameterValueTaskNotFound => "InvalidParameterValue.TaskNotFound",
    LimitExceeded => "LimitExceeded",
    LimitExceededTaskConcurrency => "LimitExceeded.TaskConcurrency",
    LimitExceededTranscodePagesLimitation => "LimitExceeded.TranscodePagesLimitation",
    MissingParameter => "MissingParameter",
    NoSuchVersion => "NoSuchVersion",
    OperationDenied => "OperationDenied",
    RequestLimitExceeded => "RequestLimitExceeded",
    RequestSizeLimitExceeded => "RequestSizeLimitExceeded",
    ResourceInUseRecordUserId => "ResourceInUse.RecordUserId",
    ResourceNotFound => "ResourceNotFound",
    ResourceUnavailable => "ResourceUnavailable",
    ResourceUnavailableNotRegistered => "ResourceUnavailable.NotRegistered",
    ResourceUnavailableServiceExpired => "ResourceUnavailable.ServiceExpired",
    UnauthorizedOperation => "UnauthorizedOperation",
    UnauthorizedOperationSdkAppId => "UnauthorizedOperation.SdkAppId",
    UnknownParameter => "UnknownParameter",
    UnsupportedOperation => "UnsupportedOperation",
    UnsupportedOperationTaskHasAlreadyStopped => "UnsupportedOperation.TaskHasAlreadyStopped",
    UnsupportedProtocol => "UnsupportedProtocol",
    UnsupportedRegion => "UnsupportedRegion",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// The code whose wire text is `text`, if taskgate knows it.
    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == text)
    }
}

/// Reads a stored code back by its wire text; an unknown text is an error.
impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Self::from_wire(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{text}`")))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The language of error messages, from `X-TC-Language` / `Language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    ZhCn,
    EnUs,
}

impl Language {
    /// Unknown values fall back to Chinese, the real service's default.
    pub fn from_header(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case("en-US") => Self::EnUs,
            _ => Self::ZhCn,
        }
    }
}

/// The real service's fixed texts for errors whose message carries no request detail.
pub fn fixed_message(code: ErrorCode, lang: Language) -> Option<&'static str> {
    use ErrorCode::*;
    use Language::*;
    Some(match (code, lang) {
        (AuthFailureSignatureFailure, ZhCn) => "请求签名验证失败，请检查您的签名计算是否正确。",
        (AuthFailureSignatureFailure, EnUs) => {
            "The provided credentials could not be validated. Please check your signature is correct."
        }
        (AuthFailureSecretIdNotFound, ZhCn) => "SecretId不存在，请输入正确的密钥。",
        (AuthFailureSecretIdNotFound, EnUs) => {
            "The SecretId is not found, please ensure that your SecretId is correct."
        }
        (AuthFailureTokenFailure, ZhCn) => "Token 错误。",
        (AuthFailureTokenFailure, EnUs) => "The provided token is invalid.",
        // The "公共错误码" page's solutions (quoted in teco-project/teco-core
        // `Sources/TecoCore/Errors/TCCommonError.swift`, commit 3b8b2a5).
        (RequestLimitExceeded, ZhCn) => "您当前每秒请求次数超过了频率上限，请稍后重试。",
        (RequestLimitExceeded, EnUs) => {
            "Your current request times in a second exceeds the frequency limit. Please reduce the frequency of calls."
        }
        (InternalError, ZhCn) => "内部错误。",
        (InternalError, EnUs) => "An internal error has occurred. Retry your request.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_unique() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn sub_codes_serialize_with_a_dot() {
        assert_eq!(
            serde_json::to_string(&ErrorCode::ResourceUnavailableNotRegistered).unwrap(),
            "\"ResourceUnavailable.NotRegistered\""
        );
    }
}
