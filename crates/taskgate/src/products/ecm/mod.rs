//! ecm (Edge Computing Machine, 2019-07-19): custom image import tasks.

mod api;
pub mod disk_format;
pub mod qemu;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[entry::<api::DescribeCustomImageTask>(Service::Ecm)];
