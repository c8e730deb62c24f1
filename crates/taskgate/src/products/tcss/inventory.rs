//! The asset inventory a refresh collects: the host taskgate runs on and each configured
//! cluster's nodes, containers and images, with their state; what a refresh writes of it
//! ([`Refreshed`]) into the account's inventory tables (`assets`), and what its task reports
//! ([`RefreshOutput`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostAsset {
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub kernel_version: String,
    pub cpu_count: u32,
    pub cpu_brand: String,
    pub memory_bytes: u64,
    pub ips: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterAsset {
    pub cluster_id: String,
    pub name: String,
    pub reachable: bool,
    /// Why the cluster could not be reached.
    pub error: Option<String>,
    pub runtime_version: Option<String>,
    pub nodes: Vec<NodeAsset>,
    pub containers: Vec<ContainerAsset>,
    pub images: Vec<ImageAsset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeAsset {
    pub name: String,
    pub os: String,
    pub kernel_version: String,
    pub architecture: String,
    pub cpu_count: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerAsset {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    pub status: String,
    pub created_at: i64,
}

/// A container's state as the engine reports it (Docker's `State`, lower case); one this
/// version does not know, or none, reads as `Unknown` (empty on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    #[serde(rename = "", other)]
    Unknown,
}

impl ContainerState {
    /// The state from the engine's lower-case name.
    pub fn parse(name: &str) -> Self {
        Self::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
            .unwrap_or(Self::Unknown)
    }

    /// Upper case, as tcss's `Status` shows it (`RUNNING`, `EXITED`, …; empty when unknown).
    pub fn tcss_status(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Paused => "PAUSED",
            Self::Restarting => "RESTARTING",
            Self::Removing => "REMOVING",
            Self::Exited => "EXITED",
            Self::Dead => "DEAD",
            Self::Unknown => "",
        }
    }

    /// Counted as stopped by DescribeAssetSummary's `ContainerStop`.
    pub fn is_stopped(self) -> bool {
        matches!(self, Self::Exited | Self::Dead | Self::Created)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageAsset {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub size_bytes: u64,
    pub created_at: i64,
    /// Containers using the image, as the engine counts them (-1 when it did not count).
    pub containers: i64,
}

/// One account's whole inventory as collected: every cluster looked into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub host: HostAsset,
    pub clusters: Vec<ClusterAsset>,
}

/// What a successful refresh writes for one configured cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterWrite {
    /// Looked into: its facts and its nodes, containers and images replace the stored ones.
    Collected(ClusterAsset),
    /// Only listed: its facts (reachability, runtime version) replace the stored ones; the
    /// nodes, containers and images last collected in it stay.
    Listed(ClusterAsset),
    /// Not refreshed (this cluster id): whatever is stored of it stays.
    Kept(String),
}

impl ClusterWrite {
    pub fn cluster_id(&self) -> &str {
        match self {
            Self::Collected(asset) | Self::Listed(asset) => &asset.cluster_id,
            Self::Kept(id) => id,
        }
    }
}

/// What a successful refresh writes into the account's inventory, replacing it within the
/// transaction that records the success: the host, then each configured cluster. A stored
/// cluster that is not among them (no longer configured) goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    pub host: HostAsset,
    pub clusters: Vec<ClusterWrite>,
}

impl From<Inventory> for Refreshed {
    fn from(inventory: Inventory) -> Self {
        Self { host: inventory.host, clusters: inventory.clusters.into_iter().map(ClusterWrite::Collected).collect() }
    }
}

/// A refresh task's output: how much it wrote (the inventory itself lives in the tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefreshOutput {
    /// Clusters collected or listed.
    pub clusters: usize,
    /// Containers and images of the collected clusters.
    pub containers: usize,
    pub images: usize,
}

impl RefreshOutput {
    pub fn of(refreshed: &Refreshed) -> Self {
        let mut output = Self::default();
        for cluster in &refreshed.clusters {
            match cluster {
                ClusterWrite::Collected(asset) => {
                    output.clusters += 1;
                    output.containers += asset.containers.len();
                    output.images += asset.images.len();
                }
                ClusterWrite::Listed(_) => output.clusters += 1,
                ClusterWrite::Kept(_) => {}
            }
        }
        output
    }
}
