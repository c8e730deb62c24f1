//! The one module that knows all three products: it builds their contexts and executors and
//! routes a (version, action) to the product that serves it. Products never import each
//! other, the gateway or the server.

pub mod ecm;
pub mod registration;
pub mod reset;
pub mod tcss;
pub mod tiw;

use crate::action::{ActionEntry, ActionFuture, ApiError, Call, Service};
use crate::capabilities::Capabilities;
use crate::config::Config;
use ecm::Ecm;
use registration::{Registration, TaskAction};
use reset::{Removed, ResetScope};
use serde_json::Value;
use std::sync::Arc;
use taskgate_engine::objects::Objects;
use taskgate_engine::{Engine, Outbox, Store, Task, TaskKind};
use tcapi::ErrorCode;
use tcapi::params::Encoding;
use tcss::Tcss;
use tiw::Tiw;
use tiw::push::PushCounters;
use tiw::rooms::Rooms;

/// Every product's context: what its handlers may touch.
pub struct Products {
    pub tiw: Arc<Tiw>,
    pub tcss: Tcss,
    pub ecm: Ecm,
}

/// An action found for (version, action), bound to its product's context.
#[derive(Clone, Copy)]
pub enum Routed<'p> {
    Tiw(&'p Tiw, &'static ActionEntry<Tiw>),
    Tcss(&'p Tcss, &'static ActionEntry<Tcss>),
    Ecm(&'p Ecm, &'static ActionEntry<Ecm>),
}

impl Routed<'_> {
    pub fn service(&self) -> Service {
        match self {
            Routed::Tiw(..) => Service::Tiw,
            Routed::Tcss(..) => Service::Tcss,
            Routed::Ecm(..) => Service::Ecm,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Routed::Tiw(_, entry) => entry.name,
            Routed::Tcss(_, entry) => entry.name,
            Routed::Ecm(_, entry) => entry.name,
        }
    }

    /// Decodes the typed request from `params` and runs the action.
    pub fn run<'a>(&'a self, call: &'a Call, params: &'a Value, encoding: Encoding) -> ActionFuture<'a> {
        match *self {
            Routed::Tiw(product, entry) => (entry.run)(call, product, params, encoding),
            Routed::Tcss(product, entry) => (entry.run)(call, product, params, encoding),
            Routed::Ecm(product, entry) => (entry.run)(call, product, params, encoding),
        }
    }
}

const SERVICES: [Service; 3] = [Service::Tiw, Service::Tcss, Service::Ecm];

impl Products {
    /// Gives each product its context; `rooms` are the ones the tiw executors were built with.
    /// Each product learns only whether the tools of its own actions can run here.
    /// Errors: an invalid `[ecm.bucket]`.
    pub fn new(
        config: &Config,
        engine: &Engine,
        objects: &Objects,
        rooms: Rooms,
        capabilities: &Capabilities,
    ) -> anyhow::Result<Self> {
        let push_encoder = capabilities.whiteboard_push.lack();
        let images = ecm::ImageStore::from_config(config, objects)?;
        Ok(Self {
            tiw: Arc::new(Tiw::new(
                config,
                engine.clone(),
                objects.clone(),
                rooms,
                push_encoder,
                capabilities.document_transcode.lack(),
            )),
            tcss: Tcss::new(config, engine.clone()),
            ecm: Ecm::new(config, engine.clone(), images, capabilities.image_import.lack()),
        })
    }

    /// Removes what every product keeps beside the engine's tasks, for `scope`. Call once
    /// the scope's tasks stopped ([`Engine::stop_tasks`]) and before the engine deletes them
    /// ([`Engine::purge`]): product records reference tasks.
    pub async fn reset(&self, scope: ResetScope<'_>) -> anyhow::Result<Removed> {
        let mut removed = Removed::default();
        self.tiw.reset(scope, &mut removed).await?;
        self.tcss.reset(scope, &mut removed).await?;
        self.ecm.reset(scope, &mut removed).await?;
        Ok(removed)
    }

    /// The executors of every product's task kinds, to register with the engine before it
    /// starts (the contexts come after, as they hold the started engine).
    pub fn executors(
        config: &Config,
        store: &Store,
        objects: &Objects,
        outbox: &Outbox,
        rooms: &Rooms,
        push_counters: &PushCounters,
        capabilities: &Capabilities,
    ) -> anyhow::Result<Vec<Registration>> {
        let qemu_lack = capabilities.image_import.lack();
        let mut registrations = vec![tcss::executor(config), ecm::executor(config, objects, qemu_lack)?];
        let encoder_lack = capabilities.whiteboard_push.lack();
        registrations.extend(tiw::executors(config, store, objects, outbox, rooms, push_counters, encoder_lack)?);
        Ok(registrations)
    }

