//! tiw (Tencent Interactive Whiteboard, 2019-09-19): whiteboard rooms and their snapshot and
//! push tasks, and document transcoding.

mod api;
pub mod board_page;
pub mod callback;
mod callback_api;
pub mod callback_settings;
mod context;
pub mod pictures;
pub mod push;
mod push_api;
mod reset;
pub mod room_http;
pub mod rooms;
pub mod snapshot;
pub mod transcode;

pub use context::Tiw;

use super::registration::{Registration, TaskAction};
use crate::action::{ActionEntry, entry};
use crate::capabilities::Lack;
use crate::config::Config;
use anyhow::Context;
use pictures::PictureLimits;
use push::PushCounters;
use rooms::Rooms;
use std::sync::Arc;
use std::time::Duration;
use taskgate_engine::objects::Objects;
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{KindOptions, Outbox, Store};

pub static ACTIONS: &[ActionEntry<Tiw>] = &[
    entry::<api::CreateSnapshotTask>(),
    entry::<api::DescribeSnapshotTask>(),
    entry::<push_api::StartWhiteboardPush>(),
    entry::<push_api::StopWhiteboardPush>(),
    entry::<push_api::DescribeWhiteboardPush>(),
    entry::<callback_api::SetCallback<callback_api::PushEvents>>(),
    entry::<callback_api::SetCallbackKey<callback_api::PushEvents>>(),
    entry::<callback_api::DescribeCallback<callback_api::PushEvents>>(),
    entry::<transcode::api::CreateTranscode>(),
    entry::<transcode::api::DescribeTranscode>(),
    entry::<transcode::api::DescribeTranscodeByUrl>(),
    entry::<callback_api::SetCallback<callback_api::TranscodeEvents>>(),
    entry::<callback_api::SetCallbackKey<callback_api::TranscodeEvents>>(),
    entry::<callback_api::DescribeCallback<callback_api::TranscodeEvents>>(),
];

/// Pushes are long-lived and mostly wait for the next frame: a node takes many.
const PUSH_CONCURRENCY: usize = 16;
/// Timeout of one board picture download.
const PICTURE_TIMEOUT: Duration = Duration::from_secs(30);

/// The snapshot, push and transcode executors, configured from `[tiw]`; `encoder_lack` says why
/// pushes cannot be encoded here, if they cannot.
pub fn executors(
    config: &Config,
    store: &Store,
    objects: &Objects,
    outbox: &Outbox,
    rooms: &Rooms,
    push_counters: &PushCounters,
    encoder_lack: Option<Lack>,
) -> anyhow::Result<[Registration; 3]> {
    let picture_client =
        || GuardedClient::new(config.url_policy(), PICTURE_TIMEOUT).context("building the board picture client");
    let snapshot = snapshot::executor::SnapshotExecutor {
        rooms: rooms.clone(),
        objects: objects.clone(),
        images: picture_client()?,
        callback_keys: config
            .accounts
            .iter()
            .flat_map(|a| &a.sdk_apps)
            .filter_map(|app| Some((app.sdk_app_id, app.callback_key.clone()?)))
            .collect(),
        limits: snapshot::executor::SnapshotLimits {
            max_marks: config.tiw.snapshot_max_marks,
            time_budget: Duration::from_secs(config.tiw.snapshot_time_budget_secs),
            pictures: PictureLimits::from_config(&config.tiw),
        },
    };
    let push = push::executor::PushExecutor {
        store: store.clone(),
        outbox: outbox.clone(),
        rooms: rooms.clone(),
        objects: objects.clone(),
        pictures: picture_client()?,
        sdk_app_keys: context::sdk_app_keys(config),
        settings: push::executor::PushSettings {
            ffmpeg: config.tiw.ffmpeg.clone(),
            work_dir: config.data_dir.join("work").join(push::HLS_PREFIX),
            rtmp_url: config.tiw.push_rtmp_url.clone(),
            max_exceptions: config.tiw.push_max_exceptions.max(1),
            pictures: PictureLimits::from_config(&config.tiw),
            encoder_lack,
        },
        counters: push_counters.clone(),
    };
    let transcode_client = |priority: transcode::Priority| {
        let timeout = Duration::from_secs(priority.limits(true).download_timeout_secs);
        GuardedClient::new(config.url_policy(), timeout).context("building the document download client")
    };
    let work_root = config.data_dir.join("work").join("transcode");
    std::fs::create_dir_all(&work_root).with_context(|| format!("creating {}", work_root.display()))?;
    let transcode = transcode::executor::TranscodeExecutor {
        store: store.clone(),
        outbox: outbox.clone(),
        objects: objects.clone(),
        normal_client: transcode_client(transcode::Priority::Normal)?,
        low_client: transcode_client(transcode::Priority::Low)?,
        tools: transcode::convert::Tools::from_config(&config.tiw),
        work_root,
    };
    Ok([
        Registration::finite(snapshot::SNAPSHOT_KIND, Arc::new(snapshot)),
        Registration {
            kind: push::PUSH_KIND,
            options: KindOptions::concurrency(PUSH_CONCURRENCY).endless(),
            executor: Arc::new(push),
        },
        Registration {
            kind: transcode::TRANSCODE_KIND,
            options: KindOptions::concurrency(config.tiw.transcode_concurrency.max(1)),
            executor: Arc::new(transcode),
        },
    ])
}

/// The ids tiw's actions know a task by: the engine's id, as snapshots spell it (`TaskID`) or
/// pushes (`TaskId`).
pub fn wire_ids(task: &taskgate_engine::Task) -> serde_json::Map<String, serde_json::Value> {
    let name = if task.kind == snapshot::SNAPSHOT_KIND { "TaskID" } else { "TaskId" };
    serde_json::Map::from_iter([(name.to_owned(), task.id.as_str().into())])
}

/// The tiw actions that create tasks.
pub const TASK_ACTIONS: &[TaskAction] = &[
    TaskAction {
        name: "CreateSnapshotTask",
        kind: snapshot::SNAPSHOT_KIND,
        forced_success: Err("a snapshot's pictures come only from rendering its room; force a failure or let it run"),
    },
    TaskAction {
        name: "StartWhiteboardPush",
        kind: push::PUSH_KIND,
        forced_success: Err("a push's stream comes only from encoding its room; force a failure or let it run"),
    },
    TaskAction {
        name: "CreateTranscode",
        kind: transcode::TRANSCODE_KIND,
        forced_success: Err(
            "a transcode's pages come only from converting its document; force a failure or let it run",
        ),
    },
];
