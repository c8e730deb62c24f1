//! `Tcss`: what the tcss actions may touch.

use crate::config::{ClusterConfig, Config};
use std::collections::HashMap;
use taskgate_engine::Engine;

pub struct Tcss {
    pub engine: Engine,
    /// Each account's configured clusters, by UIN.
    pub clusters: HashMap<String, Vec<ClusterConfig>>,
}

impl Tcss {
    pub fn new(config: &Config, engine: Engine) -> Self {
        Self { engine, clusters: clusters_by_account(config) }
    }

    /// The clusters configured for `uin`, none when it has no entry.
    pub fn clusters_of(&self, uin: &str) -> &[ClusterConfig] {
        self.clusters.get(uin).map_or(&[], Vec::as_slice)
    }
}

pub(super) fn clusters_by_account(config: &Config) -> HashMap<String, Vec<ClusterConfig>> {
    config.accounts.iter().map(|a| (a.uin.clone(), a.clusters.clone())).collect()
}
