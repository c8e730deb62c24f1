//! The asset inventory a refresh collects: the host taskgate runs on and each configured
//! cluster's nodes, containers and images, with their state.

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

/// One account's whole inventory, replaced atomically at the end of a successful refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub host: HostAsset,
    pub clusters: Vec<ClusterAsset>,
}
