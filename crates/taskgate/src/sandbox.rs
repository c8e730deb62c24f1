//! External tools (qemu-img, LibreOffice, poppler) as confined child processes.
//!
//! Each run is one process, set up between fork and exec: its own process group (so a timeout
//! kills the tool and everything it started), CPU-time, address-space and file-size rlimits, a
//! wall-clock timeout, an environment holding only what the caller names, and a Landlock
//! ruleset under which the child reads and executes the system's programs and libraries, reads
//! the few files of `/etc` the caller names, reads its inputs, writes only its outputs, and opens
//! nothing else: no other host file (another tenant's data, the database), no TCP.
//!
//! Errors name no path and carry no tool output: the caller turns them into a tenant's text;
//! the tool's stderr goes to the server log.

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, RestrictionStatus,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// How a child is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// A Landlock ruleset; a kernel without Landlock makes every run fail.
    Landlock,
    /// rlimits and the timeout only: the operator's explicit choice on a kernel without Landlock.
    RlimitsOnly,
}

/// What one run may consume. A limit of 0 bytes for `file_size_bytes` forbids writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_CPU`, seconds of CPU time.
    pub cpu_secs: u64,
    /// `RLIMIT_AS`, bytes of address space.
    pub address_space_bytes: u64,
    /// `RLIMIT_FSIZE`, the largest file the child may write, bytes.
    pub file_size_bytes: u64,
    /// Wall-clock time after which the whole process group is killed.
    pub timeout: Duration,
}

/// Directories of programs and shared libraries every confined tool may read and execute.
const SYSTEM_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/bin"];
/// Files every dynamically linked program may read.
const SYSTEM_FILES: &[&str] = &["/etc/ld.so.cache", "/dev/urandom"];

/// How much of a tool's output is kept: enough for a JSON report or a page count; a crafted
/// input can make a tool print gigabytes, of which only the start is worth reading or logging.
const MAX_STDOUT_BYTES: u64 = 1 << 20;
const MAX_STDERR_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The child could not be started or confined; the cause is in the server log.
    #[error("the tool could not be started")]
    Spawn,
    /// The run took longer than its timeout and was killed.
    #[error("the tool took longer than {}s", .0.as_secs())]
    Timeout(Duration),
}

/// What a run left: its status and the start of its stdout and stderr. Both are for the
/// caller to classify a failure by, never to show a tenant (they can name host paths).
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// One confined run of `program`, built up and then [`Jail::run`].
#[derive(Debug)]
pub struct Jail {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    sockets: Vec<PathBuf>,
    limits: Limits,
}

impl Jail {
    /// A run of `program` (a path, or a bare name looked up on `PATH`) under `limits`.
    pub fn new(program: &Path, limits: Limits) -> Result<Self, SandboxError> {
        Ok(Self {
            program: resolve(program)?,
            args: Vec::new(),
            env: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
            sockets: Vec::new(),
            limits,
        })
    }

    /// The resolved absolute path of the program (symbolic links followed).
    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// One environment variable; nothing of the server's environment is passed on.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A file or directory (and everything beneath) the child may read. Must exist.
    pub fn read(mut self, path: impl Into<PathBuf>) -> Self {
        self.read.push(path.into());
        self
    }

    /// A file the child may read, write and truncate, or a directory beneath which it may also
    /// create and remove files and directories. Must exist.
    pub fn write(mut self, path: impl Into<PathBuf>) -> Self {
        self.write.push(path.into());
        self
    }

    /// A directory in which the child may create Unix sockets and nothing else (LibreOffice
    /// binds its instance pipe in `/tmp`, a path compiled into it). Must exist.
    pub fn sockets(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sockets.push(dir.into());
        self
    }

