//! Format detection, virtual sizes and refusal of every image that makes qemu open another
//! file, on real images made by `qemu-img create` and on byte-crafted ones.

use std::fs::File;
mod common;

use common::Scratch;
use proptest::prelude::*;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use taskgate::products::ecm::disk_format::{DiskFormat, DiskFormatError, Inspected, Reference, inspect};

fn inspect_path(path: &Path) -> Result<Inspected, DiskFormatError> {
    let len = std::fs::metadata(path).unwrap().len();
    inspect(&mut File::open(path).unwrap(), len)
}

fn assert_refers_to(path: &Path, expected: Reference) {
    match inspect_path(path) {
        Err(DiskFormatError::ExternalReference(found)) => assert_eq!(found, expected),
        other => panic!("expected a refused {expected:?}, got {other:?}"),
    }
}

/// The descriptor qemu-img writes into a monolithic sparse VMDK of 2048 sectors.
const SPARSE_DESCRIPTOR: &str = "# Disk DescriptorFile\nversion=1\nCID=f2c05116\nparentCID=ffffffff\n\
createType=\"monolithicSparse\"\n\n# Extent description\nRW 2048 SPARSE \"a.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n\
ddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"2\"\nddb.geometry.heads = \"16\"\n\
ddb.geometry.sectors = \"63\"\nddb.adapterType = \"ide\"\n";

/// A real 1 MiB monolithic sparse VMDK whose embedded descriptor is replaced by `descriptor`
/// and, if given, whose header capacity (sectors) is replaced.
fn vmdk_with_descriptor(s: &Scratch, name: &str, descriptor: &str, capacity: Option<u64>) -> PathBuf {
    let path = s.qemu_img(&["-f", "vmdk", "base.vmdk", "1M"]);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[512..512 + 10240].fill(0);
    bytes[512..512 + descriptor.len()].copy_from_slice(descriptor.as_bytes());
    if let Some(capacity) = capacity {
        bytes[12..20].copy_from_slice(&capacity.to_le_bytes());
    }
    s.write(name, &bytes)
}

fn sparse_descriptor_with(extra: &str) -> String {
    SPARSE_DESCRIPTOR.replace("# Extent description\n", &format!("# Extent description\n{extra}"))
}

// Every external-file vector, one test each.

#[test]
fn vmdk_with_commented_create_type_and_flat_extent_is_refused() {
    let s = Scratch::new("vmdk-comment-flat");
    let descriptor = "# Disk DescriptorFile\n#createType=\"monolithicFlat\"\ncreateType=\"monolithicSparse\"\n\
RW 1 FLAT \"/etc/passwd\" 0\n";
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", descriptor, Some(0)), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_sparse_header_with_capacity_zero_is_refused_as_a_descriptor_file() {
    let s = Scratch::new("vmdk-cap0");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", SPARSE_DESCRIPTOR, Some(0)), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_commented_create_type_is_the_one_qemu_reads() {
    let s = Scratch::new("vmdk-comment-ct");
    let descriptor = SPARSE_DESCRIPTOR.replace("version=1\n", "version=1\n#createType=\"monolithicFlat\"\n");
    match inspect_path(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None)) {
        Err(DiskFormatError::VmdkSubformat(kind)) => assert_eq!(kind, "monolithicFlat"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn vmdk_flat_extent_in_an_embedded_descriptor_is_refused() {
    let s = Scratch::new("vmdk-flat-extent");
    let descriptor = SPARSE_DESCRIPTOR.replace("RW 2048 SPARSE \"a.vmdk\"", "RW 2048 FLAT \"/etc/passwd\" 0");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_sparse_extent_naming_another_path_is_refused() {
    let s = Scratch::new("vmdk-sparse-path");
    let descriptor = SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"/etc/passwd\"");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_sparse_extent_with_a_json_name_is_refused() {
    let s = Scratch::new("vmdk-json");
    let json = r#""json:{\"driver\":\"file\",\"filename\":\"/etc/passwd\"}""#;
    let descriptor = SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", json);
    assert!(inspect_path(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None)).is_err());
    let descriptor = SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"json:{}\"");
    assert_refers_to(&vmdk_with_descriptor(&s, "y.vmdk", &descriptor, None), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_with_two_extents_is_refused() {
    let s = Scratch::new("vmdk-two");
    let descriptor = sparse_descriptor_with("RW 2048 SPARSE \"b.vmdk\"\n");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_read_only_extent_naming_a_host_file_is_refused() {
    let s = Scratch::new("vmdk-rdonly");
    let descriptor = sparse_descriptor_with("RDONLY 8 FLAT \"/etc/shadow\" 0\n");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkExtentFiles);
}

#[test]
fn vmdk_parent_file_name_hint_is_refused_even_in_a_comment() {
    let s = Scratch::new("vmdk-parent");
    let descriptor = sparse_descriptor_with("# parentFileNameHint=\"/etc/passwd\"\n");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkParent);
}

#[test]
fn vmdk_with_a_parent_cid_is_refused() {
    let s = Scratch::new("vmdk-pcid");
    let descriptor = SPARSE_DESCRIPTOR.replace("parentCID=ffffffff", "parentCID=12345678");
    assert_refers_to(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None), Reference::VmdkParent);
}

#[test]
fn vmdk_descriptor_with_an_unknown_line_is_refused() {
    let s = Scratch::new("vmdk-unknown");
    let descriptor = sparse_descriptor_with("include \"/etc/passwd\"\n");
    assert!(matches!(
        inspect_path(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None)),
        Err(DiskFormatError::VmdkCorrupt(_))
    ));
}

