//! The callback settings actions of an event family, one generic implementation for push
//! (SetWhiteboardPushCallback, SetWhiteboardPushCallbackKey, DescribeWhiteboardPushCallback)
//! and transcode events (SetTranscodeCallback, SetTranscodeCallbackKey,
//! DescribeTranscodeCallback): the same fields, checks and errors (tccli `api.json`).

use super::callback_settings::{self, EventFamily, Setting};
use super::context::Tiw;
use crate::action::{Action, ApiError, Call, EmptyResponse};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tcapi::ErrorCode;

/// A family's three action names.
pub(super) trait Family: Send + Sync + 'static {
    const FAMILY: EventFamily;
    const SET: &'static str;
    const SET_KEY: &'static str;
    const DESCRIBE: &'static str;
}

pub(super) struct PushEvents;

impl Family for PushEvents {
    const FAMILY: EventFamily = EventFamily::Push;
    const SET: &'static str = "SetWhiteboardPushCallback";
    const SET_KEY: &'static str = "SetWhiteboardPushCallbackKey";
    const DESCRIBE: &'static str = "DescribeWhiteboardPushCallback";
}

pub(super) struct TranscodeEvents;

impl Family for TranscodeEvents {
    const FAMILY: EventFamily = EventFamily::Transcode;
    const SET: &'static str = "SetTranscodeCallback";
    const SET_KEY: &'static str = "SetTranscodeCallbackKey";
    const DESCRIBE: &'static str = "DescribeTranscodeCallback";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetCallback<F> {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "Callback")]
    pub callback: String,
    #[serde(skip)]
    family: PhantomData<F>,
}

impl<F: Family> Action for SetCallback<F> {
    const NAME: &'static str = F::SET;
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
        callback_settings::set(tiw.engine.store(), self.sdk_app_id, F::FAMILY, Setting::Url, callback)
            .await
            .map_err(ApiError::internal)?;
        Ok(EmptyResponse {})
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetCallbackKey<F> {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "CallbackKey")]
    pub callback_key: String,
    #[serde(skip)]
    family: PhantomData<F>,
}

const MAX_CALLBACK_KEY_CHARS: usize = 64;

impl<F: Family> Action for SetCallbackKey<F> {
    const NAME: &'static str = F::SET_KEY;
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
        callback_settings::set(tiw.engine.store(), self.sdk_app_id, F::FAMILY, Setting::Key, &self.callback_key)
            .await
            .map_err(ApiError::internal)?;
        Ok(EmptyResponse {})
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DescribeCallback<F> {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(skip)]
    family: PhantomData<F>,
}

#[derive(Debug, Serialize)]
pub(super) struct DescribeCallbackResponse {
    #[serde(rename = "Callback")]
    pub callback: String,
    #[serde(rename = "CallbackKey")]
    pub callback_key: String,
}

impl<F: Family> Action for DescribeCallback<F> {
    const NAME: &'static str = F::DESCRIBE;
    type Product = Tiw;
    type Response = DescribeCallbackResponse;

    async fn handle(self, call: &Call, tiw: &Tiw) -> Result<Self::Response, ApiError> {
        super::api::check_sdk_app_id(self.sdk_app_id)?;
        call.require_sdk_app(self.sdk_app_id)?;
        let settings =
            callback_settings::get(tiw.engine.store(), self.sdk_app_id, F::FAMILY).await.map_err(ApiError::internal)?;
        Ok(DescribeCallbackResponse { callback: settings.callback, callback_key: settings.callback_key })
    }
}