    /// The ruleset for this run, built in the parent so that the child, between fork and exec,
    /// only calls `prctl` and `landlock_restrict_self` (no allocation, no file opened).
    ///
    /// ABI v1 (file access, Linux 5.13) is required; rights of later ABIs (truncate, TCP,
    /// scopes) are added where the kernel has them.
    fn ruleset(&self) -> anyhow::Result<RulesetCreated> {
        let abi = ABI::V6;
        let read_exec = AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute;
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))?
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .scope(Scope::from_all(abi))?
            .create()?
            .add_rule(PathBeneath::new(PathFd::new(&self.program)?, AccessFs::ReadFile | AccessFs::Execute))?;
        for dir in SYSTEM_DIRS.iter().map(Path::new).filter(|d| d.exists()) {
            ruleset = ruleset.add_rule(rule(dir, read_exec)?)?;
        }
        for file in SYSTEM_FILES.iter().map(Path::new).filter(|f| f.exists()) {
            ruleset = ruleset.add_rule(rule(file, AccessFs::ReadFile.into())?)?;
        }
        ruleset = ruleset.add_rule(rule(Path::new("/dev/null"), AccessFs::ReadFile | AccessFs::WriteFile)?)?;
        for path in &self.read {
            ruleset = ruleset.add_rule(rule(path, AccessFs::ReadFile | AccessFs::ReadDir)?)?;
        }
        for path in &self.write {
            ruleset = ruleset.add_rule(rule(path, AccessFs::from_all(abi) & !AccessFs::Execute)?)?;
        }
        for dir in &self.sockets {
            ruleset = ruleset.add_rule(rule(dir, AccessFs::MakeSock.into())?)?;
        }
        Ok(ruleset)
    }

    /// Runs the child confined as `confinement` says, collects its status and stdout, and kills
    /// its process group if it outlives the timeout.
    pub async fn run(self, confinement: Confinement) -> Result<Output, SandboxError> {
        let name = self.program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut ruleset = match confinement {
            Confinement::Landlock => Some(self.ruleset().map_err(|error| {
                tracing::error!(tool = %name, error = %format!("{error:#}"), "building the Landlock ruleset failed (does the kernel have Landlock?)");
                SandboxError::Spawn
            })?),
            Confinement::RlimitsOnly => None,
        };
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let limits = self.limits;
        // SAFETY: between fork and exec the closure only calls setrlimit, prctl and
        // landlock_restrict_self, and moves a value prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                set_rlimit(libc::RLIMIT_CPU, limits.cpu_secs)?;
                set_rlimit(libc::RLIMIT_AS, limits.address_space_bytes)?;
                set_rlimit(libc::RLIMIT_FSIZE, limits.file_size_bytes)?;
                if let Some(ruleset) = ruleset.take() {
                    confine(ruleset)?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|error| {
            tracing::error!(tool = %name, %error, "the tool could not be started or confined");
            SandboxError::Spawn
        })?;
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        let collected = tokio::time::timeout(limits.timeout, async {
            let out = child.stdout.take().expect("piped");
            let err = child.stderr.take().expect("piped");
            let (stdout, stderr) =
                tokio::join!(read_bounded(out, MAX_STDOUT_BYTES), read_bounded(err, MAX_STDERR_BYTES));
            let status = child.wait().await;
            (status, stdout.unwrap_or_default(), stderr.unwrap_or_default())
        })
        .await;
        // Whatever the tool left running in its group (LibreOffice's helpers) ends with it.
        if let Some(group) = group {
            // SAFETY: kill with a negative pid signals the process group the child leads.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let Ok((status, stdout, stderr)) = collected else {
            tracing::warn!(tool = %name, timeout = ?limits.timeout, "the tool timed out and was killed");
            return Err(SandboxError::Timeout(limits.timeout));
        };
        let status = status.map_err(|error| {
            tracing::error!(tool = %name, %error, "waiting for the tool failed");
            SandboxError::Spawn
        })?;
        if !status.success() {
            let text = String::from_utf8_lossy(&stderr);
            tracing::warn!(tool = %name, %status, stderr = %text.trim(), "the tool failed");
        }
        Ok(Output { status, stdout, stderr })
    }
}

/// A rule for `path` with `access`, narrowed to the rights a file can have when it is one.
fn rule(path: &Path, access: BitFlags<AccessFs>) -> anyhow::Result<PathBeneath<PathFd>> {
    let access = if path.is_dir() { access } else { access & AccessFs::from_file(ABI::V6) };
    Ok(PathBeneath::new(PathFd::new(path)?, access))
}

/// The absolute, canonical path of `program`: the Landlock rule names the file itself.
fn resolve(program: &Path) -> Result<PathBuf, SandboxError> {
    let found = if program.components().count() > 1 {
        Some(program.to_path_buf())
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
    };
    found.and_then(|p| std::fs::canonicalize(p).ok()).ok_or_else(|| {
        tracing::error!(program = %program.display(), "the tool was not found");
        SandboxError::Spawn
    })
}

