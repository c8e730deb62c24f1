//! What this host can run: the external programs some actions need, detected once at start.
//!
//! Whiteboard push encodes with `ffmpeg` and its `libx264` encoder; image import inspects and
//! converts with `qemu-img`, confined by Landlock unless `[ecm] allow_unconfined_qemu` is set;
//! document transcoding converts office files with LibreOffice and renders PDF pages with
//! poppler's `pdftoppm`, both confined unless `[tiw] allow_unconfined_transcode` is set.
//! A missing tool is logged once at start with its install hint, reported by the health
//! endpoint, and makes the actions that need it answer at once instead of failing late.

use crate::config::Config;
use landlock::{ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr};
use serde::Serialize;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The most of a tool's `-encoders`/`--version` output read (ffmpeg's encoder list is ~40 KiB).
const MAX_PROBE_OUTPUT: u64 = 1 << 20;

/// A capability of the server that depends on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityName {
    /// StartWhiteboardPush: `ffmpeg` with `libx264`.
    WhiteboardPush,
    /// ImportCustomImage: `qemu-img`, confined.
    ImageImport,
    /// CreateTranscode: LibreOffice and poppler's `pdftoppm`, confined.
    DocumentTranscode,
}

/// The external program a capability runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Tool {
    #[serde(rename = "ffmpeg")]
    Ffmpeg,
    #[serde(rename = "qemu-img")]
    QemuImg,
    #[serde(rename = "libreoffice")]
    LibreOffice,
    #[serde(rename = "pdftoppm")]
    Pdftoppm,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::QemuImg => "qemu-img",
            Tool::LibreOffice => "LibreOffice",
            Tool::Pdftoppm => "pdftoppm",
        }
    }

    /// The Debian packages that bring the program.
    fn package(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::QemuImg => "qemu-utils",
            Tool::LibreOffice => "libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui",
            Tool::Pdftoppm => "poppler-utils",
        }
    }

    /// The setting that runs the tool without its sandbox on a kernel without Landlock.
    fn unconfined_setting(self) -> &'static str {
        match self {
            Tool::LibreOffice | Tool::Pdftoppm => "[tiw] allow_unconfined_transcode",
            Tool::Ffmpeg | Tool::QemuImg => "[ecm] allow_unconfined_qemu",
        }
    }
}

/// Why a capability cannot run here. The texts name no host path, so tenants may read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lack {
    /// The program could not be started (not found, not executable) or exited with an error.
    NotRunnable(Tool),
    /// The program did not answer its probe within the check timeout.
    NoAnswer(Tool),
    /// ffmpeg runs but was built without the libx264 encoder.
    NoLibx264,
    /// The kernel enforces no Landlock and the tool's `allow_unconfined_*` setting is not set.
    NoLandlock(Tool),
}

impl Lack {
    pub fn tool(self) -> Tool {
        match self {
            Lack::NotRunnable(tool) | Lack::NoAnswer(tool) => tool,
            Lack::NoLibx264 => Tool::Ffmpeg,
            Lack::NoLandlock(tool) => tool,
        }
    }

    /// What the operator does about it.
    pub fn install_hint(self) -> String {
        match self {
            Lack::NotRunnable(tool) | Lack::NoAnswer(tool) => format!("apt-get install {}", tool.package()),
            // Debian's ffmpeg package is built with libx264; a minimal or self-built one may not be.
            Lack::NoLibx264 => "apt-get install ffmpeg (Debian's build includes libx264)".to_owned(),
            Lack::NoLandlock(tool) => format!(
                "run on Linux 5.13 or later with Landlock enabled, or set {} = true to run {} without its sandbox",
                tool.unconfined_setting(),
                tool.name()
            ),
        }
    }
}

impl std::fmt::Display for Lack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lack::NotRunnable(tool) => write!(f, "{} is not installed or cannot be run", tool.name()),
            Lack::NoAnswer(tool) => write!(f, "{} did not answer when probed", tool.name()),
            Lack::NoLibx264 => f.write_str("ffmpeg has no libx264 encoder"),
            Lack::NoLandlock(tool) => write!(f, "{} cannot be confined: the kernel enforces no Landlock", tool.name()),
        }
    }
}

