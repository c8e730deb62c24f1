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

/// What `inspect` found: the format and the disk size a guest would see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub format: DiskFormat,
    /// The virtual disk size in bytes, from the header (raw and ISO: the file size).
    pub virtual_size: u64,
}

/// A file other than the image itself that qemu would open to read the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    Qcow2BackingFile,
    Qcow2DataFile,
    /// Extent files named by a VMDK descriptor: a text descriptor, a sparse header with
    /// capacity 0 (qemu then reads its descriptor as a descriptor file), or any extent line
    /// other than the single sparse extent of a monolithic image.
    VmdkExtentFiles,
    /// `parentFileNameHint` or a parent CID: a VMDK delta disk.
    VmdkParent,
    QedBackingFile,
    VhdParent,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reference::Qcow2BackingFile => "a qcow2 backing file",
            Reference::Qcow2DataFile => "a qcow2 external data file",
            Reference::VmdkExtentFiles => "VMDK extent files",
            Reference::VmdkParent => "a VMDK parent disk",
            Reference::QedBackingFile => "a QED backing file",
            Reference::VhdParent => "a VHD parent disk",
        })
    }
}

/// Why an image is refused. Every message is meant for the tenant: it names what to fix in
/// product terms and never carries a host path or a tool's output.
#[derive(Debug, thiserror::Error)]
pub enum DiskFormatError {
    #[error("the image refers to another file ({0}); import a standalone image (qemu-img convert -O qcow2)")]
    ExternalReference(Reference),
    #[error("the qcow2 header is corrupt: {0}")]
    Qcow2Corrupt(&'static str),
    #[error("the VMDK subformat `{0}` is not accepted: only monolithicSparse and streamOptimized images are")]
    VmdkSubformat(String),
    #[error("the VMDK descriptor is corrupt: {0}")]
    VmdkCorrupt(&'static str),
    #[error("the VHD footer is corrupt: {0}")]
    VhdCorrupt(&'static str),
    #[error("the file is a {0}, not a disk image")]
    NotADiskImage(&'static str),
    #[error("the image format {0} is not supported: use QCOW2, RAW, VMDK, VHD or ISO")]
    Unsupported(&'static str),
    #[error("the image could not be read")]
    Io(#[from] io::Error),
}

const SECTOR: u64 = 512;
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";
const QED_MAGIC: &[u8; 4] = b"QED\0";
const VMDK_SPARSE_MAGIC: &[u8; 4] = b"KDMV";
const VMDK3_MAGIC: &[u8; 4] = b"COWD";
const VMDK_DESCRIPTOR_START: &[u8] = b"# Disk DescriptorFile";
const VHD_COOKIE: &[u8; 8] = b"conectix";
const ISO_MAGIC_OFFSET: u64 = 0x8001;
/// qcow2 v3 incompatible feature bit: guest data lives in an external file.
const QCOW2_INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// qcow2 header extension holding the external data file name.
const QCOW2_EXT_DATA_FILE: u32 = 0x4441_5441;
/// QED feature bit: the image has a backing file.
const QED_F_BACKING_FILE: u64 = 1;
/// qemu reads this many bytes of a sparse VMDK's descriptor, from byte 512 whatever the
/// header says (`DESC_SIZE` and `desc_offset = 0x200` in qemu's block/vmdk.c).
const VMDK_DESC_SIZE: usize = 20 * SECTOR as usize;
/// A sparse VMDK whose grain directory is in the stream footer (streamOptimized).
const VMDK_GD_AT_END: u64 = u64::MAX;
/// `parentCID` of a VMDK without a parent.
const VMDK_NO_PARENT_CID: &str = "ffffffff";

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

/// Detects the format of an image of `len` bytes, checks that qemu would read nothing but
/// this file to read it, and reads its virtual size from the header.
///
/// A pure function of the bytes: it never opens another file, so it can be fuzzed.
pub fn inspect<R: Read + Seek>(file: &mut R, len: u64) -> Result<Inspected, DiskFormatError> {
    let mut head = vec![0u8; 4096];
    let got = read_at(file, 0, &mut head)?;
    head.truncate(got);
    let found = |format, virtual_size| Ok(Inspected { format, virtual_size });

    if head.starts_with(QCOW2_MAGIC) {
        return found(DiskFormat::Qcow2, check_qcow2(file, &head)?);
    }
    if head.starts_with(VMDK_SPARSE_MAGIC) {
        return found(DiskFormat::Vmdk, check_sparse_vmdk(file, &head, len)?);
    }
    if head.starts_with(QED_MAGIC) {
        return Err(check_qed(&head));
    }
    if head.starts_with(VMDK3_MAGIC) {
        return Err(DiskFormatError::Unsupported("VMware ESX sparse (COWD)"));
    }
    if head.starts_with(VMDK_DESCRIPTOR_START) {
        // A text descriptor always points at extent files beside it.
        return Err(DiskFormatError::ExternalReference(Reference::VmdkExtentFiles));
    }
    if head.starts_with(b"vhdxfile") {
        return Err(DiskFormatError::Unsupported("VHDX"));
    }
    if head.starts_with(VHD_COOKIE) {
        return found(DiskFormat::Vpc, check_vhd_footer(&head[..head.len().min(512)], len)?);
    }
    if len >= SECTOR {
        let mut footer = [0u8; 512];
        if read_at(file, len - SECTOR, &mut footer)? == 512 && footer.starts_with(VHD_COOKIE) {
            return found(DiskFormat::Vpc, check_vhd_footer(&footer, len)?);
        }
    }
    let mut iso = [0u8; 5];
    if read_at(file, ISO_MAGIC_OFFSET, &mut iso)? == 5 && &iso == b"CD001" {
        return found(DiskFormat::Iso, len);
    }
    if let Some(kind) = known_non_disk(&head) {
        return Err(DiskFormatError::NotADiskImage(kind));
    }
    if len == 0 || !len.is_multiple_of(SECTOR) {
        return Err(DiskFormatError::NotADiskImage("file whose size is not a whole number of 512-byte sectors"));
    }
    found(DiskFormat::Raw, len)
}

/// Returns the virtual size.
fn check_qcow2<R: Read + Seek>(file: &mut R, head: &[u8]) -> Result<u64, DiskFormatError> {
    if head.len() < 72 {
        return Err(DiskFormatError::Qcow2Corrupt("the header is truncated"));
    }
    let version = be_u32(head, 4);
    if !(2..=3).contains(&version) {
        return Err(DiskFormatError::Qcow2Corrupt("unknown version"));
    }
    if be_u64(head, 8) != 0 || be_u32(head, 16) != 0 {
        return Err(DiskFormatError::ExternalReference(Reference::Qcow2BackingFile));
    }
    let virtual_size = be_u64(head, 24);
    if version == 2 {
        return Ok(virtual_size);
    }
    if head.len() < 104 {
        return Err(DiskFormatError::Qcow2Corrupt("the version 3 header is truncated"));
    }
    if be_u64(head, 72) & QCOW2_INCOMPAT_DATA_FILE != 0 {
        return Err(DiskFormatError::ExternalReference(Reference::Qcow2DataFile));
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
            0 => return Ok(virtual_size),
            QCOW2_EXT_DATA_FILE => {
                return Err(DiskFormatError::ExternalReference(Reference::Qcow2DataFile));
            }
            _ => offset += 8 + length.div_ceil(8) * 8,
        }
    }
    Err(DiskFormatError::Qcow2Corrupt("header extensions run past the first cluster"))
}

/// QED is refused (qemu deprecates it and Tencent does not import it); one with a backing
/// file says so, as that is what the user must fix first.
fn check_qed(head: &[u8]) -> DiskFormatError {
    if head.len() >= 24 && le_u64(head, 16) & QED_F_BACKING_FILE != 0 {
        return DiskFormatError::ExternalReference(Reference::QedBackingFile);
    }
    DiskFormatError::Unsupported("QED")
}

/// Checks a VMDK with a `KDMV` sparse header the way qemu's `vmdk_open` reads it; returns
/// the virtual size.
///
/// qemu opens no extent named in the embedded descriptor when the capacity is not zero (the
/// image itself is the only extent), but with capacity 0 it parses that descriptor as a
/// descriptor file and opens every `RW` extent, and in every case it takes a backing file
/// from the first `parentFileNameHint` in the 10 KiB from byte 512, comments included.
fn check_sparse_vmdk<R: Read + Seek>(file: &mut R, head: &[u8], len: u64) -> Result<u64, DiskFormatError> {
    if head.len() < 512 {
        return Err(DiskFormatError::VmdkCorrupt("the sparse header is truncated"));
    }
    let (capacity, desc_offset, desc_size, gd_offset) =
        (le_u64(head, 12), le_u64(head, 28), le_u64(head, 36), le_u64(head, 56));
    if capacity == 0 {
        return Err(if desc_offset != 0 {
            DiskFormatError::ExternalReference(Reference::VmdkExtentFiles)
        } else {
            DiskFormatError::VmdkCorrupt("the capacity is zero")
        });
    }
    // Every monolithic image keeps its descriptor in sector 1, where qemu reads it from
    // regardless of the header; elsewhere the two would disagree.
    if desc_offset != 1 || desc_size == 0 || desc_size > VMDK_DESC_SIZE as u64 / SECTOR {
        return Err(DiskFormatError::VmdkCorrupt("the descriptor is not in sectors 1 to 20"));
    }
    let mut descriptor = vec![0u8; VMDK_DESC_SIZE];
    let got = read_at(file, SECTOR, &mut descriptor)?;
    descriptor.truncate(got);
    // qemu reads the descriptor as a C string: nothing after the first NUL counts.
    if let Some(nul) = descriptor.iter().position(|&b| b == 0) {
        descriptor.truncate(nul);
    }
    let text =
        std::str::from_utf8(&descriptor).map_err(|_| DiskFormatError::VmdkCorrupt("the descriptor is not text"))?;
    check_vmdk_descriptor(text)?;

    let capacity = if gd_offset == VMDK_GD_AT_END { stream_footer_capacity(file, len)? } else { capacity };
    capacity.checked_mul(SECTOR).ok_or(DiskFormatError::VmdkCorrupt("the capacity overflows"))
}

/// The capacity in the footer of a stream-optimized VMDK, which takes precedence over the
/// header in qemu: footer marker, footer (magic and header), end-of-stream marker.
fn stream_footer_capacity<R: Read + Seek>(file: &mut R, len: u64) -> Result<u64, DiskFormatError> {
    let end = len.div_ceil(SECTOR) * SECTOR;
    let mut footer = [0u8; 1536];
    if end < 1536 || read_at(file, end - 1536, &mut footer)? < 1024 || &footer[512..516] != VMDK_SPARSE_MAGIC {
        return Err(DiskFormatError::VmdkCorrupt("the stream footer is missing"));
    }
    Ok(le_u64(&footer, 512 + 12))
}

/// The value qemu's `vmdk_parse_description` finds for `key`: the first occurrence of the key
/// anywhere (comments included), two characters skipped, up to the next `"`.
fn qemu_description_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len() + 2;
    let rest = text.get(start..)?;
    rest.find('"').map(|end| &rest[..end])
}

/// Checks every line of a monolithic sparse VMDK's embedded descriptor against the grammar
/// VMware and qemu write; anything else is refused.
fn check_vmdk_descriptor(text: &str) -> Result<(), DiskFormatError> {
    if text.contains("parentFileNameHint") {
        return Err(DiskFormatError::ExternalReference(Reference::VmdkParent));
    }
    let create_type = qemu_description_value(text, "createType")
        .ok_or(DiskFormatError::VmdkCorrupt("the descriptor has no createType"))?;
    if create_type != "monolithicSparse" && create_type != "streamOptimized" {
        return Err(DiskFormatError::VmdkSubformat(printable(create_type)));
    }
    if text.matches("createType").count() != 1 {
        return Err(DiskFormatError::VmdkCorrupt("createType appears more than once"));
    }
    let mut extents = 0;
    for line in text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            check_vmdk_entry(key.trim(), value.trim())?;
            continue;
        }
        check_vmdk_extent(line)?;
        extents += 1;
    }
    if extents != 1 {
        return Err(DiskFormatError::ExternalReference(Reference::VmdkExtentFiles));
    }
    Ok(())
}

/// A `key = value` line of the descriptor or of its disk database.
fn check_vmdk_entry(key: &str, value: &str) -> Result<(), DiskFormatError> {
    let known = matches!(key, "version" | "CID" | "parentCID" | "createType" | "encoding" | "isNativeSnapshot")
        || key
            .strip_prefix("ddb.")
            .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    if !known {
        return Err(DiskFormatError::VmdkCorrupt("the descriptor has an unknown entry"));
    }
    let unquoted = match value.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').filter(|v| !v.contains('"')),
        None => Some(value).filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))),
    }
    .ok_or(DiskFormatError::VmdkCorrupt("the descriptor has a malformed value"))?;
    if key == "parentCID" && !unquoted.eq_ignore_ascii_case(VMDK_NO_PARENT_CID) {
        return Err(DiskFormatError::ExternalReference(Reference::VmdkParent));
    }
    Ok(())
}

