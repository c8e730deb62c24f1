//! Product contexts over real parts, for calling action handlers directly: a SQLite store in a
//! scratch directory, an engine on a manual clock with no executors (submitted tasks stay
//! queued), the public bucket in the scratch directory.

use super::Scratch;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use taskgate::action::{Account, ActionEntry, ApiError, Call, Service};
use taskgate::config::Config;
use taskgate::products::ecm::{Ecm, ImageStore};
use taskgate::products::tcss::Tcss;
use taskgate::products::tiw::Tiw;
use taskgate::products::tiw::rooms::{RoomLimits, Rooms};
use taskgate_engine::objects::{Objects, ObjectsConfig};
use taskgate_engine::{Engine, EngineConfig, ManualClock, Store, StoreOptions};
use tcapi::params::Encoding;

/// The engine clock's start: 2023-11-14T22:13:20Z.
pub(crate) const START_MS: i64 = 1_700_000_000_000;

pub(crate) struct Parts {
    pub scratch: Scratch,
    pub config: Config,
    pub store: Store,
    pub engine: Engine,
    pub objects: Objects,
    pub clock: Arc<ManualClock>,
}

impl Parts {
    pub(crate) async fn new(name: &str) -> Self {
        let scratch = Scratch::new(name);
        // Image URLs of the tests point at loopback.
        let config = Config { data_dir: scratch.0.clone(), allow_private_callback_targets: true, ..Config::default() };
        let url = format!("sqlite://{}", scratch.0.join("taskgate.db").display());
        let store = Store::open(&url, &StoreOptions::default(), &[&taskgate::migrations::PRODUCTS]).await.unwrap();
        let clock = Arc::new(ManualClock::new(START_MS));
        let engine = Engine::builder(store.clone(), EngineConfig::default()).clock(clock.clone()).build();
        let objects =
            Objects::new(store.clone(), ObjectsConfig::new(scratch.0.join("files"), "http://127.0.0.1:8080")).unwrap();
        Self { scratch, config, store, engine, objects, clock }
    }

    pub(crate) fn ecm(&self) -> Ecm {
        let images = ImageStore::from_config(&self.config, &self.objects).unwrap();
        Ecm::new(&self.config, self.engine.clone(), images, None)
    }

    pub(crate) fn tcss(&self) -> Tcss {
        Tcss::new(&self.config, self.engine.clone())
    }

    pub(crate) fn tiw(&self) -> Tiw {
        let rooms = Rooms::new(self.store.clone(), RoomLimits::from_config(&self.config.tiw));
        Tiw::new(&self.config, self.engine.clone(), self.objects.clone(), rooms, None, None)
    }
}

/// An account enabled for every service, owning `sdk_apps` (UserSig key "key") and the buckets
/// named `…-{app_id}`.
pub(crate) fn account(uin: &str, sdk_apps: &[u64], app_id: Option<u64>) -> Arc<Account> {
    Arc::new(Account {
        uin: uin.to_owned(),
        services: vec![Service::Tiw, Service::Tcss, Service::Ecm],
        service_expires_at: None,
        sdk_apps: sdk_apps.iter().map(|id| (*id, "key".to_owned())).collect::<HashMap<_, _>>(),
        app_id,
        buckets: HashSet::new(),
    })
}

/// Runs `action` of `table` on `product` as `account` with JSON `params`: its answer as JSON,
/// or its error.
pub(crate) async fn run<P>(
    table: &'static [ActionEntry<P>],
    product: &P,
    account: &Arc<Account>,
    action: &str,
    params: Value,
) -> Result<Value, ApiError> {
    let entry = table.iter().find(|e| e.name == action).unwrap_or_else(|| panic!("no action {action}"));
    let call = Call { account: account.clone() };
    let answer = (entry.run)(&call, product, &params, Encoding::Json).await?;
    Ok(serde_json::from_str(answer.as_str()).unwrap())
}
