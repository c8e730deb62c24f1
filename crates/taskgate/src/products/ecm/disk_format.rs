//! Disk image format detection and safety checks from the bytes themselves, before any
//! `qemu-img` call: the name of a file proves nothing, and a qcow2 or VMDK can make qemu read
//! other files of the host (Glance CVE-2024-32498), so such images are refused here.

use std::io::{self, Read, Seek, SeekFrom};

/// A format taskgate imports, named as `qemu-img -f` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Qcow2,
    Vmdk,
    Vpc,
    Iso,
    Raw,
}

impl DiskFormat {
    pub fn qemu_name(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Vpc => "vpc",
            // qemu reads an ISO 9660 image as a raw disk.
            DiskFormat::Iso | DiskFormat::Raw => "raw",
        }
    }

    /// The name users see in messages and in DescribeImage.
    pub fn display_name(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "QCOW2",
            DiskFormat::Vmdk => "VMDK",
            DiskFormat::Vpc => "VHD",
            DiskFormat::Iso => "ISO",
            DiskFormat::Raw => "RAW",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiskFormatError {
    #[error("the qcow2 image refers to a backing file; import a standalone image (qemu-img convert -O qcow2)")]
    Qcow2BackingFile,
    #[error("the qcow2 image keeps its data in an external data file; import a standalone image")]
    Qcow2ExternalDataFile,
    #[error("the qcow2 header is corrupt: {0}")]
    Qcow2Corrupt(&'static str),
    #[error("the VMDK subformat `{0}` is not accepted: only monolithicSparse and streamOptimized images are")]
    VmdkSubformat(String),
    #[error("the VMDK descriptor is corrupt: {0}")]
    VmdkCorrupt(&'static str),
    #[error("the VHD is a differencing disk that needs its parent; import a standalone image")]
    VhdDifferencing,
    #[error("the file is a {0}, not a disk image")]
    NotADiskImage(&'static str),
    #[error("the image format {0} is not supported: use QCOW2, RAW, VMDK, VHD or ISO")]
    Unsupported(&'static str),
    #[error("reading the image failed: {0}")]
    Io(#[from] io::Error),
}

const SECTOR: u64 = 512;
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";
const VMDK_SPARSE_MAGIC: &[u8; 4] = b"KDMV";
const VMDK_DESCRIPTOR_START: &[u8] = b"# Disk DescriptorFile";
const VHD_COOKIE: &[u8; 8] = b"conectix";
const ISO_MAGIC_OFFSET: u64 = 0x8001;
/// qcow2 v3 incompatible feature bit: guest data lives in an external file.
const QCOW2_INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// qcow2 header extension holding the external data file name.
const QCOW2_EXT_DATA_FILE: u32 = 0x4441_5441;
/// A VMDK descriptor is a few hundred bytes; refuse to read an absurd one.
const MAX_VMDK_DESCRIPTOR: u64 = 64 * 1024;

fn read_at<R: Read + Seek>(file: &mut R, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Detects the format of an image of `len` bytes and checks that it is safe to hand to qemu.
pub fn inspect<R: Read + Seek>(file: &mut R, len: u64) -> Result<DiskFormat, DiskFormatError> {
    let mut head = vec![0u8; 4096];
    let got = read_at(file, 0, &mut head)?;
    head.truncate(got);

    if head.starts_with(QCOW2_MAGIC) {
        check_qcow2(file, &head)?;
        return Ok(DiskFormat::Qcow2);
    }
    if head.starts_with(VMDK_SPARSE_MAGIC) {
        check_sparse_vmdk(file, &head)?;
        return Ok(DiskFormat::Vmdk);
    }
    if head.starts_with(VMDK_DESCRIPTOR_START) {
        // A text descriptor always points at extent files beside it.
        let text = String::from_utf8_lossy(&head);
        let subformat = vmdk_create_type(&text).unwrap_or("descriptor file");
        return Err(DiskFormatError::VmdkSubformat(subformat.to_owned()));
    }
    if head.starts_with(b"vhdxfile") {
        return Err(DiskFormatError::Unsupported("VHDX"));
    }
    if head.starts_with(VHD_COOKIE) {
        check_vhd_footer(&head[..head.len().min(512)])?;
        return Ok(DiskFormat::Vpc);
    }
    if len >= SECTOR {
        let mut footer = [0u8; 512];
        if read_at(file, len - SECTOR, &mut footer)? == 512 && footer.starts_with(VHD_COOKIE) {
            check_vhd_footer(&footer)?;
            return Ok(DiskFormat::Vpc);
        }
    }
    let mut iso = [0u8; 5];
    if read_at(file, ISO_MAGIC_OFFSET, &mut iso)? == 5 && &iso == b"CD001" {
        return Ok(DiskFormat::Iso);
    }
    if let Some(kind) = known_non_disk(&head) {
        return Err(DiskFormatError::NotADiskImage(kind));
    }
    if len == 0 || !len.is_multiple_of(SECTOR) {
        return Err(DiskFormatError::NotADiskImage("file whose size is not a whole number of 512-byte sectors"));
    }
    Ok(DiskFormat::Raw)
}

fn check_qcow2<R: Read + Seek>(file: &mut R, head: &[u8]) -> Result<(), DiskFormatError> {
    if head.len() < 72 {
        return Err(DiskFormatError::Qcow2Corrupt("the header is truncated"));
    }
    let version = be_u32(head, 4);
    if !(2..=3).contains(&version) {
        return Err(DiskFormatError::Qcow2Corrupt("unknown version"));
    }
    if be_u64(head, 8) != 0 || be_u32(head, 16) != 0 {
        return Err(DiskFormatError::Qcow2BackingFile);
    }
    if version == 2 {
        return Ok(());
    }
    if head.len() < 104 {
        return Err(DiskFormatError::Qcow2Corrupt("the version 3 header is truncated"));
    }
    if be_u64(head, 72) & QCOW2_INCOMPAT_DATA_FILE != 0 {
        return Err(DiskFormatError::Qcow2ExternalDataFile);
    }
    let header_length = u64::from(be_u32(head, 100));
    if header_length < 104 {
        return Err(DiskFormatError::Qcow2Corrupt("header length below 104 bytes"));
    }
    // Header extensions follow the header up to the first cluster; a data-file extension
    // without the feature bit is still refused, as Glance does.
    let cluster_bits = be_u32(head, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(DiskFormatError::Qcow2Corrupt("cluster size out of range"));
    }
    let cluster_size = 1u64 << cluster_bits;
    let mut offset = header_length;
    let mut ext = [0u8; 8];
    while offset + 8 <= cluster_size {
        if read_at(file, offset, &mut ext)? < 8 {
            return Err(DiskFormatError::Qcow2Corrupt("header extensions are truncated"));
        }
        let (kind, length) = (be_u32(&ext, 0), u64::from(be_u32(&ext, 4)));
        match kind {
            0 => return Ok(()),
            QCOW2_EXT_DATA_FILE => return Err(DiskFormatError::Qcow2ExternalDataFile),
            _ => offset += 8 + length.div_ceil(8) * 8,
        }
    }
    Err(DiskFormatError::Qcow2Corrupt("header extensions run past the first cluster"))
}

fn check_sparse_vmdk<R: Read + Seek>(file: &mut R, head: &[u8]) -> Result<(), DiskFormatError> {
    if head.len() < 512 {
        return Err(DiskFormatError::VmdkCorrupt("the sparse header is truncated"));
    }
    let (offset, size) = (le_u64(head, 28), le_u64(head, 36));
    if offset == 0 || size == 0 || size.saturating_mul(SECTOR) > MAX_VMDK_DESCRIPTOR {
        return Err(DiskFormatError::VmdkCorrupt("no embedded descriptor"));
    }
    let mut descriptor = vec![0u8; (size * SECTOR) as usize];
    let got = read_at(file, offset.saturating_mul(SECTOR), &mut descriptor)?;
    descriptor.truncate(got);
    let text = String::from_utf8_lossy(&descriptor);
    let text = text.trim_end_matches('\0');
    let create_type = vmdk_create_type(text).ok_or(DiskFormatError::VmdkCorrupt("the descriptor has no createType"))?;
    if create_type != "monolithicSparse" && create_type != "streamOptimized" {
        return Err(DiskFormatError::VmdkSubformat(create_type.to_owned()));
    }
    // A monolithic image holds exactly one extent: itself.
    let extents = text.lines().filter(|l| ["RW ", "RDONLY ", "NOACCESS "].iter().any(|p| l.trim_start().starts_with(p))).count();
    if extents != 1 {
        return Err(DiskFormatError::VmdkCorrupt("a monolithic image must describe exactly one extent"));
    }
    Ok(())
}

fn vmdk_create_type(descriptor: &str) -> Option<&str> {
    descriptor.lines().find_map(|line| {
        let value = line.trim().strip_prefix("createType")?.trim_start().strip_prefix('=')?;
        Some(value.trim().trim_matches('"'))
    })
}

fn check_vhd_footer(footer: &[u8]) -> Result<(), DiskFormatError> {
    const DIFFERENCING: u32 = 4;
    if footer.len() >= 64 && be_u32(footer, 60) == DIFFERENCING {
        return Err(DiskFormatError::VhdDifferencing);
    }
    Ok(())
}

/// Files users upload by mistake, recognised so the message says what they uploaded.
fn known_non_disk(head: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "gzip archive"),
        (b"PK\x03\x04", "zip archive"),
        (b"\xfd7zXZ\x00", "xz archive"),
        (b"BZh", "bzip2 archive"),
        (b"\x28\xb5\x2f\xfd", "zstd archive"),
        (b"ustar", "tar archive"),
        (b"\x89PNG", "PNG picture"),
        (b"%PDF", "PDF document"),
    ];
    if let Some((_, kind)) = MAGICS.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(kind);
    }
    if head.len() > 262 && &head[257..262] == b"ustar" {
        return Some("tar archive");
    }
    let sample = &head[..head.len().min(512)];
    let looks_textual = !sample.is_empty()
        && sample.iter().all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
    looks_textual.then_some("text document (an error page?)")
}