/// An extent line `ACCESS SECTORS TYPE "NAME" [OFFSET]`. The one extent of a monolithic
/// sparse image is the image itself, and qemu never opens its name; any other extent, or a
/// name that is a path or a qemu protocol (`json:`, `nbd:` …), is a reference to another file.
fn check_vmdk_extent(line: &str) -> Result<(), DiskFormatError> {
    let malformed = DiskFormatError::VmdkCorrupt("the descriptor has a malformed line");
    let mut fields = line.splitn(3, char::is_whitespace);
    let (access, sectors, rest) = (fields.next(), fields.next(), fields.next().map(str::trim_start));
    let (Some(access), Some(sectors), Some(rest)) = (access, sectors, rest) else {
        return Err(malformed);
    };
    if !matches!(access, "RW" | "RDONLY" | "NOACCESS") || sectors.parse::<u64>().is_err() {
        return Err(malformed);
    }
    let Some((kind, name)) = rest.split_once(char::is_whitespace) else {
        return Err(malformed);
    };
    let Some(name) = name.trim_start().strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        // A trailing offset: only flat extents have one.
        return Err(DiskFormatError::ExternalReference(Reference::VmdkExtentFiles));
    };
    let plain = !name.is_empty() && !name.contains(['/', '\\', ':', '"']) && name != "." && name != "..";
    if kind != "SPARSE" || !plain {
        return Err(DiskFormatError::ExternalReference(Reference::VmdkExtentFiles));
    }
    Ok(())
}

