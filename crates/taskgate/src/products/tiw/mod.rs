//! tiw (Tencent Interactive Whiteboard, 2019-09-19): snapshot and push tasks of whiteboard rooms.

mod api;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[
    entry::<api::DescribeSnapshotTask>(Service::Tiw),
    entry::<api::DescribeWhiteboardPush>(Service::Tiw),
];
