//! The import executor: fetch the image (URLs in order), check its format from its bytes,
//! inspect it with confined `qemu-img`, optionally convert it, and keep it in the image store.
//! Every failure becomes a message a user can act on; no partial file is left behind.

use super::disk_format::{self, DiskFormat};
use super::qemu::QemuImg;
use super::task::{Import, ImportInput, ImportProgress, ImportedImage};
use crate::capabilities::Lack;
use crate::download::{AsyncProgress, DownloadError, Downloaded, Progress, download};
use crate::sandbox::Limits;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use taskgate_engine::objects::{Destination, Objects};
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{ExecError, Executor, Outcome, TaskContext};

/// Import settings from the `[ecm]` configuration table.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// Where imported images are kept, one file per image, unless a bucket is configured.
    pub image_dir: PathBuf,
    /// The object-store bucket images are uploaded to instead.
    pub image_bucket: Option<Destination>,
    /// Downloads in progress, on the same filesystem so a finished file is moved, not copied.
    pub staging_dir: PathBuf,
    pub max_image_bytes: u64,
    /// Largest virtual disk size accepted, in bytes, from the header and from `qemu-img info`.
    pub max_virtual_size_bytes: u64,
    /// `qemu-img` output format to convert every image to, if any.
    pub convert_to: Option<String>,
    pub inspect_limits: Limits,
    pub convert_limits: Limits,
    pub qemu: QemuImg,
    /// Why this server cannot inspect images (`qemu-img` missing or unconfinable), if it cannot.
    pub qemu_lack: Option<Lack>,
}

pub struct ImportExecutor {
    pub objects: Objects,
    pub client: GuardedClient,
    pub settings: ImportSettings,
}

/// Removes a staging file on every way out.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct TaskProgress<'a>(&'a TaskContext);

impl AsyncProgress for TaskProgress<'_> {
    async fn report(&mut self, p: Progress) {
        let percent = p.total.filter(|t| *t > 0).map(|t| p.bytes.saturating_mul(100) / t);
        // Progress is informative; a lost lease shows when the task finishes.
        let _ = self.0.report::<Import>(&ImportProgress::Downloading { bytes: p.bytes, total: p.total, percent }).await;
    }
}

fn failed(message: String) -> ExecError {
    ExecError::permanent(message)
}

/// A retryable failure of the server's own disk or store: logged with its cause, which may
/// name host paths, and reported to the tenant without it.
fn server_fault(what: &'static str, cause: impl std::fmt::Display) -> ExecError {
    tracing::error!(%cause, "{what}");
    ExecError::retryable(format!("{what} on the server; try again later"))
}

impl ImportExecutor {
    async fn fetch(
        &self,
        ctx: &TaskContext,
        input: &ImportInput,
        path: &Path,
    ) -> Result<(Downloaded, String), ExecError> {
        let mut reasons = Vec::new();
        for url in &input.urls {
            let progress = TaskProgress(ctx);
            match download(&self.client, url, path, self.settings.max_image_bytes, ctx.cancel_token(), progress).await {
                Ok(downloaded) => return Ok((downloaded, url.clone())),
                Err(DownloadError::Cancelled) => {
                    return Err(ExecError::cancelled("the import was cancelled"));
                }
                Err(error) if error.is_transient() && !ctx.is_final_attempt() && input.urls.len() == 1 => {
                    return Err(ExecError::retryable(error.to_string()));
                }
                Err(error) => {
                    if let DownloadError::Disk(cause) = &error {
                        tracing::error!(image_id = %input.image_id, %cause, "writing a downloaded image failed");
                    }
                    reasons.push(error.to_string())
                }
            }
        }
        Err(failed(format!("no image URL could be imported: {}", reasons.join("; "))))
    }

