//! `Ecm`: what the ecm actions may touch.

use crate::capabilities::Lack;
use crate::config::Config;
use taskgate_engine::Engine;
use taskgate_engine::url_guard::UrlPolicy;

pub struct Ecm {
    pub engine: Engine,
    /// Checks the image URLs an import names.
    pub url_policy: UrlPolicy,
    /// Why images cannot be imported here (`qemu-img` missing or unconfinable), if they cannot.
    pub importer_lack: Option<Lack>,
}

impl Ecm {
    pub fn new(config: &Config, engine: Engine, importer_lack: Option<Lack>) -> Self {
        Self { engine, url_policy: config.url_policy(), importer_lack }
    }
}