/// One capability as the health endpoint shows it:
/// `{"name": "whiteboard_push", "tool": "ffmpeg", "available": false,
///   "reason": "ffmpeg is not installed or cannot be run", "install": "apt-get install ffmpeg"}`;
/// `reason` and `install` are `null` when `available` is true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    pub name: CapabilityName,
    pub tool: Tool,
    pub available: bool,
    pub reason: Option<String>,
    pub install: Option<String>,
    #[serde(skip)]
    lack: Option<Lack>,
}

impl Capability {
    fn new(name: CapabilityName, tool: Tool, lack: Option<Lack>) -> Self {
        Self {
            name,
            tool,
            available: lack.is_none(),
            reason: lack.map(|l| l.to_string()),
            install: lack.map(Lack::install_hint),
            lack,
        }
    }

    /// Why it cannot run here, if it cannot.
    pub fn lack(&self) -> Option<Lack> {
        self.lack
    }
}

/// Every host-dependent capability, detected once at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub whiteboard_push: Capability,
    pub image_import: Capability,
    pub document_transcode: Capability,
}

impl Capabilities {
    /// Probes the configured `[tiw] ffmpeg` (`-hide_banner -encoders`), `[ecm] qemu_img`,
    /// `[tiw] libreoffice` (`--version`) and `[tiw] pdftoppm` (`-v`) side by side, each bounded
    /// by `tool_check_timeout_secs`, and checks that the confined tools can be confined.
    pub async fn detect(config: &Config) -> Self {
        let timeout = Duration::from_secs(config.tool_check_timeout_secs.max(1));
        let (ffmpeg, qemu, office, poppler) = tokio::join!(
            probe(&config.tiw.ffmpeg, &["-hide_banner", "-encoders"], timeout),
            probe(&config.ecm.qemu_img, &["--version"], timeout),
            probe(&config.tiw.libreoffice, &["--version"], timeout),
            probe(&config.tiw.pdftoppm, &["-v"], timeout),
        );
        let landlock = landlock_available();
        let confined = |tool: Tool, result: Result<String, ProbeFailure>, unconfined_allowed: bool| match result {
            Err(ProbeFailure::NotRunnable) => Some(Lack::NotRunnable(tool)),
            Err(ProbeFailure::NoAnswer) => Some(Lack::NoAnswer(tool)),
            Ok(_) if !unconfined_allowed && !landlock => Some(Lack::NoLandlock(tool)),
            Ok(_) => None,
        };
        let push = match ffmpeg {
            Err(ProbeFailure::NotRunnable) => Some(Lack::NotRunnable(Tool::Ffmpeg)),
            Err(ProbeFailure::NoAnswer) => Some(Lack::NoAnswer(Tool::Ffmpeg)),
            Ok(encoders) if !lists_encoder(&encoders, "libx264") => Some(Lack::NoLibx264),
            Ok(_) => None,
        };
        let import = confined(Tool::QemuImg, qemu, config.ecm.allow_unconfined_qemu);
        let unconfined_transcode = config.tiw.allow_unconfined_transcode;
        let (office, poppler) = (
            confined(Tool::LibreOffice, office, unconfined_transcode),
            confined(Tool::Pdftoppm, poppler, unconfined_transcode),
        );
        // A missing LibreOffice is named first: without it no office document converts.
        let (transcode_tool, transcode) = match (office, poppler) {
            (Some(lack), _) => (Tool::LibreOffice, Some(lack)),
            (None, Some(lack)) => (Tool::Pdftoppm, Some(lack)),
            (None, None) => (Tool::LibreOffice, None),
        };
        Self {
            whiteboard_push: Capability::new(CapabilityName::WhiteboardPush, Tool::Ffmpeg, push),
            image_import: Capability::new(CapabilityName::ImageImport, Tool::QemuImg, import),
            document_transcode: Capability::new(CapabilityName::DocumentTranscode, transcode_tool, transcode),
        }
    }

    /// Every capability, in a stable order.
    pub fn all(&self) -> [&Capability; 3] {
        [&self.whiteboard_push, &self.image_import, &self.document_transcode]
    }