    async fn import(&self, ctx: &TaskContext, input: &ImportInput) -> Result<ImportedImage, ExecError> {
        let staged = Staged(self.settings.staging_dir.join(format!("{}.download", input.image_id)));
        let (downloaded, url) = self.fetch(ctx, input, &staged.0).await?;
        let _ = ctx.report::<Import>(&ImportProgress::Inspecting { bytes: downloaded.bytes, percent: 100 }).await;

        let path = staged.0.clone();
        let inspected = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(&path)?;
            disk_format::inspect(&mut file, downloaded.bytes)
        })
        .await
        .map_err(|e| server_fault("format inspection stopped", e))?
        .map_err(|e| {
            if let disk_format::DiskFormatError::Io(error) = &e {
                tracing::warn!(image_id = %input.image_id, %error, "reading the staged image failed");
            }
            failed(format!("{url}: {e}"))
        })?;
        let format = inspected.format;
        self.check_virtual_size(inspected.virtual_size).map_err(|e| failed(format!("{url}: {e}")))?;

        let qemu = &self.settings.qemu;
        let info = qemu
            .info(&staged.0, format, self.settings.inspect_limits)
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        // qemu's own reading of the size, e.g. a VHD's geometry, gets the same limit.
        let virtual_size = self.check_virtual_size(info.virtual_size).map_err(|e| failed(format!("{url}: {e}")))?;
        qemu.check(&staged.0, format, self.settings.inspect_limits).await.map_err(|e| failed(format!("{url}: {e}")))?;

        let (source, stored_format) = match self.settings.convert_to.as_deref() {
            Some(target) if target != format.qemu_name() => {
                let converted = Staged(self.settings.staging_dir.join(format!("{}.{target}", input.image_id)));
                let _ = ctx.report::<Import>(&ImportProgress::Converting { percent: 100 }).await;
                qemu.convert(&staged.0, format, &converted.0, target, self.settings.convert_limits)
                    .await
                    .map_err(|e| failed(format!("converting to {target} failed: {e}")))?;
                (converted, target.to_owned())
            }
            _ => (staged, format.qemu_name().to_owned()),
        };
        let name = format!("{}.{}", input.image_id, extension(format, &stored_format));
        let size =
            tokio::fs::metadata(&source.0).await.map_err(|e| server_fault("reading the image size failed", e))?.len();
        let size_bytes =
            i64::try_from(size).map_err(|_| failed(format!("{url}: the stored image is larger than 8 EiB")))?;
        let location = self.keep(&source.0, &name).await?;
        Ok(ImportedImage {
            format: stored_format,
            size_bytes,
            virtual_size,
            sha256: downloaded.sha256,
            md5: downloaded.md5,
            location: Some(location),
        })
    }

    /// The virtual size as stored (bytes), if within `max_virtual_size_bytes`.
    fn check_virtual_size(&self, virtual_size: u64) -> Result<i64, VirtualSizeTooLarge> {
        let limit = self.settings.max_virtual_size_bytes;
        if virtual_size > limit {
            return Err(VirtualSizeTooLarge { virtual_size, limit });
        }
        i64::try_from(virtual_size).map_err(|_| VirtualSizeTooLarge { virtual_size, limit })
    }

    /// Moves the finished image into the image store; returns where it is.
    async fn keep(&self, file: &Path, name: &str) -> Result<String, ExecError> {
        let Some(bucket) = &self.settings.image_bucket else {
            let destination = self.settings.image_dir.join(name);
            // Same filesystem: the file is renamed into place, atomically and without a copy.
            tokio::fs::rename(file, &destination)
                .await
                .map_err(|e| server_fault("moving the image into place failed", e))?;
            return Ok(destination.display().to_string());
        };
        let reader =
            tokio::fs::File::open(file).await.map_err(|e| server_fault("opening the image for upload failed", e))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20);
        let stored = self
            .objects
            .put_stream(bucket, name, stream)
            .await
            .map_err(|e| server_fault("uploading the image failed", e))?;
        Ok(stored.url)
    }
}

/// The image's disk is larger than `[ecm] max_virtual_size_bytes`; sizes in bytes, shown in GiB.
#[derive(Debug, thiserror::Error)]
#[error("the virtual disk size of the image ({} GiB) is larger than the {} GiB accepted; shrink the disk before importing", .virtual_size.div_ceil(GIB), .limit / GIB)]
pub struct VirtualSizeTooLarge {
    pub virtual_size: u64,
    pub limit: u64,
}

const GIB: u64 = 1 << 30;

fn extension(detected: DiskFormat, stored_format: &str) -> &str {
    match (detected, stored_format) {
        (DiskFormat::Iso, "raw") => "iso",
        (DiskFormat::Vpc, "vpc") => "vhd",
        (_, other) => other,
    }
}

#[async_trait]
impl Executor for ImportExecutor {
    async fn execute(&self, ctx: TaskContext) -> Result<Outcome, ExecError> {
        let input =
            ctx.input_of::<Import>().map_err(|e| ExecError::permanent(format!("unreadable import input: {e}")))?;
        if let Some(lack) = self.settings.qemu_lack {
            // An import accepted before this start (or by another node): fail before the download
            // rather than after it, saying why.
            return Err(failed(format!("the image cannot be imported on this server: {lack}")));
        }
        let imported = self.import(&ctx, &input).await?;
        // The output is the one record of the import, written with the task's success in the
        // engine's fenced completion: an execution that lost its lease records nothing.
        Outcome::of::<Import>(&imported).map_err(|e| ExecError::permanent(e.to_string()))
    }
}
