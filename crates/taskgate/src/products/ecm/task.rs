//! The import task's contract, shared by the store that submits it and the executor that runs
//! it. The task is the one home of what an import found: DescribeImage and
//! DescribeCustomImageTask read the task's state and output, nothing is copied beside them.

use serde::{Deserialize, Serialize};
use std::fmt;
use taskgate_engine::{TaskKind, TaskSpec};

pub(super) const IMPORT_KIND: TaskKind = TaskKind::from_static("ecm.import");

/// The import task kind: [`ImportInput`] in, [`ImportProgress`] while running, [`ImportedImage`] out.
pub(super) struct Import;

impl TaskSpec for Import {
    const KIND: TaskKind = IMPORT_KIND;
    type Input = ImportInput;
    type Progress = ImportProgress;
    type Output = ImportedImage;
}

/// What `ImportCustomImage` submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ImportInput {
    /// The Tencent task id (`TaskId` of DescribeCustomImageTask).
    pub task_id: i64,
    pub image_id: String,
    /// Tried in order until one imports.
    pub urls: Vec<String>,
}

/// Where a running import is; DescribeCustomImageTask's `Message` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub(super) enum ImportProgress {
    /// Bytes received of `total` (when the server announced it).
    Downloading { bytes: u64, total: Option<u64>, percent: Option<u64> },
    /// The whole file is here; its format and disk are being checked.
    Inspecting { bytes: u64, percent: u64 },
    /// Being converted to the configured format.
    Converting { percent: u64 },
}

impl fmt::Display for ImportProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Downloading { bytes, percent: Some(percent), .. } => {
                write!(f, "downloading: {bytes} bytes ({percent}%)")
            }
            Self::Downloading { bytes, percent: None, .. } => write!(f, "downloading: {bytes} bytes"),
            Self::Inspecting { bytes, percent } => write!(f, "inspecting: {bytes} bytes ({percent}%)"),
            Self::Converting { percent } => write!(f, "converting: 0 bytes ({percent}%)"),
        }
    }
}

/// What a successful import found and where the image is kept: the task's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ImportedImage {
    /// The stored image's `qemu-img` format name.
    pub format: String,
    /// Bytes of the stored file.
    pub size_bytes: i64,
    /// The disk size a guest sees, in bytes.
    pub virtual_size: i64,
    /// Of the downloaded file, hex.
    pub sha256: String,
    pub md5: String,
    /// A path under the image directory or the URL in the image bucket; imports recorded before
    /// this field existed have it from the migration that moved it here.
    #[serde(default)]
    pub location: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_reads_as_the_message_of_a_running_import() {
        let cases = [
            (json!({"phase": "downloading", "bytes": 10, "total": 40, "percent": 25}), "downloading: 10 bytes (25%)"),
            (json!({"phase": "downloading", "bytes": 10, "total": null, "percent": null}), "downloading: 10 bytes"),
            (json!({"phase": "inspecting", "bytes": 40, "percent": 100}), "inspecting: 40 bytes (100%)"),
            (json!({"phase": "converting", "percent": 100}), "converting: 0 bytes (100%)"),
        ];
        for (stored, message) in cases {
            let progress: ImportProgress = serde_json::from_value(stored.clone()).unwrap();
            assert_eq!(progress.to_string(), message, "{stored}");
            assert_eq!(serde_json::to_value(&progress).unwrap(), stored);
        }
    }

    #[test]
    fn an_output_recorded_before_location_moved_into_it_still_reads() {
        let old = json!({"image_id": "img-1", "format": "qcow2", "size_bytes": 5, "virtual_size": 1073741824,
                         "sha256": "aa", "md5": "bb"});
        let output: ImportedImage = serde_json::from_value(old).unwrap();
        assert_eq!((output.virtual_size, output.location), (1 << 30, None));
    }
}
