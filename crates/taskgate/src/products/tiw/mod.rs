//! tiw (Tencent Interactive Whiteboard, 2019-09-19): whiteboard rooms and their snapshot and
//! push tasks.

mod api;
pub mod board_page;
pub mod callback;
pub mod room_http;
pub mod rooms;
pub mod snapshot;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[
    entry::<api::CreateSnapshotTask>(Service::Tiw),
    entry::<api::DescribeSnapshotTask>(Service::Tiw),
    entry::<api::DescribeWhiteboardPush>(Service::Tiw),
];
