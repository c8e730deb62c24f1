//! The action contract every product implements and the gateway runs: the caller's identity
//! ([`Account`], [`Call`]), the typed [`Action`] with its product context, the one error type
//! ([`ApiError`]) and the serialised answer ([`Answer`]).
//!
//! This module is the bottom of the server crate: it imports only `tcapi`, serde and std, so
//! products and the gateway can both depend on it without depending on each other.

pub mod account;
mod answer;
mod error;
mod service;
pub mod wire;

pub use account::Account;
pub use answer::Answer;
pub use error::{ApiError, CaseMessage};
pub use service::Service;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tcapi::ErrorCode;
use tcapi::params::{Encoding, decode};

/// What an action knows about the call beyond its own parameters. No time: the signature
/// clock may be frozen (`frozen_time`), task times come from the engine's clock.
pub struct Call {
    pub account: Arc<Account>,
}

impl Call {
    /// Every tiw action names an SdkAppId, which must belong to the caller.
    pub fn require_sdk_app(&self, sdk_app_id: u64) -> Result<(), ApiError> {
        if self.account.owns_sdk_app(sdk_app_id) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::UnauthorizedOperationSdkAppId,
                format!("The SdkAppId {sdk_app_id} does not exist or does not belong to account {}.", self.account.uin),
            ))
        }
    }
}

/// A product action: its typed request is `Self`, its typed response `Response`.
pub trait Action: DeserializeOwned + Send + 'static {
    const NAME: &'static str;
    /// What this product's handlers may touch: its own context, never the server.
    type Product: Sync + 'static;
    type Response: Serialize + Send;

    fn handle(
        self,
        call: &Call,
        product: &Self::Product,
    ) -> impl Future<Output = Result<Self::Response, ApiError>> + Send;
}

/// The response of actions that answer nothing but their RequestId.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmptyResponse {}

pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, ApiError>> + Send + 'a>>;

/// One line of a product's action table: the action's name and how to run it on the
/// product's context `P`.
pub struct ActionEntry<P: 'static> {
    pub name: &'static str,
    pub run: for<'a> fn(&'a Call, &'a P, &'a Value, Encoding) -> ActionFuture<'a>,
}

pub const fn entry<A: Action>() -> ActionEntry<A::Product> {
    ActionEntry { name: A::NAME, run: run::<A> }
}

fn run<'a, A: Action>(
    call: &'a Call,
    product: &'a A::Product,
    params: &'a Value,
    encoding: Encoding,
) -> ActionFuture<'a> {
    Box::pin(async move {
        let request: A = decode(params, encoding)?;
        Answer::of(&request.handle(call, product).await?)
    })
}
