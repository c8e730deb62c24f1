//! The conversions behind a transcode, each a confined tool run ([`crate::sandbox::Jail`]):
//! LibreOffice turns an office document into PDF, `pdfinfo` reads the PDF's pages, `pdftoppm`
//! renders pages to JPEG.
//!
//! Why poppler's `pdftoppm`: it is the renderer of Debian's own PDF tools, handles the fonts,
//! transparency and broken files real documents bring, renders a page range per process (so
//! pages render in parallel, each process confined and time-limited), and writes JPEG directly;
//! a PDF crate in the server would run a complex parser of tenant input inside the server's own
//! address space, and pdfium needs a binary blob outside Debian.
//!
//! Every run may read the system's programs and its one input, write only its task's work
//! directory (LibreOffice also creates its instance pipe in `/tmp`, where it may create
//! sockets and nothing else), and open nothing else. LibreOffice gets a fresh profile inside that directory
//! for each conversion, so conversions share no state.

use super::detect::Format;
use crate::config::TiwConfig;
use crate::sandbox::{Confinement, Jail, Limits, SandboxError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files outside the system directories the tools read: fonts configuration, LibreOffice's
/// defaults and shared extensions, the user database (LibreOffice looks its user up), time zone,
/// locale aliases and name service settings.
const ETC_FILES: &[&str] = &[
    "/etc/fonts",
    "/etc/libreoffice",
    "/etc/passwd",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/locale.alias",
    "/var/cache/fontconfig",
    // LibreOffice's shared extension registry, linked from its installation.
    "/var/lib/libreoffice",
    "/var/spool/libreoffice",
];
/// Where LibreOffice binds its single-instance pipe (`OSL_PIPE_<uid>_SingleOfficeIPC_<hash of
/// the profile>`): compiled in, whatever TMPDIR says. Each conversion's profile differs, so no
/// two conversions ever meet there.
const PIPE_DIR: &str = "/tmp";

/// The largest file a tool may write (`RLIMIT_FSIZE`): a PDF or a page far beyond any real one.
const MAX_OUTPUT_FILE_BYTES: u64 = 2 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A tool could not be started or confined (the cause is in the server log).
    #[error("the conversion tools could not be started on the server")]
    Server,
    #[error("the conversion took longer than {}s", .0.as_secs())]
    Timeout(Duration),
    /// The tool refused the document (damaged, or a feature it cannot read).
    #[error("the document could not be opened; it may be damaged")]
    Unreadable,
    /// The PDF needs a password.
    #[error("the document is encrypted; transcoding needs documents without a password")]
    Encrypted,
}

impl From<SandboxError> for ConvertError {
    fn from(error: SandboxError) -> Self {
        match error {
            SandboxError::Spawn => ConvertError::Server,
            SandboxError::Timeout(after) => ConvertError::Timeout(after),
        }
    }
}

/// A PDF's facts: its page count, the first page's size in points (1/72 inch), and whether it
/// is encrypted (even without a password to open).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PdfInfo {
    pub pages: u32,
    pub width_pts: f64,
    pub height_pts: f64,
    pub encrypted: bool,
}

/// The configured tools and how they run.
#[derive(Debug, Clone)]
pub struct Tools {
    libreoffice: PathBuf,
    pdftoppm: PathBuf,
    pdfinfo: PathBuf,
    confinement: Confinement,
    limits: Limits,
}

