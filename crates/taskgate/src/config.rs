//! Server configuration: a TOML file and `TASKGATE_<KEY>` environment variables, merged by figment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

use crate::action::Service;

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
    /// Seconds each external tool (`[tiw] ffmpeg`, `[ecm] qemu_img`) may take to answer the
    /// probe at start that decides whether its actions can run here.
    pub tool_check_timeout_secs: u64,
    pub rate_limit: RateLimitConfig,
    /// Tasks of one kind run at once on this node, by product and kind: `ecm.import = 2`.
    pub concurrency: BTreeMap<String, BTreeMap<String, usize>>,
    /// Most tasks of one kind a single account may have running at once, on all nodes
    /// together, by product and kind: `ecm.import = 2`. Unset (the default) for a kind: no cap
    /// beyond `concurrency`; claims serve accounts in turn, the one with fewest running first.
    pub max_running_per_account: BTreeMap<String, BTreeMap<String, u32>>,
    pub ecm: EcmConfig,
    pub tiw: TiwConfig,
    pub engine: EngineTuning,
    pub callbacks: CallbacksConfig,
    pub objects: ObjectsConfig,
    pub control: ControlConfig,
    pub accounts: Vec<AccountConfig>,
    /// Accepts any SecretId as its own account, checking the signature's form, not its value
    /// (`taskgate dev --any-credentials`); never read from a file or a variable.
    #[serde(skip)]
    pub any_credentials: bool,
}

/// The `[control]` table: the `/_taskgate` control API of test harnesses (reset, inboxes,
/// callbacks, tasks). Off unless a token is configured or `taskgate dev` opens it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Opens the control API to requests carrying `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Opens it to loopback clients without a token (`taskgate dev`); never read from a file
    /// or a variable.
    #[serde(skip)]
    pub open_on_loopback: bool,
    /// Most faults (`/_taskgate/faults`) set at once; another answers HTTP 400. Default 1,000.
    pub max_faults: usize,
    /// Longest `error_message` of a fault, in bytes. Default 4,096.
    pub max_fault_message_bytes: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self { token: None, open_on_loopback: false, max_faults: 1_000, max_fault_message_bytes: 4_096 }
    }
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

/// The `[engine]` table: how quickly a dead node's tasks are taken over.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineTuning {
    /// A task's lease lasts this long past its last heartbeat (heartbeats come every quarter).
    pub lease_secs: u64,
    /// How often expired leases are looked for.
    pub reap_interval_secs: u64,
    /// PostgreSQL: signals from other nodes (a task made due, a room append) one reader on this
    /// node may fall behind before it reads the store instead (no signal is lost, it costs a read).
    pub signal_buffer: usize,
}

impl Default for EngineTuning {
    fn default() -> Self {
        Self { lease_secs: 30, reap_interval_secs: 5, signal_buffer: 1024 }
    }
}

/// The `[callbacks]` table: how many callback deliveries a node keeps in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksConfig {
    /// Deliveries in flight at once on this node, to any receivers.
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one destination (scheme, host, port).
    pub max_in_flight_per_destination: usize,
    /// Deliveries in flight at once of one account's callbacks, whatever their destinations.
    pub max_in_flight_per_account: usize,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        let outbox = taskgate_engine::OutboxConfig::default();
        Self {
            max_in_flight: outbox.concurrency,
            max_in_flight_per_destination: outbox.per_destination,
            max_in_flight_per_account: outbox.per_account,
        }
    }
}