/// Reads at most `limit` bytes of `source`, then drains the rest so the child never blocks.
async fn read_bounded(source: impl tokio::io::AsyncRead + Unpin, limit: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut source = source;
    (&mut source).take(limit).read_to_end(&mut kept).await?;
    tokio::io::copy(&mut source, &mut tokio::io::sink()).await?;
    Ok(kept)
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        cpu_secs: 10,
        address_space_bytes: 1 << 30,
        file_size_bytes: 1 << 20,
        timeout: Duration::from_secs(10),
    };

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("taskgate-sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_confined_tool_reads_what_it_was_given_and_nothing_else() {
        if !crate::capabilities::landlock_available() {
            eprintln!("skipped: the kernel has no Landlock");
            return;
        }
        let (given, other) = (scratch(), scratch());
        std::fs::write(given.join("in.txt"), "mine").unwrap();
        std::fs::write(other.join("secret.txt"), "theirs").unwrap();
        let cat = |file: PathBuf| Jail::new(Path::new("cat"), LIMITS).unwrap().arg(file).read(&given);
        let allowed = cat(given.join("in.txt")).run(Confinement::Landlock).await.unwrap();
        assert!(allowed.status.success());
        assert_eq!(allowed.stdout, b"mine");
        let refused = cat(other.join("secret.txt")).run(Confinement::Landlock).await.unwrap();
        assert!(!refused.status.success());
        assert!(refused.stdout.is_empty());
    }

    #[tokio::test]
    async fn a_confined_tool_writes_only_beneath_its_output() {
        if !crate::capabilities::landlock_available() {
            eprintln!("skipped: the kernel has no Landlock");
            return;
        }
        let (output, other) = (scratch(), scratch());
        let touch = |file: PathBuf| Jail::new(Path::new("touch"), LIMITS).unwrap().arg(file).write(&output);
        assert!(touch(output.join("made")).run(Confinement::Landlock).await.unwrap().status.success());
        assert!(output.join("made").exists());
        assert!(!touch(other.join("made")).run(Confinement::Landlock).await.unwrap().status.success());
        assert!(!other.join("made").exists());
    }

    #[tokio::test]
    async fn a_socket_directory_takes_sockets_and_nothing_else() {
        if !crate::capabilities::landlock_available() {
            eprintln!("skipped: the kernel has no Landlock");
            return;
        }
        let dir = scratch();
        let jail = |script: String| {
            Jail::new(Path::new("/usr/bin/python3"), LIMITS).unwrap().args(["-c", &script]).sockets(&dir)
        };
        let bind = format!("import socket; socket.socket(socket.AF_UNIX).bind('{}')", dir.join("pipe").display());
        assert!(jail(bind).run(Confinement::Landlock).await.unwrap().status.success());
        assert!(dir.join("pipe").exists());
        let write = format!("open('{}', 'w')", dir.join("file").display());
        assert!(!jail(write).run(Confinement::Landlock).await.unwrap().status.success());
        let remove = format!("import os; os.remove('{}')", dir.join("pipe").display());
        assert!(!jail(remove).run(Confinement::Landlock).await.unwrap().status.success());
        assert!(dir.join("pipe").exists() && !dir.join("file").exists());
    }

    #[tokio::test]
    async fn a_tool_outliving_its_timeout_is_killed_with_its_children() {
        let limits = Limits { timeout: Duration::from_millis(300), ..LIMITS };
        let marker = scratch().join("late");
        let script = format!("sleep 30 & sleep 1; touch {}", marker.display());
        let started = std::time::Instant::now();
        let result =
            Jail::new(Path::new("sh"), limits).unwrap().args(["-c", &script]).run(Confinement::RlimitsOnly).await;
        assert!(matches!(result, Err(SandboxError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(!marker.exists(), "the group's other processes were killed too");
    }

    #[tokio::test]
    async fn the_environment_holds_only_what_the_caller_names() {
        let out = Jail::new(Path::new("env"), LIMITS).unwrap().env("ONLY", "this").run(Confinement::RlimitsOnly).await;
        assert_eq!(String::from_utf8(out.unwrap().stdout).unwrap(), "ONLY=this\n");
    }
}
