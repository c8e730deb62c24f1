//! The push callback settings of an SdkAppId: where push events go and the key that signs them.

use super::context::Tiw;
use super::push::store::{self, CallbackSetting};
use crate::action::{Action, ApiError, Call, EmptyResponse};
use serde::{Deserialize, Serialize};
use tcapi::ErrorCode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetWhiteboardPushCallback {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "Callback")]
    pub callback: String,
}

impl Action for SetWhiteboardPushCallback {
    const NAME: &'static str = "SetWhiteboardPushCallback";
    type Product = Tiw;
    type Response = EmptyResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        super::api::check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let callback = self.callback.trim();
        if !callback.is_empty() {
            let bad = |detail: String| {
                ApiError::new(
                    ErrorCode::InvalidParameterCallbackAddressFormatError,
                    format!("Invalid `Callback`: {detail}."),
                )
            };
            let lower = callback.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(bad("only http:// and https:// URLs are accepted".into()));
            }
            tiw.url_policy.check(callback).await.map_err(|e| bad(e.to_string()))?;
        }
        store::set_callback(tiw.engine.store(), self.sdk_app_id, CallbackSetting::Url, callback)
            .await
            .map_err(ApiError::internal)?;
        Ok(EmptyResponse {})
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetWhiteboardPushCallbackKey {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "CallbackKey")]
    pub callback_key: String,
}

const MAX_CALLBACK_KEY_CHARS: usize = 64;

impl Action for SetWhiteboardPushCallbackKey {
    const NAME: &'static str = "SetWhiteboardPushCallbackKey";
    type Product = Tiw;
    type Response = EmptyResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        super::api::check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        if self.callback_key.chars().count() > MAX_CALLBACK_KEY_CHARS {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("Invalid `CallbackKey`: at most {MAX_CALLBACK_KEY_CHARS} characters."),
            ));
        }
        store::set_callback(tiw.engine.store(), self.sdk_app_id, CallbackSetting::Key, &self.callback_key)
            .await
            .map_err(ApiError::internal)?;
        Ok(EmptyResponse {})
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DescribeWhiteboardPushCallback {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct DescribeWhiteboardPushCallbackResponse {
    #[serde(rename = "Callback")]
    pub callback: String,
    #[serde(rename = "CallbackKey")]
    pub callback_key: String,
}

impl Action for DescribeWhiteboardPushCallback {
    const NAME: &'static str = "DescribeWhiteboardPushCallback";
    type Product = Tiw;
    type Response = DescribeWhiteboardPushCallbackResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        super::api::check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let settings =
            store::callback_settings(tiw.engine.store(), self.sdk_app_id).await.map_err(ApiError::internal)?;
        Ok(DescribeWhiteboardPushCallbackResponse { callback: settings.callback, callback_key: settings.callback_key })
    }
}
