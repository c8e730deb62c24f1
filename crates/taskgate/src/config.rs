//! Server configuration: a TOML file and `TASKGATE_<KEY>` environment variables, merged by figment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

use crate::products::Service;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` (default, under `data_dir`) or `postgres://…`.
    pub database_url: Option<String>,
    /// Base of every URL the server hands out (file URLs, board pages).
    pub public_url: Option<String>,
    /// Lets callbacks and image URLs reach loopback and private networks (tests, trusted labs).
    pub allow_private_callback_targets: bool,
    /// Regions served for tcss and ecm; tiw serves only `ap-singapore`, as the real service.
    pub regions: Vec<String>,
    /// Fixes the server clock at this Unix time, to replay captured requests.
    pub frozen_time: Option<i64>,
    pub rate_limit: RateLimitConfig,
    pub accounts: Vec<AccountConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per second per (account, action); the documented limit of every action is 20.
    pub per_second: u32,
    /// Overrides of `per_second` by action name.
    pub actions: BTreeMap<String, u32>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { per_second: 20, actions: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub uin: String,
    #[serde(default = "all_services")]
    pub services: Vec<Service>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub service_expires_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    #[serde(default)]
    pub sdk_apps: Vec<SdkAppConfig>,
    /// Container environments whose assets tcss refreshes for this account.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The id `CreateRefreshTask.ClusterIDs` names.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A Docker Engine API socket (Docker or Podman), e.g. `/var/run/docker.sock`.
    pub docker_socket: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub secret_id: String,
    pub secret_key: String,
    /// Accepted `X-TC-Token` values (temporary credentials); a request without a token is fine.
    #[serde(default)]
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkAppConfig {
    pub sdk_app_id: u64,
    /// Signs and verifies the UserSig of room clients.
    pub secret_key: String,
}

fn all_services() -> Vec<Service> {
    vec![Service::Tiw, Service::Tcss, Service::Ecm]
}

/// Mainland and international regions of Tencent Cloud, so that tccli's default
/// `ap-guangzhou` and any ordinary SDK region work without configuration.
const DEFAULT_REGIONS: &[&str] = &[
    "ap-guangzhou", "ap-shanghai", "ap-nanjing", "ap-beijing", "ap-chengdu", "ap-chongqing",
    "ap-hongkong", "ap-singapore", "ap-jakarta", "ap-seoul", "ap-tokyo", "ap-mumbai", "ap-bangkok",
    "na-siliconvalley", "na-ashburn", "eu-frankfurt", "sa-saopaulo",
];

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid literal"),
            data_dir: PathBuf::from("./taskgate-data"),
            database_url: None,
            public_url: None,
            allow_private_callback_targets: false,
            regions: DEFAULT_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
            frozen_time: None,
            rate_limit: RateLimitConfig::default(),
            accounts: Vec::new(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file if given, then `TASKGATE_*` variables (`TASKGATE_LISTEN`,
    /// `TASKGATE_RATE_LIMIT__PER_SECOND` for nested keys).
    pub fn load(file: Option<&Path>) -> Result<Self, figment::Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(Env::prefixed("TASKGATE_").split("__")).extract()
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("taskgate.db").display()))
    }

    /// The configured public URL, or one derived from the bound address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn rate_per_second(&self, action: &str) -> u32 {
        self.rate_limit.actions.get(action).copied().unwrap_or(self.rate_limit.per_second)
    }
}
