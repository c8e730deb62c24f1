//! `Ecm`: what the ecm actions may touch.

use super::images::ImageStore;
use crate::config::Config;
use taskgate_engine::Engine;
use taskgate_engine::url_guard::UrlPolicy;

pub struct Ecm {
    pub engine: Engine,
    /// Checks the image URLs an import names.
    pub url_policy: UrlPolicy,
    /// Where imported images are kept (a reset removes them).
    pub images: ImageStore,
}

impl Ecm {
    pub fn new(config: &Config, engine: Engine, images: ImageStore) -> Self {
        Self { engine, url_policy: config.url_policy(), images }
    }
}
