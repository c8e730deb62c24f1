//! `Account`: who is calling, as the gateway authenticated them.

use super::error::ApiError;
use super::service::Service;
use std::collections::{HashMap, HashSet};

#[derive(Debug)]
pub struct Account {
    /// Tencent's account id (UIN); the engine and the stores call it `account`.
    pub uin: String,
    pub services: Vec<Service>,
    /// Unix seconds after which every service of the account is expired.
    pub service_expires_at: Option<i64>,
    /// UserSig signing key of each owned SdkAppId.
    pub sdk_apps: HashMap<u64, String>,
    /// Tencent APPID: buckets named `…-{app_id}` are the account's.
    pub app_id: Option<u64>,
    /// Buckets listed for the account, by (region, name).
    pub buckets: HashSet<(String, String)>,
}

impl Account {
    /// `service` must be enabled for the account and not expired at `now` (Unix seconds).
    /// The refusals' codes are the service's own ([`Service::unavailable_codes`]).
    pub fn check_service(&self, service: Service, now: i64) -> Result<(), ApiError> {
        if !self.services.contains(&service) {
            return Err(self.not_registered(service));
        }
        if self.service_expires_at.is_some_and(|expires| expires <= now) {
            return Err(self.service_expired(service));
        }
        Ok(())
    }

    /// `service` is not enabled for the account, with the service's code for it.
    pub fn not_registered(&self, service: Service) -> ApiError {
        ApiError::new(
            service.unavailable_codes().0,
            format!("The {} service is not enabled for account {}.", service.label(), self.uin),
        )
    }

    /// Every service of the account has expired, with the service's code for it.
    pub fn service_expired(&self, service: Service) -> ApiError {
        ApiError::new(
            service.unavailable_codes().1,
            format!("The {} service of account {} has expired.", service.label(), self.uin),
        )
    }

    pub fn owns_sdk_app(&self, sdk_app_id: u64) -> bool {
        self.sdk_apps.contains_key(&sdk_app_id)
    }

    /// Whether the account may read and write `bucket` in `region`: a bucket listed for it, or
    /// one whose name ends with its APPID as Tencent names COS buckets (`examplebucket-1250000000`).
    pub fn owns_bucket(&self, region: &str, bucket: &str) -> bool {
        let by_app_id = self.app_id.is_some_and(|app_id| app_id_suffix(bucket) == Some(app_id.to_string().as_str()));
        by_app_id || self.buckets.contains(&(region.to_owned(), bucket.to_owned()))
    }
}

/// The APPID part of a bucket named as Tencent names COS buckets (`examplebucket-1250000000`),
/// compared as text so that `x-0125` is not APPID 125; `None` without a name before it.
pub fn app_id_suffix(bucket: &str) -> Option<&str> {
    bucket.rsplit_once('-').filter(|(name, _)| !name.is_empty()).map(|(_, suffix)| suffix)
}
