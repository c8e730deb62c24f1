//! The three products: their services, their action tables, and what every action shares
//! (the typed `Action` trait, the per-call context, region and account checks).

pub mod ecm;
pub mod tcss;
pub mod tiw;

use crate::accounts::Account;
use crate::app::App;
use crate::gateway::{Answer, ApiError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tcapi::ErrorCode;
use tcapi::params::{Encoding, decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Tiw,
    Tcss,
    Ecm,
}

impl Service {
    pub fn label(self) -> &'static str {
        match self {
            Service::Tiw => "tiw",
            Service::Tcss => "tcss",
            Service::Ecm => "ecm",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Service::Tiw => "2019-09-19",
            Service::Tcss => "2020-11-01",
            Service::Ecm => "2019-07-19",
        }
    }

    /// tiw requires a region and serves only `ap-singapore`; tcss and ecm do not need one and
    /// serve the configured regions.
    pub fn check_region(self, region: Option<&str>, served: &[String]) -> Result<(), ApiError> {
        match (self, region) {
            (Service::Tiw, None) => Err(ApiError::missing("Region")),
            (Service::Tiw, Some("ap-singapore")) | (_, None) => Ok(()),
            (Service::Tiw, Some(other)) => Err(unsupported_region(self, other)),
            (_, Some(region)) if served.iter().any(|r| r == region) => Ok(()),
            (_, Some(other)) => Err(unsupported_region(self, other)),
        }
    }

    pub fn check_account(self, account: &Account, now: i64) -> Result<(), ApiError> {
        if !account.services.contains(&self) {
            return Err(ApiError::new(
                ErrorCode::ResourceUnavailableNotRegistered,
                format!("The {} service is not enabled for account {}.", self.label(), account.uin),
            ));
        }
        if account.service_expires_at.is_some_and(|expires| expires <= now) {
            return Err(ApiError::new(
                ErrorCode::ResourceUnavailableServiceExpired,
                format!("The {} service of account {} has expired.", self.label(), account.uin),
            ));
        }
        Ok(())
    }
}

fn unsupported_region(service: Service, region: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedRegion,
        format!("The {} actions are not available in region `{region}`.", service.label()),
    )
}

/// What an action knows about the call beyond its own parameters.
pub struct Call {
    pub account: Arc<Account>,
    pub now: i64,
}

