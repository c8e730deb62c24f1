//! `Ecm`: what the ecm actions may touch.

use super::images::ImageStore;
use crate::capabilities::Lack;
use crate::config::Config;
use taskgate_engine::Engine;
use taskgate_engine::url_guard::UrlPolicy;

pub struct Ecm {
    pub engine: Engine,
    /// Checks the image URLs an import names.
    pub url_policy: UrlPolicy,
    /// Where imported images are kept (a reset removes them).
    pub images: ImageStore,
    /// Why images cannot be imported here (`qemu-img` missing or unconfinable), if they cannot.
    pub importer_lack: Option<Lack>,
    /// Most filter values one list request may name (`ecm.max_filter_values`).
    pub max_filter_values: usize,
}

impl Ecm {
    pub fn new(config: &Config, engine: Engine, images: ImageStore, importer_lack: Option<Lack>) -> Self {
        Self {
            engine,
            url_policy: config.url_policy(),
            images,
            importer_lack,
            max_filter_values: config.ecm.max_filter_values,
        }
    }
}