/// At most 64 printable ASCII characters of a value taken from the image, for a message.
fn printable(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(64).collect()
}

/// Checks a VHD footer; returns the virtual size: the largest of the current size, the CHS
/// geometry and, for a fixed disk, the file size (qemu reports that for its own fixed VHDs), as qemu takes one or the other
/// depending on the creator application and the disk type.
fn check_vhd_footer(footer: &[u8], len: u64) -> Result<u64, DiskFormatError> {
    const FIXED: u32 = 2;
    const DYNAMIC: u32 = 3;
    const DIFFERENCING: u32 = 4;
    if footer.len() < 64 {
        return Err(DiskFormatError::VhdCorrupt("the footer is truncated"));
    }
    let fixed_file_size = match be_u32(footer, 60) {
        FIXED => len,
        DYNAMIC => 0,
        DIFFERENCING => return Err(DiskFormatError::ExternalReference(Reference::VhdParent)),
        _ => return Err(DiskFormatError::VhdCorrupt("unknown disk type")),
    };
    let current_size = be_u64(footer, 48);
    let (cylinders, heads, sectors) =
        (u64::from(u16::from_be_bytes([footer[56], footer[57]])), u64::from(footer[58]), u64::from(footer[59]));
    Ok(current_size.max(cylinders * heads * sectors * SECTOR).max(fixed_file_size))
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
