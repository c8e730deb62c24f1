//! ecm (Edge Computing Machine, 2019-07-19): custom image import tasks.

mod api;
pub mod disk_format;
pub mod download;
pub mod import;
mod os_catalog;
pub mod qemu;
mod store;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[
    entry::<api::ImportCustomImage>(Service::Ecm),
    entry::<api::DescribeCustomImageTask>(Service::Ecm),
    entry::<api::DescribeImage>(Service::Ecm),
    entry::<api::DescribeImportImageOs>(Service::Ecm),
];