impl Call {
    pub fn now_ms(&self) -> i64 {
        self.now.saturating_mul(1000)
    }

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

/// Tencent's `YYYY-MM-DD HH:MM:SS` timestamps are Beijing time (UTC+8), as the real service
/// returns them.
pub fn tencent_datetime(unix_seconds: i64) -> String {
    const BEIJING: time::UtcOffset = match time::UtcOffset::from_hms(8, 0, 0) {
        Ok(offset) => offset,
        Err(_) => panic!("UTC+8 is a valid offset"),
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map(|t| t.to_offset(BEIJING))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Some integer fields are sent as numeric strings even in JSON by the SDKs' own examples.
pub fn u64_or_numeric_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Lenient;
    impl serde::de::Visitor<'_> for Lenient {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an unsigned integer or a string of digits")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(|_| E::invalid_type(serde::de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_any(Lenient)
}

/// An executor to register with the engine, and how many of its tasks a node runs at once
/// unless `[concurrency]` says otherwise.
pub struct Registration {
    pub kind: taskgate_engine::TaskKind,
    pub default_concurrency: usize,
    /// Runs until stopped (see `KindOptions::endless`).
    pub endless: bool,
    pub executor: Arc<dyn taskgate_engine::Executor>,
}

/// Tasks of one kind running at once on a node by default.
const DEFAULT_CONCURRENCY: usize = 4;
/// Pushes are long-lived and mostly wait for the next frame: a node takes many.
const PUSH_CONCURRENCY: usize = 16;

/// The executors of every product's task kinds.
pub fn executors(
    config: &crate::config::Config,
    store: &taskgate_engine::Store,
    rooms: &tiw::rooms::Rooms,
    objects: &taskgate_engine::objects::Objects,
    outbox: &taskgate_engine::Outbox,
    push_counters: &crate::metrics::PushCounters,
) -> anyhow::Result<Vec<Registration>> {
    use anyhow::Context;
    let refresh = tcss::refresh::RefreshExecutor {
        store: store.clone(),
        clusters: config.accounts.iter().map(|a| (a.uin.clone(), a.clusters.clone())).collect(),
        collector: Arc::new(tcss::collect::DockerCollector),
    };
    let image_dir = config.data_dir.join("images");
    let staging_dir = image_dir.join(".staging");
    std::fs::create_dir_all(&staging_dir).with_context(|| format!("creating {}", staging_dir.display()))?;
    let timeout = std::time::Duration::from_secs(config.ecm.download_timeout_secs);
    let image_bucket = match &config.ecm.bucket {
        Some(b) => Some(
            objects
                .cos_destination(&taskgate_engine::objects::CosTarget {
                    bucket: b.bucket.clone(),
                    region: b.region.clone(),
                    target_dir: b.prefix.clone(),
                    domain: None,
                })
                .context("the [ecm.bucket] configuration")?,
        ),
        None => None,
    };
    if !config.ecm.allow_unconfined_qemu && !ecm::qemu::landlock_available() {
        tracing::error!(
            "this kernel has no Landlock: every ecm import will fail until [ecm] allow_unconfined_qemu = true \
             accepts running qemu-img without its sandbox"
        );
    }
    let import = ecm::import::ImportExecutor {
        store: store.clone(),
        objects: objects.clone(),
        client: taskgate_engine::url_guard::GuardedClient::new(config.url_policy(), timeout)
            .context("building the image download client")?,
        settings: ecm::import::ImportSettings {
            image_dir,
            image_bucket,
            staging_dir,
            max_image_bytes: config.ecm.max_image_bytes,
            max_virtual_size_bytes: config.ecm.max_virtual_size_bytes,
            convert_to: config.ecm.convert_to.clone(),
            inspect_limits: ecm::qemu::QemuLimits::INSPECT,
            convert_limits: ecm::qemu::QemuLimits {
                cpu_secs: config.ecm.convert_cpu_secs,
                address_space_bytes: 2 << 30,
                // The largest honest output: the capped virtual size as raw, plus qcow2/vmdk metadata.
                file_size_bytes: config
                    .ecm
                    .max_virtual_size_bytes
                    .saturating_add(config.ecm.max_virtual_size_bytes / 64),
                timeout,
            },
            qemu: ecm::qemu::QemuImg {
                confinement: if config.ecm.allow_unconfined_qemu {
                    ecm::qemu::Confinement::RlimitsOnly
                } else {
                    ecm::qemu::Confinement::Landlock
                },
            },
        },
    };
    let snapshot = tiw::snapshot::SnapshotExecutor {
        rooms: rooms.clone(),
        objects: objects.clone(),
        images: taskgate_engine::url_guard::GuardedClient::new(config.url_policy(), std::time::Duration::from_secs(30))
            .context("building the board picture client")?,
        callback_keys: config
            .accounts
            .iter()
            .flat_map(|a| &a.sdk_apps)
            .filter_map(|app| Some((app.sdk_app_id, app.callback_key.clone()?)))
            .collect(),
        limits: tiw::snapshot::SnapshotLimits {
            max_marks: config.tiw.snapshot_max_marks,
            time_budget: std::time::Duration::from_secs(config.tiw.snapshot_time_budget_secs),
            pictures: config.tiw.picture_limits(),
        },
    };
    let push = tiw::push::executor::PushExecutor {
        store: store.clone(),
        outbox: outbox.clone(),
        rooms: rooms.clone(),
        objects: objects.clone(),
        pictures: taskgate_engine::url_guard::GuardedClient::new(
            config.url_policy(),
            std::time::Duration::from_secs(30),
        )
        .context("building the board picture client")?,
        sdk_app_keys: config
            .accounts
            .iter()
            .flat_map(|a| &a.sdk_apps)
            .map(|app| (app.sdk_app_id, app.secret_key.clone()))
            .collect(),
        settings: tiw::push::executor::PushSettings {
            ffmpeg: config.tiw.ffmpeg.clone(),
            rtmp_url: config.tiw.push_rtmp_url.clone(),
            max_exceptions: config.tiw.push_max_exceptions.max(1),
            pictures: config.tiw.picture_limits(),
        },
        counters: push_counters.clone(),
    };
    let finite =
        |kind, executor| Registration { kind, default_concurrency: DEFAULT_CONCURRENCY, endless: false, executor };
    Ok(vec![
        finite(tcss::refresh::REFRESH_KIND, Arc::new(refresh)),
        finite(ecm::import::IMPORT_KIND, Arc::new(import)),
        finite(tiw::snapshot::SNAPSHOT_KIND, Arc::new(snapshot)),
        Registration {
            kind: tiw::push::PUSH_KIND,
            default_concurrency: PUSH_CONCURRENCY,
            endless: true,
            executor: Arc::new(push),
        },
    ])
}

/// A product action: its typed request is `Self`, its typed response `Response`.
pub trait Action: DeserializeOwned + Send + 'static {
    const NAME: &'static str;
    type Response: Serialize + Send;

    fn handle(self, call: &Call, app: &App) -> impl Future<Output = Result<Self::Response, ApiError>> + Send;
}

pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, ApiError>> + Send + 'a>>;

/// One line of a product's action table.
pub struct ActionEntry {
    pub service: Service,
    pub name: &'static str,
    pub run: for<'a> fn(&'a Call, &'a App, &'a Value, Encoding) -> ActionFuture<'a>,
}

