//! `Tiw`: what the tiw actions and the room routes may touch.

use super::rooms::Rooms;
use crate::capabilities::Lack;
use crate::config::{Config, TiwConfig};
use std::collections::HashMap;
use taskgate_engine::Engine;
use taskgate_engine::objects::Objects;
use taskgate_engine::url_guard::UrlPolicy;

pub struct Tiw {
    pub engine: Engine,
    pub rooms: Rooms,
    /// Where snapshots go: the public bucket or a tenant's COS bucket.
    pub objects: Objects,
    /// Checks the callback URLs actions name.
    pub url_policy: UrlPolicy,
    /// The UserSig key of each configured SdkAppId, whichever account owns it.
    pub sdk_app_keys: HashMap<u64, String>,
    /// The `[tiw]` limits.
    pub config: TiwConfig,
    /// Why pushes cannot be encoded here (`ffmpeg` or its libx264 missing), if they cannot.
    pub push_encoder_lack: Option<Lack>,
    /// Why documents cannot be transcoded here (LibreOffice or poppler missing or not
    /// confinable), if they cannot.
    pub transcode_lack: Option<Lack>,
}

impl Tiw {
    pub fn new(
        config: &Config,
        engine: Engine,
        objects: Objects,
        rooms: Rooms,
        push_encoder_lack: Option<Lack>,
        transcode_lack: Option<Lack>,
    ) -> Self {
        Self {
            engine,
            rooms,
            objects,
            url_policy: config.url_policy(),
            sdk_app_keys: sdk_app_keys(config),
            config: config.tiw.clone(),
            push_encoder_lack,
            transcode_lack,
        }
    }

    /// The engine's clock in Unix seconds: UserSig expiry and room operation times.
    pub fn now_unix(&self) -> i64 {
        self.engine.clock().now_ms().div_euclid(1000)
    }
}

pub(super) fn sdk_app_keys(config: &Config) -> HashMap<u64, String> {
    config.accounts.iter().flat_map(|a| &a.sdk_apps).map(|app| (app.sdk_app_id, app.secret_key.clone())).collect()
}