impl Tools {
    pub fn from_config(config: &TiwConfig) -> Self {
        let pdfinfo = match config.pdftoppm.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            Some(dir) => dir.join("pdfinfo"),
            None => PathBuf::from("pdfinfo"),
        };
        let timeout = Duration::from_secs(config.transcode_timeout_secs.max(1));
        Self {
            libreoffice: config.libreoffice.clone(),
            pdftoppm: config.pdftoppm.clone(),
            pdfinfo,
            confinement: if config.allow_unconfined_transcode {
                Confinement::RlimitsOnly
            } else {
                Confinement::Landlock
            },
            limits: Limits {
                cpu_secs: timeout.as_secs(),
                address_space_bytes: config.transcode_memory_bytes,
                file_size_bytes: MAX_OUTPUT_FILE_BYTES,
                timeout,
            },
        }
    }

    /// A run of `program` that may read the system, `/etc`'s needed files and `read`, and
    /// write beneath `work`, which is also its HOME and TMPDIR.
    fn jail(&self, program: &Path, work: &Path, read: &Path) -> Result<Jail, ConvertError> {
        let mut jail = Jail::new(program, self.limits)?
            .env("HOME", work)
            .env("TMPDIR", work)
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .write(work)
            .read(read);
        for path in ETC_FILES.iter().map(Path::new).filter(|p| p.exists()) {
            jail = jail.read(path);
        }
        Ok(jail)
    }

    /// LibreOffice's `soffice.bin`: the launcher script `soffice` resolves to would need a
    /// shell and its helpers inside the sandbox, and it only adds a restart loop.
    fn soffice_bin(&self) -> PathBuf {
        let found = if self.libreoffice.components().count() > 1 {
            Some(self.libreoffice.clone())
        } else {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path).map(|dir| dir.join(&self.libreoffice)).find(|p| p.is_file())
        };
        match found.and_then(|p| std::fs::canonicalize(p).ok()) {
            Some(path) if path.file_name().is_some_and(|n| n == "soffice") => {
                let bin = path.with_file_name("soffice.bin");
                if bin.is_file() { bin } else { path }
            }
            Some(path) => path,
            None => self.libreoffice.clone(),
        }
    }

    /// Converts `input` (inside `work`, named with its format's extension) to PDF in `work/pdf/`.
    pub async fn to_pdf(&self, work: &Path, input: &Path, format: Format) -> Result<PathBuf, ConvertError> {
        let (profile, out) = (work.join("profile"), work.join("pdf"));
        for dir in [&profile, &out] {
            tokio::fs::create_dir_all(dir).await.map_err(|error| {
                tracing::error!(%error, "creating a conversion directory failed");
                ConvertError::Server
            })?;
        }
        let filter = match format {
            Format::Ppt | Format::Pptx => "pdf:impress_pdf_Export",
            Format::Xls | Format::Xlsx => "pdf:calc_pdf_Export",
            Format::Doc | Format::Docx | Format::Pdf => "pdf:writer_pdf_Export",
        };
        let program = self.soffice_bin();
        let mut profile_url = String::from("file://");
        profile_url.push_str(&profile.to_string_lossy());
        let pdf = out.join(input.with_extension("pdf").file_name().unwrap_or_default());
        // The first start with a fresh profile creates it and exits to be started again. Its
        // exit status is not telling: LibreOffice may not delete its pipe in the sandbox and
        // exits 1 then. The PDF is: written whole before LibreOffice exits, and read by
        // `pdfinfo` next, which refuses a damaged one. The pipe a run leaves must be gone before
        // the next: LibreOffice, finding it dead, would try to delete it and give up.
        for _ in 0..2 {
            let _pipes = PipeSweep::since_now();
            self.jail(&program, work, input)?
                .sockets(PIPE_DIR)
                .arg(format!("-env:UserInstallation={profile_url}"))
                .args(["--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck"])
                .args(["--convert-to", filter, "--outdir"])
                .arg(&out)
                .arg(input)
                .run(self.confinement)
                .await?;
            if tokio::fs::metadata(&pdf).await.is_ok_and(|meta| meta.len() > 0) {
                return Ok(pdf);
            }
        }
        Err(ConvertError::Unreadable)
    }

    /// `pdfinfo` of `pdf`.
    pub async fn pdf_info(&self, work: &Path, pdf: &Path) -> Result<PdfInfo, ConvertError> {
        let output = self.jail(&self.pdfinfo, work, pdf)?.arg(pdf).run(self.confinement).await?;
        if !output.status.success() {
            let needs_password = String::from_utf8_lossy(&output.stderr).contains("Incorrect password");
            return Err(if needs_password { ConvertError::Encrypted } else { ConvertError::Unreadable });
        }
        parse_pdf_info(&String::from_utf8_lossy(&output.stdout)).ok_or(ConvertError::Unreadable)
    }

    /// Renders pages `first..=last` of `pdf` at `dpi` into `out` as `page-N.jpg` (poppler pads
    /// N with zeros to the digits of the last page).
    pub async fn render(
        &self,
        work: &Path,
        pdf: &Path,
        pages: std::ops::RangeInclusive<u32>,
        scale: Scale,
        out: &Path,
    ) -> Result<(), ConvertError> {
        let mut jail = self.jail(&self.pdftoppm, work, pdf)?.args(["-jpeg", "-jpegopt", "quality=85"]).args([
            "-f",
            &pages.start().to_string(),
            "-l",
            &pages.end().to_string(),
        ]);
        jail = match scale {
            Scale::Dpi(dpi) => jail.args(["-r".to_owned(), format!("{dpi:.3}")]),
            Scale::Fit { width, height } => {
                jail.args(["-scale-to-x".to_owned(), width.to_string(), "-scale-to-y".to_owned(), height.to_string()])
            }
        };
        let output = jail.arg(pdf).arg(out.join("page")).run(self.confinement).await?;
        if output.status.success() { Ok(()) } else { Err(ConvertError::Unreadable) }
    }
}

