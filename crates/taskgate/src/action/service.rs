//! `Service`: the three Tencent products taskgate serves, with their API versions and the
//! region and account checks every call passes before its action runs.

use super::error::ApiError;
use serde::{Deserialize, Serialize};
use tcapi::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Tiw,
    Tcss,
    Ecm,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Tiw, Service::Tcss, Service::Ecm];

    /// The service's name in endpoints (`tiw.tencentcloudapi.com`), TC3 credential scopes and
    /// metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Service::Tiw => "tiw",
            Service::Tcss => "tcss",
            Service::Ecm => "ecm",
        }
    }

    /// The one API version served, as `X-TC-Version` names it.
    pub fn version(self) -> &'static str {
        match self {
            Service::Tiw => "2019-09-19",
            Service::Tcss => "2020-11-01",
            Service::Ecm => "2019-07-19",
        }
    }

    /// The codes of a call whose account has not enabled the service, and of one whose service
    /// has expired. tiw documents its own for every action (`ResourceUnavailable.NotRegistered`
    /// "未开通互动白板", `ResourceUnavailable.ServiceExpired`); tcss and ecm document none for
    /// their actions (the Go SDK's `client.go`, tests/fixtures/action_error_codes.json), so they
    /// answer the common `ResourceUnavailable`.
    pub fn unavailable_codes(self) -> (ErrorCode, ErrorCode) {
        match self {
            Service::Tiw => (ErrorCode::ResourceUnavailableNotRegistered, ErrorCode::ResourceUnavailableServiceExpired),
            Service::Tcss | Service::Ecm => (ErrorCode::ResourceUnavailable, ErrorCode::ResourceUnavailable),
        }
    }

    /// tiw requires a region and serves only `ap-singapore`; tcss and ecm do not need one and
    /// serve the configured regions.
    pub fn check_region(self, region: Option<&str>, served: &[String]) -> Result<(), ApiError> {
        match (self, region) {
            (Service::Tiw, None) => Err(ApiError::missing_common("Region")),
            (Service::Tiw, Some("ap-singapore")) | (_, None) => Ok(()),
            (Service::Tiw, Some(other)) => Err(unsupported_region(self, other)),
            (_, Some(region)) if served.iter().any(|r| r == region) => Ok(()),
            (_, Some(other)) => Err(unsupported_region(self, other)),
        }
    }
}

fn unsupported_region(service: Service, region: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedRegion,
        format!("The {} actions are not available in region `{region}`.", service.label()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiw_serves_only_singapore() {
        assert!(Service::Tiw.check_region(Some("ap-singapore"), &[]).is_ok());
        assert_eq!(
            Service::Tiw.check_region(Some("ap-guangzhou"), &["ap-guangzhou".into()]).unwrap_err().code,
            ErrorCode::UnsupportedRegion
        );
    }

    #[test]
    fn tcss_needs_no_region_but_checks_a_given_one() {
        let served = vec!["ap-guangzhou".to_owned()];
        assert!(Service::Tcss.check_region(None, &served).is_ok());
        assert!(Service::Tcss.check_region(Some("ap-guangzhou"), &served).is_ok());
        assert_eq!(Service::Tcss.check_region(Some("mars-1"), &served).unwrap_err().code, ErrorCode::UnsupportedRegion);
    }
}