#[test]
fn descriptor_only_vmdk_is_refused() {
    let s = Scratch::new("vmdkflat");
    let path = s.qemu_img(&["-f", "vmdk", "-o", "subformat=monolithicFlat", "a.vmdk", "1M"]);
    assert_refers_to(&path, Reference::VmdkExtentFiles);
}

#[test]
fn split_sparse_vmdk_is_refused() {
    let s = Scratch::new("vmdksplit");
    let path = s.qemu_img(&["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "a.vmdk", "1M"]);
    assert_refers_to(&path, Reference::VmdkExtentFiles);
}

#[test]
fn qcow2_with_backing_file_is_refused() {
    let s = Scratch::new("backing");
    s.qemu_img(&["-f", "qcow2", "base.qcow2", "1M"]);
    let child = s.qemu_img(&["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "child.qcow2", "1M"]);
    assert_refers_to(&child, Reference::Qcow2BackingFile);
}

#[test]
fn qcow2_with_a_json_backing_name_is_refused() {
    let s = Scratch::new("backing-json");
    let json = r#"json:{"driver":"file","filename":"/etc/passwd"}"#;
    let child = s.qemu_img(&["-u", "-f", "qcow2", "-b", json, "-F", "raw", "child.qcow2", "1M"]);
    assert_refers_to(&child, Reference::Qcow2BackingFile);
}

#[test]
fn qcow2_with_external_data_file_is_refused() {
    let s = Scratch::new("datafile");
    let path = s.qemu_img(&["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"]);
    assert_refers_to(&path, Reference::Qcow2DataFile);
}

#[test]
fn qcow2_with_data_file_extension_but_no_feature_bit_is_refused() {
    let s = Scratch::new("dataext");
    let path = s.qemu_img(&["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[72..80].copy_from_slice(&0u64.to_be_bytes());
    assert_refers_to(&s.write("tampered.qcow2", &bytes), Reference::Qcow2DataFile);
}

#[test]
fn qed_with_backing_file_is_refused() {
    let s = Scratch::new("qed-backing");
    s.qemu_img(&["-f", "qed", "base.qed", "1M"]);
    let child = s.qemu_img(&["-f", "qed", "-b", "base.qed", "-F", "qed", "child.qed", "1M"]);
    assert_refers_to(&child, Reference::QedBackingFile);
}

#[test]
fn differencing_vhd_is_refused() {
    let s = Scratch::new("vhddiff");
    let path = s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&4u32.to_be_bytes());
    assert_refers_to(&s.write("diff.vhd", &bytes), Reference::VhdParent);
}

#[test]
fn truncated_qcow2_is_corrupt() {
    let s = Scratch::new("trunc");
    let path = s.qemu_img(&["-f", "qcow2", "a.img", "1M"]);
    let bytes = std::fs::read(&path).unwrap();
    let truncated = s.write("t.qcow2", &bytes[..64]);
    assert!(matches!(inspect_path(&truncated), Err(DiskFormatError::Qcow2Corrupt(_))));
}

#[test]
fn gzip_archive_is_named_as_such() {
    let s = Scratch::new("gz");
    let mut bytes = vec![0u8; 4096];
    bytes[..3].copy_from_slice(b"\x1f\x8b\x08");
    match inspect_path(&s.write("a.img", &bytes)) {
        Err(DiskFormatError::NotADiskImage(kind)) => assert_eq!(kind, "gzip archive"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refusal_message_names_no_host_path() {
    let s = Scratch::new("vmdk-msg");
    let descriptor = SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"/etc/passwd\"");
    let message = inspect_path(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None)).unwrap_err().to_string();
    assert!(!message.contains("/etc") && message.contains("refers to another file"), "{message}");
}

// The table: every format, its virtual size, and what is refused.

#[derive(Debug)]
enum Expected {
    Accepted(DiskFormat, u64),
    Refers(Reference),
    /// The `Debug` of the error starts with this.
    Refused(&'static str),
}

type Builder = fn(&Scratch) -> PathBuf;

const MIB: u64 = 1 << 20;

#[test]
fn inspect_table() {
    let table: &[(&str, Builder, Expected)] = &[
        ("qcow2 v3", |s| s.qemu_img(&["-f", "qcow2", "a.qcow2", "3M"]), Expected::Accepted(DiskFormat::Qcow2, 3 * MIB)),
        (
            "qcow2 v2",
            |s| s.qemu_img(&["-f", "qcow2", "-o", "compat=0.10", "a.qcow2", "1M"]),
            Expected::Accepted(DiskFormat::Qcow2, MIB),
        ),
        (
            "qcow2 1 PiB",
            |s| s.qemu_img(&["-f", "qcow2", "a.qcow2", "1P"]),
            Expected::Accepted(DiskFormat::Qcow2, 1 << 50),
        ),
        (
            "monolithic sparse vmdk",
            |s| s.qemu_img(&["-f", "vmdk", "a.vmdk", "2M"]),
            Expected::Accepted(DiskFormat::Vmdk, 2 * MIB),
        ),
        (
            "stream-optimized vmdk",
            |s| s.qemu_img(&["-f", "vmdk", "-o", "subformat=streamOptimized", "a.vmdk", "1M"]),
            Expected::Accepted(DiskFormat::Vmdk, MIB),
        ),
        ("dynamic vhd", |s| s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]), Expected::Accepted(DiskFormat::Vpc, 1_079_296)),
        (
            "fixed vhd (footer only)",
            |s| s.qemu_img(&["-f", "vpc", "-o", "subformat=fixed", "a.vhd", "1M"]),
            Expected::Accepted(DiskFormat::Vpc, 1_079_808),
        ),
        ("raw", |s| s.qemu_img(&["-f", "raw", "a.img", "1M"]), Expected::Accepted(DiskFormat::Raw, MIB)),
        (
            "iso",
            |s| {
                let mut bytes = vec![0u8; 64 * 1024];
                bytes[0x8001..0x8006].copy_from_slice(b"CD001");
                s.write("a.iso", &bytes)
            },
            Expected::Accepted(DiskFormat::Iso, 64 * 1024),
        ),
        (
            "vmdk descriptor file",
            |s| s.qemu_img(&["-f", "vmdk", "-o", "subformat=monolithicFlat", "a.vmdk", "1M"]),
            Expected::Refers(Reference::VmdkExtentFiles),
        ),
        (
            "vmdk capacity 0",
            |s| vmdk_with_descriptor(s, "x.vmdk", SPARSE_DESCRIPTOR, Some(0)),
            Expected::Refers(Reference::VmdkExtentFiles),
        ),
        ("qed", |s| s.qemu_img(&["-f", "qed", "a.qed", "1M"]), Expected::Refused("Unsupported(\"QED\")")),
        ("vhdx", |s| s.qemu_img(&["-f", "vhdx", "a.vhdx", "1M"]), Expected::Refused("Unsupported(\"VHDX\")")),
        (
            "html page",
            |s| s.write("a.qcow2", b"<html><body>404 Not Found</body></html>\n"),
            Expected::Refused("NotADiskImage"),
        ),
        ("odd-sized binary", |s| s.write("a.img", &[0u8; 1000]), Expected::Refused("NotADiskImage")),
        ("empty file", |s| s.write("a.img", &[]), Expected::Refused("NotADiskImage")),
    ];
    for (name, build, expected) in table {
        let s = Scratch::new(&format!("table-{}", name.replace(' ', "-")));
        let found = inspect_path(&build(&s));
        match (expected, &found) {
            (Expected::Accepted(format, size), Ok(inspected)) => {
                assert_eq!((inspected.format, inspected.virtual_size), (*format, *size), "{name}")
            }
            (Expected::Refers(reference), Err(DiskFormatError::ExternalReference(found))) => {
                assert_eq!(found, reference, "{name}")
            }
            (Expected::Refused(prefix), Err(error)) if format!("{error:?}").starts_with(prefix) => {}
            _ => panic!("{name}: expected {expected:?}, found {found:?}"),
        }
    }
}

// Properties: no input panics; no mutation of a valid header gets an external reference past.

fn seed_images() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(make_seed_images)
}

fn make_seed_images() -> Vec<Vec<u8>> {
    let s = Scratch::new("proptest-seeds");
    let paths = [
        s.qemu_img(&["-f", "qcow2", "a.qcow2", "1M"]),
        s.qemu_img(&["-f", "vmdk", "a.vmdk", "1M"]),
        s.qemu_img(&["-f", "vmdk", "-o", "subformat=streamOptimized", "s.vmdk", "1M"]),
        s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]),
    ];
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Byte strings that turn a header or descriptor into one naming another file.
const POISON: &[&[u8]] = &[
    b"parentFileNameHint=\"/etc/passwd\"\n",
    b"RW 8 FLAT \"/etc/passwd\" 0\n",
    b"RW 8 SPARSE \"json:{}\"\n",
    b"#createType=\"monolithicFlat\"\n",
    b"parentCID=00000001\n",
    b"\0\0\0\0\0\0\0\0",
    b"\0\0\0\0\0\0\x02\0",
    b"\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x44\x41\x54\x41\0\0\0\x08/etc/pwd",
];

/// What qemu itself opens for the image, from `qemu-img info` (unconfined, in a scratch dir):
/// whether it reports any file but the image. An image qemu cannot open reports none.
fn qemu_sees_another_file(path: &Path, format: DiskFormat) -> bool {
    let output = std::process::Command::new("qemu-img")
        .args(["info", "--output=json", "-f", format.qemu_name()])
        .arg(path)
        .output()
        .unwrap();
    if !output.status.success() {
        return false;
    }
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let own = path.to_str().unwrap();
    let extents = info["format-specific"]["data"]["extents"].as_array().cloned().unwrap_or_default();
    info.get("backing-filename").is_some()
        || info["format-specific"]["data"].get("data-file").is_some()
        || extents.iter().any(|e| e["filename"].as_str() != Some(own))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20_000), magic in 0usize..6) {
        let mut bytes = bytes;
        let magics: [&[u8]; 6] = [b"QFI\xfb", b"KDMV", b"QED\0", b"conectix", b"# Disk DescriptorFile", b""];
        let m = magics[magic];
        if bytes.len() >= m.len() {
            bytes[..m.len()].copy_from_slice(m);
        }
        let len = bytes.len() as u64;
        let _ = inspect(&mut Cursor::new(bytes), len);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn mutated_valid_headers_never_pass_with_an_external_reference(
        seed in 0usize..4,
        flips in proptest::collection::vec((0usize..12_000, any::<u8>()), 0..6),
        poison in proptest::option::of((0usize..POISON.len(), 0usize..1_200)),
    ) {
        let mut bytes = seed_images()[seed].clone();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        let mut poisoned_descriptor = false;
        if let Some((which, at)) = poison {
            let token = POISON[which];
            // Header fields (capacity, offsets) sit in the first 100 bytes, the descriptor after 512.
            let at = if at < 100 { at } else { 512 + at };
            bytes[at..at + token.len()].copy_from_slice(token);
            poisoned_descriptor = seed == 1 && bytes.starts_with(b"KDMV") && at >= 512 && which < 2 && !bytes[512..at].contains(&0);
        }
        let len = bytes.len() as u64;
        if let Ok(inspected) = inspect(&mut Cursor::new(bytes.clone()), len) {
            prop_assert!(!poisoned_descriptor, "a descriptor naming a host file passed");
            let s = Scratch::new("proptest-mutant");
            let path = s.write("m.img", &bytes);
            prop_assert!(!qemu_sees_another_file(&path, inspected.format), "qemu opens another file for {:?}", inspected.format);
        }
    }
}