/// The `[tiw]` table: whiteboard rooms, snapshots and pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiwConfig {
    /// Smallest AutoStopTimeout accepted, in seconds (Tencent's is 300).
    pub push_min_auto_stop_timeout: u64,
    /// Pushes one SdkAppId may run at once; StartWhiteboardPush beyond is
    /// `LimitExceeded.TaskConcurrency`.
    pub push_max_concurrent: u64,
    /// Encoder or output failures in a row after which a push stops with `EXCEPTION`.
    pub push_max_exceptions: u32,
    /// Also publish every push to this RTMP URL; `{stream_id}` is replaced by the push's
    /// stream id (UserDefinedStreamId or `SdkAppId_RoomId_PushUserId_main`).
    pub push_rtmp_url: Option<String>,
    /// The ffmpeg program that encodes pushes.
    pub ffmpeg: PathBuf,
    /// Operations one room's log may hold; appends beyond answer HTTP 429.
    pub room_max_ops: u64,
    /// Bytes of stored operation JSON one room's log may hold; appends beyond answer HTTP 429.
    pub room_max_bytes: u64,
    /// Largest `POST …/ops` body and WebSocket message, in bytes (HTTP 413; a larger
    /// WebSocket message closes the socket).
    pub room_max_request_bytes: usize,
    /// Most operations in one request or WebSocket message (HTTP 413).
    pub room_max_ops_per_request: usize,
    /// Operations of one log page (`GET …/ops`, WebSocket `log` frames) without a `limit`.
    pub room_log_page_ops: usize,
    /// Most operations of one log page; a larger `limit` is lowered to it.
    pub room_log_page_max_ops: usize,
    /// Stored operation JSON bytes after which a log page ends early.
    pub room_log_page_bytes: usize,
    /// A room's board is checkpointed every this many operations (in the background, after
    /// the append that crosses the boundary), so snapshots and pushes replay at most about
    /// this many operations after the newest checkpoint; 0 turns checkpoints off.
    pub checkpoint_every_ops: u64,
    /// Checkpoints kept per room: the newest this many, plus the newest one taken before the
    /// room's first mark (where a snapshot task resumes).
    pub checkpoint_keep: u64,
    /// Most marks one snapshot task renders; CreateSnapshotTask beyond is `InvalidParameter`.
    pub snapshot_max_marks: u64,
    /// Seconds a snapshot task may work (replay, pictures, rendering) before it ends failed.
    pub snapshot_time_budget_secs: u64,
    /// Most pixels (width × height) of one decoded board picture; larger ones draw as a
    /// placeholder, refused from the PNG header before any decoding.
    pub picture_max_pixels: u64,
    /// Most distinct pictures one snapshot task, or one push over its life, fetches.
    pub picture_max_count: usize,
    /// Most decoded bytes (4 per pixel) of all pictures one snapshot task, or one push over
    /// its life, holds.
    pub picture_max_total_bytes: u64,
    /// The LibreOffice program that turns office documents into PDF (`soffice`; the
    /// `soffice.bin` beside the launcher script is run directly).
    pub libreoffice: PathBuf,
    /// poppler's `pdftoppm`, which renders PDF pages; `pdfinfo` is looked up beside it.
    pub pdftoppm: PathBuf,
    /// Run LibreOffice and poppler without their Landlock sandbox (rlimits and timeouts only).
    /// Off by default: on a kernel without Landlock, CreateTranscode is unavailable instead.
    pub allow_unconfined_transcode: bool,
    /// Transcode tasks one node runs at once (each runs one LibreOffice, then renders pages on
    /// every core).
    pub transcode_concurrency: usize,
    /// Seconds one tool run of a transcode (a conversion, a page range) may take before it is
    /// killed and the task fails with `FailedOperation.Transcode`.
    pub transcode_timeout_secs: u64,
    /// Bytes of address space one tool run may map (`RLIMIT_AS`).
    pub transcode_memory_bytes: u64,
}

impl Default for TiwConfig {
    fn default() -> Self {
        Self {
            push_min_auto_stop_timeout: 300,
            push_max_concurrent: 8,
            push_max_exceptions: 5,
            push_rtmp_url: None,
            ffmpeg: PathBuf::from("ffmpeg"),
            room_max_ops: 100_000,
            room_max_bytes: 64 << 20,
            room_max_request_bytes: 1 << 20,
            room_max_ops_per_request: 1_000,
            room_log_page_ops: 1_000,
            room_log_page_max_ops: 5_000,
            room_log_page_bytes: 4 << 20,
            checkpoint_every_ops: 5_000,
            checkpoint_keep: 3,
            snapshot_max_marks: 1_000,
            snapshot_time_budget_secs: 600,
            picture_max_pixels: 4096 * 4096,
            picture_max_count: 32,
            picture_max_total_bytes: 256 << 20,
            libreoffice: PathBuf::from("soffice"),
            pdftoppm: PathBuf::from("pdftoppm"),
            allow_unconfined_transcode: false,
            transcode_concurrency: 2,
            transcode_timeout_secs: 300,
            transcode_memory_bytes: 4 << 30,
        }
    }
}

/// The `[ecm]` table: image import.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcmConfig {
    /// Largest image accepted, in bytes.
    pub max_image_bytes: u64,
    /// Convert every imported image to this `qemu-img` format (e.g. `qcow2`); unset keeps the format.
    pub convert_to: Option<String>,
    /// Longest a whole download may take, in seconds.
    pub download_timeout_secs: u64,
    /// CPU seconds `qemu-img convert` may use.
    pub convert_cpu_secs: u64,
    /// Largest virtual disk size of an imported image, in bytes (default 500 GiB, the largest
    /// system disk Tencent imports); checked from the header before qemu runs and again from
    /// `qemu-img info`.
    pub max_virtual_size_bytes: u64,
    /// Run `qemu-img` without its Landlock sandbox (rlimits only). Off by default: on a
    /// kernel without Landlock every import fails until an operator sets this, accepting that
    /// only the header checks keep qemu from opening host files.
    pub allow_unconfined_qemu: bool,
    /// The qemu-img program that inspects and converts images: a path, or a name looked up
    /// on `PATH`.
    pub qemu_img: PathBuf,
    /// Keep imported images in this S3/COS bucket instead of `data_dir/images`.
    pub bucket: Option<EcmBucketConfig>,
    /// Most filter values (all `Filters.N.Values` together) one DescribeImage or
    /// DescribeCustomImageTask may name; each is a bound value of the list's SQL, so this keeps
    /// a request within both backends' parameter limits. More is `InvalidParameterValue`.
    pub max_filter_values: usize,
}