    /// One warning per capability that cannot run, with its install hint.
    pub fn warn_missing(&self) {
        for capability in self.all() {
            if let Some(lack) = capability.lack {
                tracing::warn!(
                    "{lack}: {} is unavailable until then; install: {}",
                    capability_action(capability.name),
                    lack.install_hint()
                );
            }
        }
    }
}

fn capability_action(name: CapabilityName) -> &'static str {
    match name {
        CapabilityName::WhiteboardPush => "whiteboard push (StartWhiteboardPush)",
        CapabilityName::ImageImport => "image import (ImportCustomImage)",
        CapabilityName::DocumentTranscode => "document transcoding (CreateTranscode)",
    }
}

/// Whether the kernel enforces Landlock ABI v1, which the confined tools require.
pub fn landlock_available() -> bool {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|ruleset| ruleset.create())
        .is_ok()
}

enum ProbeFailure {
    NotRunnable,
    NoAnswer,
}

/// Runs `program args` and returns its stdout if it exits successfully within `timeout`.
async fn probe(program: &Path, args: &[&str], timeout: Duration) -> Result<String, ProbeFailure> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            tracing::debug!(program = %program.display(), %error, "starting the tool failed");
            ProbeFailure::NotRunnable
        })?;
    let mut stdout = child.stdout.take().expect("piped");
    let run = async {
        let mut out = Vec::new();
        // A read error leaves what was read; the exit status decides.
        let _ = (&mut stdout).take(MAX_PROBE_OUTPUT).read_to_end(&mut out).await;
        drop(stdout);
        (child.wait().await, out)
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(ProbeFailure::NoAnswer),
        Ok((Ok(status), out)) if status.success() => Ok(String::from_utf8_lossy(&out).into_owned()),
        Ok((status, _)) => {
            tracing::debug!(program = %program.display(), ?status, "the tool's probe failed");
            Err(ProbeFailure::NotRunnable)
        }
    }
}

/// Whether `ffmpeg -encoders` output lists `encoder`: its lines are ` V....D libx264   description`.
fn lists_encoder(listing: &str, encoder: &str) -> bool {
    listing.lines().any(|line| {
        let mut fields = line.split_whitespace();
        matches!((fields.next(), fields.next()), (Some(flags), Some(name)) if flags.len() == 6 && name == encoder)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "Encoders:\n V..... = Video\n ------\n V....D libx264              libx264 H.264 / AVC (codec h264)\n A....D aac                  AAC (Advanced Audio Coding)\n";

    #[test]
    fn an_encoder_listing_with_libx264_is_recognised() {
        assert!(lists_encoder(LISTING, "libx264"));
    }

    #[test]
    fn an_encoder_named_only_in_a_description_does_not_count() {
        let listing = " V....D libx264rgb           libx264 H.264 RGB (codec h264)\n";
        assert!(!lists_encoder(listing, "libx264"));
    }

    #[test]
    fn a_capability_serializes_in_the_health_shape() {
        let missing =
            Capability::new(CapabilityName::WhiteboardPush, Tool::Ffmpeg, Some(Lack::NotRunnable(Tool::Ffmpeg)));
        assert_eq!(
            serde_json::to_value(&missing).unwrap(),
            serde_json::json!({
                "name": "whiteboard_push", "tool": "ffmpeg", "available": false,
                "reason": "ffmpeg is not installed or cannot be run", "install": "apt-get install ffmpeg",
            })
        );
        let present = Capability::new(CapabilityName::ImageImport, Tool::QemuImg, None);
        assert_eq!(
            serde_json::to_value(&present).unwrap(),
            serde_json::json!({"name": "image_import", "tool": "qemu-img", "available": true, "reason": null, "install": null})
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_not_runnable() {
        let result = probe(Path::new("/nonexistent/taskgate-no-such-tool"), &[], Duration::from_secs(5)).await;
        assert!(matches!(result, Err(ProbeFailure::NotRunnable)));
    }

    #[tokio::test]
    async fn a_program_that_hangs_is_cut_at_the_timeout() {
        let started = std::time::Instant::now();
        let result = probe(Path::new("sleep"), &["30"], Duration::from_millis(200)).await;
        assert!(matches!(result, Err(ProbeFailure::NoAnswer)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
