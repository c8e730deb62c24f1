//! `qemu-img` as a confined child process: `info` and `check` inspect an image whose header
//! `disk_format` has already cleared, `convert` changes its format.
//!
//! Each run is one [`crate::sandbox::Jail`]: CPU-time and address-space rlimits and a
//! wall-clock timeout (a crafted image can make qemu spin or allocate without bound), an empty
//! environment, and a Landlock ruleset under which the child can read the system's programs and
//! libraries and the one input image, write the one output file, and open nothing else (no
//! other host file, no TCP). `disk_format` refusing images that name other
//! files is the first line; the ruleset holds even if that parser misses a trick of qemu's.
//!
//! Errors are for the tenant: they say what is wrong with the image, never a path or a line
//! of qemu's stderr, which go to the server log instead.

use super::disk_format::DiskFormat;
use crate::sandbox::{Confinement, Jail, Limits, Output, SandboxError};
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits for `info` and `check`, which read metadata only and write nothing.
pub const INSPECT_LIMITS: Limits =
    Limits { cpu_secs: 30, address_space_bytes: 1 << 30, file_size_bytes: 0, timeout: Duration::from_secs(60) };

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// The child could not be started or confined; the cause is in the server log.
    #[error("the image could not be inspected because of a server problem; try again later")]
    Spawn,
    #[error("inspecting the image took longer than {}s; the image may be corrupt", .timeout.as_secs())]
    Timeout { timeout: Duration },
    /// qemu refused the image; its stderr went to the server log.
    #[error("the image is corrupt or uses a feature that cannot be imported")]
    Failed,
    #[error("the image is corrupt: its metadata is inconsistent (repair it with qemu-img check -r all)")]
    Corrupt,
    #[error("the image content does not match its {expected} header")]
    FormatMismatch { expected: &'static str },
    #[error("the image refers to another file ({0}); import a standalone image (qemu-img convert -O qcow2)")]
    ExternalReference(&'static str),
    /// Unreadable `qemu-img info` output; logged.
    #[error("the image could not be inspected because of a server problem; try again later")]
    BadOutput,
}

impl From<SandboxError> for QemuError {
    fn from(error: SandboxError) -> Self {
        match error {
            SandboxError::Spawn => QemuError::Spawn,
            SandboxError::Timeout(timeout) => QemuError::Timeout { timeout },
        }
    }
}

/// What `qemu-img info --output=json` reports that the import needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInfo {
    pub format: String,
    /// Bytes.
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
    #[serde(rename = "backing-filename")]
    pub backing_filename: Option<String>,
    #[serde(rename = "format-specific")]
    pub format_specific: Option<FormatSpecific>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FormatSpecific {
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Runs `qemu-img` confined; one per importer.
#[derive(Debug, Clone)]
pub struct QemuImg {
    /// `[ecm] qemu_img`: a path, or a bare name looked up on `PATH` at each run.
    pub program: PathBuf,
    pub confinement: Confinement,
}

impl QemuImg {
    /// Runs `qemu-img COMMAND ARGS` able to read `read` and write `write` (which must exist).
    async fn run(
        &self,
        command: &'static str,
        args: Vec<OsString>,
        read: &[&Path],
        write: Option<&Path>,
        limits: Limits,
    ) -> Result<Output, QemuError> {
        let mut jail = Jail::new(&self.program, limits)?.arg(command).args(args);
        for file in read {
            jail = jail.read(file);
        }
        if let Some(file) = write {
            jail = jail.write(file);
        }
        Ok(jail.run(self.confinement).await?)
    }

    /// `qemu-img info` with the format forced (never probed), cross-checked against the header.
    pub async fn info(&self, path: &Path, format: DiskFormat, limits: Limits) -> Result<ImageInfo, QemuError> {
        let path = absolute(path)?;
        let args = vec!["--output=json".into(), "-f".into(), format.qemu_name().into(), path.clone().into()];
        let output = self.run("info", args, &[&path], None, limits).await?;
        if !output.status.success() {
            return Err(QemuError::Failed);
        }
        let info: ImageInfo = serde_json::from_slice(&output.stdout).map_err(|error| {
            tracing::error!(%error, "qemu-img info printed unreadable JSON");
            QemuError::BadOutput
        })?;
        if info.format != format.qemu_name() {
            tracing::warn!(expected = format.qemu_name(), found = %info.format, "qemu-img info disagrees with the header");
            return Err(QemuError::FormatMismatch { expected: format.display_name() });
        }
        if info.backing_filename.is_some() {
            return Err(QemuError::ExternalReference("a backing file"));
        }
        if info.format_specific.as_ref().is_some_and(|f| f.data.get("data-file").is_some()) {
            return Err(QemuError::ExternalReference("an external data file"));
        }
        Ok(info)
    }

    /// `qemu-img check` for the formats that carry metadata qemu can verify.
    pub async fn check(&self, path: &Path, format: DiskFormat, limits: Limits) -> Result<(), QemuError> {
        if format != DiskFormat::Qcow2 {
            return Ok(());
        }
        let path = absolute(path)?;
        let args = vec!["-f".into(), format.qemu_name().into(), path.clone().into()];
        let output = self.run("check", args, &[&path], None, limits).await?;
        match output.status.code() {
            Some(0) => Ok(()),
            // 2: corruptions found; 3: leaked clusters only, harmless for a read-only import.
            Some(3) => Ok(()),
            Some(2) => Err(QemuError::Corrupt),
            _ => Err(QemuError::Failed),
        }
    }

    /// `qemu-img convert` from the detected format to `target` (`qcow2`, `raw`, …). The
    /// destination is created empty first: the child may write that file and create none.
    pub async fn convert(
        &self,
        source: &Path,
        format: DiskFormat,
        destination: &Path,
        target: &str,
        limits: Limits,
    ) -> Result<(), QemuError> {
        let (source, destination) = (absolute(source)?, absolute(destination)?);
        tokio::fs::File::create(&destination).await.map_err(|error| {
            tracing::error!(%error, "creating the conversion output failed");
            QemuError::Spawn
        })?;
        let args = vec![
            "-f".into(),
            format.qemu_name().into(),
            "-O".into(),
            target.into(),
            source.clone().into(),
            destination.clone().into(),
        ];
        let output = self.run("convert", args, &[&source], Some(&destination), limits).await?;
        if output.status.success() { Ok(()) } else { Err(QemuError::Failed) }
    }

    /// `qemu-img info -f raw FILE` confined to `allowed` instead of `FILE`: whether the sandbox
    /// lets qemu read a file it was not given. For the sandbox's own tests.
    #[doc(hidden)]
    pub async fn probe_read(&self, file: &Path, allowed: &Path) -> Result<bool, QemuError> {
        let args = vec!["--output=json".into(), "-f".into(), "raw".into(), absolute(file)?.into()];
        let output = self.run("info", args, &[allowed], None, INSPECT_LIMITS).await?;
        Ok(output.status.success())
    }
}

/// An absolute path, so that qemu never reads a `json:` or other protocol prefix in it
/// (qemu takes `PREFIX:` as a protocol only when no `/` comes before the colon).
fn absolute(path: &Path) -> Result<PathBuf, QemuError> {
    std::path::absolute(path).map_err(|error| {
        tracing::error!(%error, "resolving an image path failed");
        QemuError::Spawn
    })
}