/// `[ecm.bucket]`: a bucket on one of the `[[objects.s3]]` endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcmBucketConfig {
    pub region: String,
    pub bucket: String,
    /// Key prefix of the images, e.g. `ecm/images`.
    #[serde(default)]
    pub prefix: Option<String>,
}

impl Default for EcmConfig {
    fn default() -> Self {
        Self {
            max_image_bytes: 64 << 30,
            convert_to: None,
            download_timeout_secs: 3600,
            convert_cpu_secs: 1800,
            max_virtual_size_bytes: 500 << 30,
            allow_unconfined_qemu: false,
            qemu_img: PathBuf::from("qemu-img"),
            bucket: None,
            max_filter_values: 100,
        }
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
    /// The account's Tencent APPID: COS buckets named `<name>-<app_id>` (Tencent's bucket naming)
    /// on any `[[objects.s3]]` endpoint are its own.
    #[serde(default)]
    pub app_id: Option<u64>,
    /// Further buckets of the account, by region and full name (S3 buckets without the APPID
    /// suffix). A `COS` parameter naming any other bucket is refused.
    #[serde(default)]
    pub buckets: Vec<BucketConfig>,
}

/// `[[accounts.buckets]]`: a bucket an account may name in a `COS` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub region: String,
    pub bucket: String,
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
    /// Signs the application's event callbacks (`Sign`); unset sends them unsigned.
    #[serde(default)]
    pub callback_key: Option<String>,
}

/// The `[objects]` table: the public bucket and the S3/COS endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// How long objects of the public bucket (snapshots, push streams) are kept, in hours;
    /// default 72 (Tencent keeps them 3 days).
    pub retention_hours: u64,
    /// S3-compatible endpoints, one per region a `COS` parameter or `[objects.public]` may name.
    pub s3: Vec<S3EndpointConfig>,
    /// The public bucket in S3, shared by every node; unset, it is the node-local folder
    /// `data_dir/files`, served by this node at `{public_url}/files`.
    pub public: Option<PublicBucketConfig>,
    /// Allows the node-local public bucket with a PostgreSQL database. Off by default: a
    /// PostgreSQL database is how several nodes form one service, and objects in one node's
    /// folder are reachable only through that node and lost with it (a push resumed elsewhere
    /// could not continue its stream), so such a start is refused. Set it only for a
    /// deployment of exactly one node; `taskgate dev` sets it, being one process.
    pub single_node: bool,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self { retention_hours: 72, s3: Vec::new(), public: None, single_node: false }
    }
}