    /// The actions of `service` that create tasks.
    pub fn task_actions(service: Service) -> &'static [TaskAction] {
        match service {
            Service::Tiw => tiw::TASK_ACTIONS,
            Service::Tcss => tcss::TASK_ACTIONS,
            Service::Ecm => ecm::TASK_ACTIONS,
        }
    }

    /// The task kinds of `service`.
    pub fn kinds(service: Service) -> impl Iterator<Item = &'static TaskKind> {
        Self::task_actions(service).iter().map(|action| &action.kind)
    }

    /// The service a task belongs to and the ids (by wire name) its product's actions know it
    /// by; `None` for a kind no product owns.
    pub fn wire_ids(task: &Task) -> Option<(Service, serde_json::Map<String, Value>)> {
        let service = SERVICES.into_iter().find(|s| Self::kinds(*s).any(|kind| *kind == task.kind))?;
        let ids = match service {
            Service::Tiw => tiw::wire_ids(task),
            Service::Tcss => tcss::wire_ids(task),
            Service::Ecm => ecm::wire_ids(task),
        };
        Some((service, ids))
    }

    /// Every action's name, of every product.
    pub fn action_names() -> impl Iterator<Item = &'static str> {
        let tiw = tiw::ACTIONS.iter().map(|e| e.name);
        tiw.chain(tcss::ACTIONS.iter().map(|e| e.name)).chain(ecm::ACTIONS.iter().map(|e| e.name))
    }

    fn lookup(&self, service: Service, action: &str) -> Option<Routed<'_>> {
        match service {
            Service::Tiw => tiw::ACTIONS.iter().find(|e| e.name == action).map(|e| Routed::Tiw(&self.tiw, e)),
            Service::Tcss => tcss::ACTIONS.iter().find(|e| e.name == action).map(|e| Routed::Tcss(&self.tcss, e)),
            Service::Ecm => ecm::ACTIONS.iter().find(|e| e.name == action).map(|e| Routed::Ecm(&self.ecm, e)),
        }
    }

    /// The action named by (version, action), bound to its product's context.
    pub fn route(&self, version: &str, action: &str, hints: &[&str]) -> Result<Routed<'_>, ApiError> {
        let service = service_of(version, action, hints)?;
        Ok(self.lookup(service, action).expect("service_of found the action in this service's table"))
    }
}

fn serves(service: Service, action: &str) -> bool {
    match service {
        Service::Tiw => tiw::ACTIONS.iter().any(|e| e.name == action),
        Service::Tcss => tcss::ACTIONS.iter().any(|e| e.name == action),
        Service::Ecm => ecm::ACTIONS.iter().any(|e| e.name == action),
    }
}

/// The service serving (version, action), which is unique across the products; a hint (the
/// signed service label or the Host) naming a product breaks a tie should one ever arise.
fn service_of(version: &str, action: &str, hints: &[&str]) -> Result<Service, ApiError> {
    let mut candidates = SERVICES.into_iter().filter(|s| s.version() == version && serves(*s, action)).peekable();
    let first = candidates.peek().copied();
    let names = |service: &Service| {
        hints.iter().any(|hint| {
            let host = hint.trim_start_matches("http://").trim_start_matches("https://");
            host.split('.').next() == Some(service.label())
        })
    };
    if let Some(service) = candidates.find(names).or(first) {
        return Ok(service);
    }
    if SERVICES.iter().any(|s| s.version() == version) {
        Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!("The action `{action}` does not exist in version {version}."),
        ))
    } else {
        Err(ApiError::new(ErrorCode::NoSuchVersion, format!("The API version `{version}` does not exist.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_action_pairs_are_unique() {
        let mut pairs: Vec<(&str, &str)> = SERVICES
            .into_iter()
            .flat_map(|s| Products::action_names().filter(move |a| serves(s, a)).map(move |a| (s.version(), a)))
            .collect();
        let total = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), total);
        assert_eq!(total, Products::action_names().count());
    }

    #[test]
    fn an_action_routes_to_the_service_of_its_version() {
        assert_eq!(service_of("2019-09-19", "DescribeSnapshotTask", &[]).unwrap(), Service::Tiw);
        assert_eq!(service_of("2020-11-01", "CreateRefreshTask", &[]).unwrap(), Service::Tcss);
        assert_eq!(service_of("2019-07-19", "DescribeImage", &[]).unwrap(), Service::Ecm);
    }

    #[test]
    fn unknown_action_of_known_version_is_invalid_action() {
        let error = service_of("2019-09-19", "DescribeNothing", &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidAction);
    }

    #[test]
    fn an_action_of_another_version_is_invalid_action() {
        let error = service_of("2019-09-19", "DescribeImage", &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidAction);
    }

    #[test]
    fn unknown_version_is_no_such_version() {
        let error = service_of("2001-01-01", "DescribeSnapshotTask", &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::NoSuchVersion);
    }
}
