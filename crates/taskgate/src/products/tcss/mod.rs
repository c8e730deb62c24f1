//! tcss (Tencent Container Security Service, 2020-11-01): asset-inventory refresh tasks.

mod api;
pub mod collect;
pub mod inventory;
pub mod refresh;
mod store;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[
    entry::<api::CreateRefreshTask>(Service::Tcss),
    entry::<api::DescribeUnfinishRefreshTask>(Service::Tcss),
    entry::<api::DescribeRefreshTask>(Service::Tcss),
    entry::<api::DescribeAssetSummary>(Service::Tcss),
    entry::<api::DescribeAssetHostList>(Service::Tcss),
    entry::<api::DescribeAssetContainerList>(Service::Tcss),
    entry::<api::DescribeAssetImageList>(Service::Tcss),
];
