//! `qemu-img` as a confined child process: `info` and `check` inspect an image whose header
//! `disk_format` has already cleared, `convert` changes its format.
//!
//! Each run is one process, set up between fork and exec: CPU-time and address-space
//! rlimits and a wall-clock timeout (a crafted image can make qemu spin or allocate without
//! bound), an empty environment, and a Landlock ruleset under which the child can read its
//! binary, the shared libraries and the one input image, write the one output file, and open
//! nothing else (no other host file, no TCP). `disk_format` refusing images that name other
//! files is the first line; the ruleset holds even if that parser misses a trick of qemu's.
//!
//! Errors are for the tenant: they say what is wrong with the image, never a path or a line
//! of qemu's stderr, which go to the server log instead.

use super::disk_format::DiskFormat;
use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct QemuLimits {
    pub cpu_secs: u64,
    pub address_space_bytes: u64,
    /// Largest file the child may write (`RLIMIT_FSIZE`, bytes): a crafted image whose
    /// clusters all alias one block would otherwise convert into a disk-filling output.
    pub file_size_bytes: u64,
    pub timeout: Duration,
}

impl QemuLimits {
    /// Limits for `info` and `check`, which read metadata only and write nothing.
    pub const INSPECT: QemuLimits =
        QemuLimits { cpu_secs: 30, address_space_bytes: 1 << 30, file_size_bytes: 0, timeout: Duration::from_secs(60) };
}

/// How much of qemu-img's output is kept: `info` JSON is a few KiB; `check` can print a line per
/// cluster of a crafted image, gigabytes, of which only the start is worth logging.
const MAX_STDOUT_BYTES: u64 = 1 << 20;
const MAX_STDERR_BYTES: u64 = 64 << 10;

/// Reads at most `limit` bytes of `source`, then drains the rest so the child never blocks.
async fn read_bounded(source: impl tokio::io::AsyncRead + Unpin, limit: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut source = source;
    (&mut source).take(limit).read_to_end(&mut kept).await?;
    tokio::io::copy(&mut source, &mut tokio::io::sink()).await?;
    Ok(kept)
}

/// How the `qemu-img` child is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// A Landlock ruleset; a kernel without Landlock makes every run fail.
    Landlock,
    /// rlimits only: the operator's explicit choice (`[ecm] allow_unconfined_qemu`) on a
    /// kernel without Landlock, relying on the header checks alone.
    RlimitsOnly,
}

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

struct Output {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
}

/// Directories of shared libraries and qemu's block modules, read and mapped executable.
const LIBRARY_DIRS: &[&str] = &["/lib", "/lib64", "/usr/lib", "/usr/lib64"];
/// Single files every dynamically linked program reads at start.
const READ_FILES: &[&str] = &["/etc/ld.so.cache", "/dev/urandom"];

/// Runs `qemu-img` confined; one per importer.
#[derive(Debug, Clone)]
pub struct QemuImg {
    /// `[ecm] qemu_img`: a path, or a bare name looked up on `PATH` at each run.
    pub program: PathBuf,
    pub confinement: Confinement,
}

