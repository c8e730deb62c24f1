//! ecm (Edge Computing Machine, 2019-07-19): custom image import tasks.

mod api;
mod context;
pub mod disk_format;
mod images;
pub mod import;
#[cfg(test)]
mod list_plans;
mod os_catalog;
pub mod qemu;
mod reset;
mod store;
mod task;
mod vocab;

pub use context::Ecm;
pub use images::ImageStore;

use super::registration::{Registration, TaskAction};
use crate::action::{ActionEntry, entry};
use crate::capabilities::Lack;
use crate::config::Config;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use taskgate_engine::objects::Objects;
use taskgate_engine::url_guard::GuardedClient;

pub static ACTIONS: &[ActionEntry<Ecm>] = &[
    entry::<api::ImportCustomImage>(),
    entry::<api::DescribeCustomImageTask>(),
    entry::<api::DescribeImage>(),
    entry::<api::DescribeImportImageOs>(),
];

/// The import executor, configured from `[ecm]`; `qemu_lack` says why images cannot be
/// inspected here, if they cannot.
pub fn executor(config: &Config, objects: &Objects, qemu_lack: Option<Lack>) -> anyhow::Result<Registration> {
    let images = ImageStore::from_config(config, objects)?;
    let staging_dir = images.dir.join(".staging");
    std::fs::create_dir_all(&staging_dir).with_context(|| format!("creating {}", staging_dir.display()))?;
    let timeout = Duration::from_secs(config.ecm.download_timeout_secs);
    let import = import::ImportExecutor {
        objects: objects.clone(),
        client: GuardedClient::new(config.url_policy(), timeout).context("building the image download client")?,
        settings: import::ImportSettings {
            image_dir: images.dir,
            image_bucket: images.bucket,
            staging_dir,
            max_image_bytes: config.ecm.max_image_bytes,
            max_virtual_size_bytes: config.ecm.max_virtual_size_bytes,
            convert_to: config.ecm.convert_to.clone(),
            inspect_limits: qemu::INSPECT_LIMITS,
            convert_limits: crate::sandbox::Limits {
                cpu_secs: config.ecm.convert_cpu_secs,
                address_space_bytes: 2 << 30,
                // The largest honest output: the capped virtual size as raw, plus qcow2/vmdk metadata.
                file_size_bytes: config
                    .ecm
                    .max_virtual_size_bytes
                    .saturating_add(config.ecm.max_virtual_size_bytes / 64),
                timeout,
            },
            qemu: qemu::QemuImg {
                program: config.ecm.qemu_img.clone(),
                confinement: if config.ecm.allow_unconfined_qemu {
                    crate::sandbox::Confinement::RlimitsOnly
                } else {
                    crate::sandbox::Confinement::Landlock
                },
            },
            qemu_lack,
        },
    };
    Ok(Registration::finite(task::IMPORT_KIND, Arc::new(import)))
}

/// The ids ecm's actions know a task by: `TaskId` (DescribeCustomImageTask) and `ImageId`.
pub fn wire_ids(task: &taskgate_engine::Task) -> serde_json::Map<String, serde_json::Value> {
    match task.input_of::<task::Import>() {
        Ok(input) => serde_json::Map::from_iter([
            ("TaskId".to_owned(), input.task_id.into()),
            ("ImageId".to_owned(), input.image_id.into()),
        ]),
        Err(_) => serde_json::Map::new(),
    }
}

/// The ecm actions that create tasks.
pub const TASK_ACTIONS: &[TaskAction] = &[TaskAction {
    name: "ImportCustomImage",
    kind: task::IMPORT_KIND,
    forced_success: Err("an imported image needs its disk; force a failure or let the import run"),
}];
