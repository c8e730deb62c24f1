//! `qemu-img` as a confined child process: `info` and `check` inspect an image whose header
//! `disk_format` has already cleared, `convert` changes its format. Each run has CPU-time and
//! address-space limits (util-linux `prlimit`, as Glance does) and a wall-clock timeout, because
//! a crafted image can make qemu spin or allocate without bound.

use super::disk_format::DiskFormat;
use serde::Deserialize;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct QemuLimits {
    pub cpu_secs: u64,
    pub address_space_bytes: u64,
    pub timeout: Duration,
}

impl QemuLimits {
    /// Limits for `info` and `check`, which read metadata only.
    pub const INSPECT: QemuLimits =
        QemuLimits { cpu_secs: 30, address_space_bytes: 1 << 30, timeout: Duration::from_secs(60) };
}

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("qemu-img could not be started: {0}")]
    Spawn(std::io::Error),
    #[error("qemu-img {command} did not finish within {0:?}", .timeout)]
    Timeout { command: &'static str, timeout: Duration },
    #[error("qemu-img {command} failed: {stderr}")]
    Failed { command: &'static str, stderr: String },
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
    #[error("qemu-img reports format `{found}` where the header says `{expected}`")]
    FormatMismatch { expected: &'static str, found: String },
    #[error("qemu-img reports that the image depends on another file ({0})")]
    ExternalReference(&'static str),
    #[error("qemu-img info printed unreadable JSON: {0}")]
    BadOutput(serde_json::Error),
}

/// What `qemu-img info --output=json` reports that the import needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInfo {
    pub format: String,
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

struct Output {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

async fn run_limited(command: &'static str, args: &[&std::ffi::OsStr], limits: QemuLimits) -> Result<Output, QemuError> {
    let mut child = tokio::process::Command::new("prlimit")
        .arg(format!("--cpu={}", limits.cpu_secs))
        .arg(format!("--as={}", limits.address_space_bytes))
        .arg("qemu-img")
        .arg(command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(QemuError::Spawn)?;
    let collected = tokio::time::timeout(limits.timeout, async {
        use tokio::io::AsyncReadExt;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let (a, b) = tokio::join!(out.read_to_end(&mut stdout), err.read_to_end(&mut stderr));
        a.and(b).map_err(QemuError::Spawn)?;
        let status = child.wait().await.map_err(QemuError::Spawn)?;
        Ok::<_, QemuError>(Output { status, stdout, stderr: String::from_utf8_lossy(&stderr).trim().to_owned() })
    })
    .await;
    match collected {
        Ok(output) => output,
        Err(_) => Err(QemuError::Timeout { command, timeout: limits.timeout }),
    }
}

/// `qemu-img info` with the format forced (never probed), cross-checked against the header.
pub async fn info(path: &Path, format: DiskFormat, limits: QemuLimits) -> Result<ImageInfo, QemuError> {
    let args = ["--output=json".as_ref(), "-f".as_ref(), format.qemu_name().as_ref(), path.as_os_str()];
    let output = run_limited("info", &args, limits).await?;
    if !output.status.success() {
        return Err(QemuError::Failed { command: "info", stderr: output.stderr });
    }
    let info: ImageInfo = serde_json::from_slice(&output.stdout).map_err(QemuError::BadOutput)?;
    if info.format != format.qemu_name() {
        return Err(QemuError::FormatMismatch { expected: format.qemu_name(), found: info.format });
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
pub async fn check(path: &Path, format: DiskFormat, limits: QemuLimits) -> Result<(), QemuError> {
    if format != DiskFormat::Qcow2 {
        return Ok(());
    }
    let args = ["-f".as_ref(), format.qemu_name().as_ref(), path.as_os_str()];
    let output = run_limited("check", &args, limits).await?;
    match output.status.code() {
        Some(0) => Ok(()),
        // 2: corruptions found; 3: leaked clusters only, harmless for a read-only import.
        Some(3) => Ok(()),
        Some(2) => Err(QemuError::Corrupt(first_error_line(&output))),
        _ => Err(QemuError::Failed { command: "check", stderr: output.stderr }),
    }
}

fn first_error_line(output: &Output) -> String {
    output
        .stderr
        .lines()
        .chain(std::str::from_utf8(&output.stdout).unwrap_or_default().lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("qemu-img check found errors")
        .to_owned()
}

/// `qemu-img convert` from the detected format to `target` (`qcow2`, `raw`, …).
pub async fn convert(
    source: &Path,
    format: DiskFormat,
    destination: &Path,
    target: &str,
    limits: QemuLimits,
) -> Result<(), QemuError> {
    let args = [
        "-f".as_ref(),
        format.qemu_name().as_ref(),
        "-O".as_ref(),
        target.as_ref(),
        source.as_os_str(),
        destination.as_os_str(),
    ];
    let output = run_limited("convert", &args, limits).await?;
    if output.status.success() {
        Ok(())
    } else {
        Err(QemuError::Failed { command: "convert", stderr: output.stderr })
    }
}