impl QemuImg {
    /// The absolute path of the program: the Landlock rule names the file itself.
    fn program(&self) -> Result<PathBuf, QemuError> {
        let configured = &self.program;
        let found = if configured.components().count() > 1 {
            Some(configured.clone())
        } else {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path).map(|dir| dir.join(configured)).find(|candidate| candidate.is_file())
        };
        found.and_then(|program| std::fs::canonicalize(program).ok()).ok_or_else(|| {
            tracing::error!(program = %configured.display(), "qemu-img ([ecm] qemu_img) was not found");
            QemuError::Spawn
        })
    }

    /// The ruleset for one run, built in the parent so that the child, between fork and exec,
    /// only calls `prctl` and `landlock_restrict_self` (no allocation, no file opened).
    ///
    /// ABI v1 (file access, Linux 5.13) is required; rights of later ABIs (truncate, TCP,
    /// scopes) are added where the kernel has them.
    fn ruleset(program: &Path, read: &[&Path], write: Option<&Path>) -> anyhow::Result<RulesetCreated> {
        let abi = ABI::V6;
        let file_read = AccessFs::ReadFile;
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))?
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .scope(Scope::from_all(abi))?
            .create()?
            .add_rule(PathBeneath::new(PathFd::new(program)?, AccessFs::ReadFile | AccessFs::Execute))?;
        for dir in LIBRARY_DIRS.iter().map(Path::new).filter(|d| d.is_dir()) {
            ruleset = ruleset.add_rule(PathBeneath::new(
                PathFd::new(dir)?,
                AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute,
            ))?;
        }
        for file in READ_FILES.iter().map(Path::new).filter(|f| f.exists()) {
            ruleset = ruleset.add_rule(PathBeneath::new(PathFd::new(file)?, file_read))?;
        }
        ruleset = ruleset.add_rule(PathBeneath::new(PathFd::new("/dev/null")?, file_read | AccessFs::WriteFile))?;
        for file in read {
            ruleset = ruleset.add_rule(PathBeneath::new(PathFd::new(file)?, file_read))?;
        }
        if let Some(file) = write {
            ruleset = ruleset
                .add_rule(PathBeneath::new(PathFd::new(file)?, file_read | AccessFs::WriteFile | AccessFs::Truncate))?;
        }
        Ok(ruleset)
    }

    /// Runs `qemu-img COMMAND ARGS` able to read `read` and write `write` (which must exist).
    async fn run(
        &self,
        command: &'static str,
        args: Vec<OsString>,
        read: &[&Path],
        write: Option<&Path>,
        limits: QemuLimits,
    ) -> Result<Output, QemuError> {
        let program = self.program()?;
        let mut ruleset = match self.confinement {
            Confinement::Landlock => Some(Self::ruleset(&program, read, write).map_err(|error| {
                tracing::error!(error = %format!("{error:#}"), "building the qemu-img Landlock ruleset failed (does the kernel have Landlock?)");
                QemuError::Spawn
            })?),
            Confinement::RlimitsOnly => None,
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.arg(command)
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let (cpu_secs, address_space, file_size) =
            (limits.cpu_secs, limits.address_space_bytes, limits.file_size_bytes);
        // SAFETY: between fork and exec the closure only calls setrlimit, prctl and
        // landlock_restrict_self, and moves a value prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                set_rlimit(libc::RLIMIT_CPU, cpu_secs)?;
                set_rlimit(libc::RLIMIT_AS, address_space)?;
                set_rlimit(libc::RLIMIT_FSIZE, file_size)?;
                if let Some(ruleset) = ruleset.take() {
                    confine(ruleset)?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|error| {
            tracing::error!(%error, command, "qemu-img could not be started or confined");
            QemuError::Spawn
        })?;
        let collected = tokio::time::timeout(limits.timeout, async {
            let out = child.stdout.take().expect("piped");
            let err = child.stderr.take().expect("piped");
            let (stdout, stderr) =
                tokio::join!(read_bounded(out, MAX_STDOUT_BYTES), read_bounded(err, MAX_STDERR_BYTES));
            let (stdout, stderr) = (stdout.unwrap_or_default(), stderr.unwrap_or_default());
            let status = child.wait().await;
            (status, stdout, stderr)
        })
        .await;
        let Ok((status, stdout, stderr)) = collected else {
            tracing::warn!(command, timeout = ?limits.timeout, "qemu-img timed out");
            return Err(QemuError::Timeout { timeout: limits.timeout });
        };
        let status = status.map_err(|error| {
            tracing::error!(%error, command, "waiting for qemu-img failed");
            QemuError::Spawn
        })?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&stderr);
            tracing::warn!(command, %status, stderr = %stderr.trim(), "qemu-img failed");
        }
        Ok(Output { status, stdout })
    }

    /// `qemu-img info` with the format forced (never probed), cross-checked against the header.
    pub async fn info(&self, path: &Path, format: DiskFormat, limits: QemuLimits) -> Result<ImageInfo, QemuError> {
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
    pub async fn check(&self, path: &Path, format: DiskFormat, limits: QemuLimits) -> Result<(), QemuError> {
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
        limits: QemuLimits,
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
        let output = self.run("info", args, &[allowed], None, QemuLimits::INSPECT).await?;
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

fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Applies the ruleset to the child; a kernel that enforces none of it is an error.
fn confine(ruleset: RulesetCreated) -> std::io::Result<()> {
    match ruleset.restrict_self() {
        Ok(RestrictionStatus { ruleset: RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced, .. }) => {
            Ok(())
        }
        Ok(_) => Err(std::io::Error::from_raw_os_error(libc::ENOSYS)),
        Err(_) => Err(std::io::Error::from_raw_os_error(libc::EPERM)),
    }
}