/// Removes, when dropped, the LibreOffice pipes made in [`PIPE_DIR`] since it was made: the
/// sandbox lets LibreOffice create its pipe there but not delete anything, so the server does.
/// Removing a pipe another conversion still holds harms nothing: a conversion's pipe only
/// tells a second LibreOffice of the same profile that one runs, and profiles are never shared.
struct PipeSweep(std::time::SystemTime);

impl PipeSweep {
    fn since_now() -> Self {
        Self(std::time::SystemTime::now() - Duration::from_secs(1))
    }
}

impl Drop for PipeSweep {
    fn drop(&mut self) {
        use std::os::unix::fs::FileTypeExt;
        let Ok(entries) = std::fs::read_dir(PIPE_DIR) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let ours = name.starts_with("OSL_PIPE_") && name.contains("_SingleOfficeIPC_");
            let fresh =
                entry.metadata().is_ok_and(|m| m.file_type().is_socket() && m.modified().is_ok_and(|t| t >= self.0));
            if ours && fresh {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// How pages are sized when rendered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Dots per inch: every page keeps its own size and aspect.
    Dpi(f64),
    /// Exactly this size (thumbnails).
    Fit { width: u32, height: u32 },
}

/// Reads `Pages:`, `Page size: W x H pts` and `Encrypted:` from `pdfinfo`'s report.
fn parse_pdf_info(report: &str) -> Option<PdfInfo> {
    let field = |name: &str| {
        report.lines().find_map(|line| line.strip_prefix(name).map(|rest| rest.trim_start_matches(':').trim()))
    };
    let pages = field("Pages")?.parse().ok()?;
    let mut size = field("Page size")?.split_whitespace();
    let width_pts = size.next()?.parse().ok()?;
    let height_pts = size.nth(1)?.parse().ok()?;
    let encrypted = field("Encrypted").is_some_and(|v| v.starts_with("yes"));
    Some(PdfInfo { pages, width_pts, height_pts, encrypted })
}

/// The width and height a JPEG's frame header (SOFn) declares; `None` before one is found.
/// Reads the page `pdftoppm` wrote, so `Resolution` is what clients get, however poppler rounds.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    while at + 9 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let height = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
            let width = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
            return Some((u32::from(width), u32::from(height)));
        }
        at += 2 + length;
    }
    None
}

/// The page number of a file `pdftoppm` wrote (`page-007.jpg` → 7).
pub fn page_number(file_name: &str) -> Option<u32> {
    file_name.strip_prefix("page-")?.strip_suffix(".jpg")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Creator:         Impress\nProducer:        LibreOffice 7.4\nTagged:          no\nPages:           3\nEncrypted:       no\nPage size:       959.981 x 540 pts\nPage rot:        0\n";

    #[test]
    fn a_pdfinfo_report_gives_pages_size_and_encryption() {
        let info = parse_pdf_info(REPORT).unwrap();
        assert_eq!(info.pages, 3);
        assert!((info.width_pts - 959.981).abs() < 1e-9 && (info.height_pts - 540.0).abs() < 1e-9);
        assert!(!info.encrypted);
        let encrypted = REPORT.replace("Encrypted:       no", "Encrypted:       yes (print:yes copy:no)");
        assert!(parse_pdf_info(&encrypted).unwrap().encrypted);
    }

    #[test]
    fn a_report_without_pages_is_unreadable() {
        assert_eq!(parse_pdf_info("Creator: x\n"), None);
    }

    #[test]
    fn a_jpeg_frame_header_gives_its_size() {
        // SOI, an APP0 segment of 4 bytes, then SOF0 of a 1280x720 frame.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0xD0, 0x05, 0x00, 0x03,
        ];
        assert_eq!(jpeg_size(&jpeg), Some((1280, 720)));
        assert_eq!(jpeg_size(&jpeg[..10]), None);
    }

    #[test]
    fn rendered_files_are_numbered_by_page() {
        assert_eq!(page_number("page-007.jpg"), Some(7));
        assert_eq!(page_number("page-12.jpg"), Some(12));
        assert_eq!(page_number("page-x.jpg"), None);
        assert_eq!(page_number("other-1.jpg"), None);
    }
}
