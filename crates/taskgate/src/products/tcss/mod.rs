//! tcss (Tencent Container Security Service, 2020-11-01): asset-inventory refresh tasks.

mod api;
pub mod collect;
pub mod inventory;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[entry::<api::DescribeUnfinishRefreshTask>(Service::Tcss)];
