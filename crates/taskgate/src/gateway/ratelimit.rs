//! Per-(account, action) request rate limits, GCRA via `governor`, answered with
//! `RequestLimitExceeded` in the usual envelope (the only code the SDKs retry on).

use crate::action::ApiError;
use crate::config::Config;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use tcapi::ErrorCode;

pub struct RateLimits {
    by_action: HashMap<&'static str, DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    /// One limiter per action; a configured rate of 0 means unlimited.
    pub fn new(config: &Config, actions: impl IntoIterator<Item = &'static str>) -> Self {
        let by_action = actions
            .into_iter()
            .filter_map(|action| {
                let rate = NonZeroU32::new(config.rate_per_second(action))?;
                Some((action, RateLimiter::keyed(Quota::per_second(rate))))
            })
            .collect();
        Self { by_action }
    }

    pub fn check(&self, uin: &str, action: &'static str) -> Result<(), ApiError> {
        let Some(limiter) = self.by_action.get(action) else {
            return Ok(());
        };
        limiter.check_key(&uin.to_owned()).map_err(|_| {
            ApiError::new(
                ErrorCode::RequestLimitExceeded,
                format!("Your request frequency of `{action}` exceeds the limit. Please try again later."),
            )
        })
    }
}