/// `[objects.public]`: the public bucket in a bucket of one of the `[[objects.s3]]` endpoints.
/// Every object is written, read and swept there by whichever node handles it, and handed out
/// as `{base_url}/{key}`, the key including `prefix`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicBucketConfig {
    /// Names the `[[objects.s3]]` endpoint, e.g. `ap-guangzhou`.
    pub region: String,
    /// e.g. `public-1250000000`; no account may own it (a tenant naming it in a `COS`
    /// parameter could overwrite other tenants' results), which the start checks.
    pub bucket: String,
    /// Key prefix of every public object, e.g. `taskgate`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// How clients reach the bucket's objects: the S3 endpoint's bucket URL
    /// (`https://public-1250000000.cos.ap-guangzhou.myqcloud.com`), a CDN in front of it, or
    /// any node's `{public_url}/files` (every node serves the public bucket there).
    pub base_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3EndpointConfig {
    pub region: String,
    /// e.g. `https://cos.ap-guangzhou.myqcloud.com`.
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key`.
    #[serde(default)]
    pub path_style: bool,
    /// Allows a plain-HTTP endpoint (a local test server).
    #[serde(default)]
    pub allow_http: bool,
}

fn all_services() -> Vec<Service> {
    vec![Service::Tiw, Service::Tcss, Service::Ecm]
}

/// Mainland and international regions of Tencent Cloud, so that tccli's default
/// `ap-guangzhou` and any ordinary SDK region work without configuration.
const DEFAULT_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-hongkong",
    "ap-singapore",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-mumbai",
    "ap-bangkok",
    "na-siliconvalley",
    "na-ashburn",
    "eu-frankfurt",
    "sa-saopaulo",
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
            tool_check_timeout_secs: 10,
            rate_limit: RateLimitConfig::default(),
            concurrency: BTreeMap::new(),
            max_running_per_account: BTreeMap::new(),
            ecm: EcmConfig::default(),
            tiw: TiwConfig::default(),
            engine: EngineTuning::default(),
            callbacks: CallbacksConfig::default(),
            objects: ObjectsConfig::default(),
            control: ControlConfig::default(),
            accounts: Vec::new(),
            any_credentials: false,
        }
    }
}

const ENV_PREFIX: &str = "TASKGATE_";
/// Separates the parts of a nested key in a variable's name: `TASKGATE_TIW__FFMPEG`.
const ENV_SPLIT: &str = "__";

/// Whether the dotted `key` (an environment variable's name, prefix removed) is a configuration
/// key, judged against the serialized defaults: a table's known field, anything beneath a
/// table that is empty by default (a map such as `concurrency`, `rate_limit.actions`), an unset
/// option (`ecm.bucket`) or a list. A wrong value under a known key still fails the extraction.
fn names_a_key(defaults: &serde_json::Value, key: &str) -> bool {
    let mut node = defaults;
    for part in key.split('.') {
        match node {
            serde_json::Value::Object(fields) if fields.is_empty() => return true,
            serde_json::Value::Object(fields) => match fields.get(&part.to_ascii_lowercase()) {
                Some(field) => node = field,
                None => return false,
            },
            serde_json::Value::Null | serde_json::Value::Array(_) => return true,
            _ => return false,
        }
    }
    true
}

impl Config {
    /// Defaults, then the TOML file if given, then `TASKGATE_*` variables (`TASKGATE_LISTEN`,
    /// `TASKGATE_RATE_LIMIT__PER_SECOND` for nested keys). A key the file does not know is an
    /// error; a `TASKGATE_*` variable that names no key (`TASKGATE_BIN`, `TASKGATE_ENDPOINT`,
    /// which scripts export for their own use) is logged as a warning and left out.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let defaults = serde_json::to_value(Config::default()).expect("the defaults serialize");
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed(ENV_PREFIX).split(ENV_SPLIT);
        for (key, _) in env.iter().filter(|(key, _)| !names_a_key(&defaults, key.as_str())) {
            tracing::warn!(
                "ignoring the environment variable {ENV_PREFIX}{}: it names no configuration key",
                key.as_str().replace('.', ENV_SPLIT).to_ascii_uppercase()
            );
        }
        let env = env.filter(move |key| names_a_key(&defaults, key.as_str()));
        figment.merge(env).extract().map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("taskgate.db").display()))
    }

    /// The configured public URL, or one derived from the bound address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}")).trim_end_matches('/').to_owned()
    }

    /// What user-supplied URLs (callbacks, image URLs) may reach.
    pub fn url_policy(&self) -> taskgate_engine::url_guard::UrlPolicy {
        taskgate_engine::url_guard::UrlPolicy {
            allow_private_targets: self.allow_private_callback_targets,
            ..Default::default()
        }
    }

    /// The configured concurrency of a task kind named `product.kind`.
    pub fn concurrency_of(&self, kind: &str) -> Option<usize> {
        let (product, name) = kind.split_once('.')?;
        self.concurrency.get(product)?.get(name).copied()
    }

    /// The configured cap on one account's running tasks of a kind named `product.kind`.
    pub fn max_running_per_account_of(&self, kind: &str) -> Option<u32> {
        let (product, name) = kind.split_once('.')?;
        self.max_running_per_account.get(product)?.get(name).copied()
    }

    pub fn rate_per_second(&self, action: &str) -> u32 {
        self.rate_limit.actions.get(action).copied().unwrap_or(self.rate_limit.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> serde_json::Value {
        serde_json::to_value(Config::default()).unwrap()
    }

    #[test]
    fn top_level_and_nested_keys_are_configuration_keys() {
        for key in ["listen", "DATA_DIR", "tiw.ffmpeg", "ecm.qemu_img", "rate_limit.per_second", "database_url"] {
            assert!(names_a_key(&defaults(), key), "{key}");
        }
    }

    #[test]
    fn keys_beneath_maps_and_unset_tables_are_configuration_keys() {
        for key in [
            "concurrency.ecm.import",
            "max_running_per_account.ecm.import",
            "rate_limit.actions.DescribeImage",
            "ecm.bucket.region",
            "objects.public.base_url",
        ] {
            assert!(names_a_key(&defaults(), key), "{key}");
        }
    }

    #[test]
    fn variables_of_other_tools_are_not_configuration_keys() {
        for key in ["bin", "endpoint", "test_backend", "tiw.no_such_key", "listen.port"] {
            assert!(!names_a_key(&defaults(), key), "{key}");
        }
    }
}