pub const fn entry<A: Action>(service: Service) -> ActionEntry {
    ActionEntry { service, name: A::NAME, run: run::<A> }
}

fn run<'a, A: Action>(call: &'a Call, app: &'a App, params: &'a Value, encoding: Encoding) -> ActionFuture<'a> {
    Box::pin(async move {
        let request: A = decode(params, encoding)?;
        Answer::of(&request.handle(call, app).await?)
    })
}

pub fn all_actions() -> impl Iterator<Item = &'static ActionEntry> {
    tiw::ACTIONS.iter().chain(tcss::ACTIONS).chain(ecm::ACTIONS)
}

/// Finds the action by (version, action), which is unique across the products; a hint (the
/// signed service label or the Host) naming a product breaks a tie should one ever arise.
pub fn find_action(version: &str, action: &str, hints: &[&str]) -> Result<&'static ActionEntry, ApiError> {
    let candidates: Vec<&ActionEntry> =
        all_actions().filter(|e| e.service.version() == version && e.name == action).collect();
    let hinted = candidates.iter().find(|e| {
        hints.iter().any(|hint| {
            hint.trim_start_matches("http://").trim_start_matches("https://").split('.').next()
                == Some(e.service.label())
        })
    });
    if let Some(entry) = hinted.or(candidates.first()) {
        return Ok(entry);
    }
    if all_actions().any(|e| e.service.version() == version) {
        Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!("The action `{action}` does not exist in version {version}."),
        ))
    } else {
        Err(ApiError::new(ErrorCode::NoSuchVersion, format!("The API version `{version}` does not exist.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_action_pairs_are_unique() {
        let mut pairs: Vec<(&str, &str)> = all_actions().map(|e| (e.service.version(), e.name)).collect();
        let total = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), total);
    }

    #[test]
    fn unknown_action_of_known_version_is_invalid_action() {
        let error = find_action("2019-09-19", "DescribeNothing", &[]).err().unwrap();
        assert_eq!(error.code, ErrorCode::InvalidAction);
    }

    #[test]
    fn unknown_version_is_no_such_version() {
        let error = find_action("2001-01-01", "DescribeSnapshotTask", &[]).err().unwrap();
        assert_eq!(error.code, ErrorCode::NoSuchVersion);
    }

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
