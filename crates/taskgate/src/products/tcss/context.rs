//! `Tcss`: what the tcss actions may touch.

use crate::config::{ClusterConfig, Config};
use std::collections::HashMap;
use taskgate_engine::Engine;

pub struct Tcss {
    pub engine: Engine,
    pub clusters: Clusters,
}

impl Tcss {
    pub fn new(config: &Config, engine: Engine) -> Self {
        Self { engine, clusters: Clusters::from_config(config) }
    }
}

/// Each account's configured clusters, by UIN: what CreateRefreshTask checks `ClusterIDs`
/// against and what a refresh inventories.
#[derive(Debug, Clone, Default)]
pub struct Clusters(HashMap<String, Vec<ClusterConfig>>);

impl Clusters {
    pub fn from_config(config: &Config) -> Self {
        Self(config.accounts.iter().map(|a| (a.uin.clone(), a.clusters.clone())).collect())
    }

    /// The clusters configured for `uin`, none when it has no entry.
    pub fn of(&self, uin: &str) -> &[ClusterConfig] {
        self.0.get(uin).map_or(&[], Vec::as_slice)
    }
}
