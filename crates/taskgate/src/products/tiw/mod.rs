//! tiw (Tencent Interactive Whiteboard, 2019-09-19): whiteboard rooms and their snapshot and
//! push tasks.

mod api;
pub mod board_page;
pub mod callback;
pub mod pictures;
pub mod push;
mod push_api;
pub mod room_http;
pub mod rooms;
pub mod snapshot;

use super::{ActionEntry, Service, entry};

pub static ACTIONS: &[ActionEntry] = &[
    entry::<api::CreateSnapshotTask>(Service::Tiw),
    entry::<api::DescribeSnapshotTask>(Service::Tiw),
    entry::<push_api::StartWhiteboardPush>(Service::Tiw),
    entry::<push_api::StopWhiteboardPush>(Service::Tiw),
    entry::<push_api::DescribeWhiteboardPush>(Service::Tiw),
    entry::<push_api::SetWhiteboardPushCallback>(Service::Tiw),
    entry::<push_api::SetWhiteboardPushCallbackKey>(Service::Tiw),
    entry::<push_api::DescribeWhiteboardPushCallback>(Service::Tiw),
];
