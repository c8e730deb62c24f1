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

const MIB: u64 = 1 << 20;

/// A qemu `json:` file name that opens a host file.
const JSON_BACKING: &str = r#"json:{"driver":"file","filename":"/etc/passwd"}"#;
/// The same object with its quotes escaped, as it sits inside a quoted VMDK extent name.
const JSON_FILE_ESCAPED: &str = r#"{\"driver\":\"file\",\"filename\":\"/etc/passwd\"}"#;

/// How a case's image is made, in a scratch directory of its own.
enum Image {
    /// `qemu-img create ARGS` for each step in order (a base before its child); the image is the
    /// last step's file, then `patch`ed in place.
    Qemu {
        steps: Vec<&'static [&'static str]>,
        patch: fn(&mut Vec<u8>),
    },
    /// A real monolithic sparse VMDK with this embedded descriptor and, if given, header capacity.
    Vmdk {
        descriptor: String,
        capacity: Option<u64>,
    },
    Bytes(Vec<u8>),
}

impl Image {
    fn make(&self, s: &Scratch) -> PathBuf {
        match self {
            Image::Qemu { steps, patch } => {
                let (image, bases) = steps.split_last().expect("at least one step");
                for args in bases {
                    s.qemu_img(args);
                }
                let path = s.qemu_img(image);
                let mut bytes = std::fs::read(&path).unwrap();
                patch(&mut bytes);
                std::fs::write(&path, bytes).unwrap();
                path
            }
            Image::Vmdk { descriptor, capacity } => vmdk_with_descriptor(s, "x.vmdk", descriptor, *capacity),
            Image::Bytes(bytes) => s.write("a.img", bytes),
        }
    }
}

fn qemu(args: &'static [&'static str]) -> Image {
    Image::Qemu { steps: vec![args], patch: |_| {} }
}

fn qemu_over(base: &'static [&'static str], child: &'static [&'static str]) -> Image {
    Image::Qemu { steps: vec![base, child], patch: |_| {} }
}

fn qemu_patched(args: &'static [&'static str], patch: fn(&mut Vec<u8>)) -> Image {
    Image::Qemu { steps: vec![args], patch }
}

fn vmdk(descriptor: impl Into<String>, capacity: Option<u64>) -> Image {
    Image::Vmdk { descriptor: descriptor.into(), capacity }
}

fn accepted(format: DiskFormat, virtual_size: u64) -> Result<Inspected, DiskFormatError> {
    Ok(Inspected { format, virtual_size })
}

fn refers(reference: Reference) -> Result<Inspected, DiskFormatError> {
    Err(DiskFormatError::ExternalReference(reference))
}

/// Inspects the image and compares with `expected` exactly: the format and virtual size, or the
/// refusal with its reason (compared by `Debug`, as the error holds an `io::Error`).
#[track_caller]
fn check(name: &str, image: Image, expected: Result<Inspected, DiskFormatError>) {
    let s = Scratch::new(name);
    let found = inspect_path(&image.make(&s));
    assert_eq!(format!("{found:?}"), format!("{expected:?}"));
}

/// One test per row: `name: image => expected;`.
macro_rules! inspect_cases {
    ($($name:ident: $image:expr => $expected:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $image, $expected);
            }
        )*
    };
}

inspect_cases! {
    // Accepted formats and their virtual sizes.
    qcow2_v3_is_accepted: qemu(&["-f", "qcow2", "a.qcow2", "3M"]) => accepted(DiskFormat::Qcow2, 3 * MIB);
    qcow2_v2_is_accepted:
        qemu(&["-f", "qcow2", "-o", "compat=0.10", "a.qcow2", "1M"])
        => accepted(DiskFormat::Qcow2, MIB);
    qcow2_of_1_pib_is_accepted: qemu(&["-f", "qcow2", "a.qcow2", "1P"]) => accepted(DiskFormat::Qcow2, 1 << 50);
    monolithic_sparse_vmdk_is_accepted: qemu(&["-f", "vmdk", "a.vmdk", "2M"]) => accepted(DiskFormat::Vmdk, 2 * MIB);
    stream_optimized_vmdk_is_accepted:
        qemu(&["-f", "vmdk", "-o", "subformat=streamOptimized", "a.vmdk", "1M"]) => accepted(DiskFormat::Vmdk, MIB);
    dynamic_vhd_is_accepted: qemu(&["-f", "vpc", "a.vhd", "1M"]) => accepted(DiskFormat::Vpc, 1_079_296);
    fixed_vhd_with_only_a_footer_is_accepted:
        qemu(&["-f", "vpc", "-o", "subformat=fixed", "a.vhd", "1M"]) => accepted(DiskFormat::Vpc, 1_079_808);
    raw_is_accepted: qemu(&["-f", "raw", "a.img", "1M"]) => accepted(DiskFormat::Raw, MIB);
    iso_is_accepted: Image::Bytes({
        let mut bytes = vec![0u8; 64 * 1024];
        bytes[0x8001..0x8006].copy_from_slice(b"CD001");
        bytes
    }) => accepted(DiskFormat::Iso, 64 * 1024);

    // Every way a VMDK makes qemu open another file.
    descriptor_only_vmdk_is_refused:
        qemu(&["-f", "vmdk", "-o", "subformat=monolithicFlat", "a.vmdk", "1M"]) => refers(Reference::VmdkExtentFiles);
    split_sparse_vmdk_is_refused:
        qemu(&["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "a.vmdk", "1M"])
        => refers(Reference::VmdkExtentFiles);
    vmdk_sparse_header_with_capacity_zero_is_refused_as_a_descriptor_file:
        vmdk(SPARSE_DESCRIPTOR, Some(0)) => refers(Reference::VmdkExtentFiles);
    vmdk_with_commented_create_type_and_flat_extent_is_refused: vmdk(
        "# Disk DescriptorFile\n#createType=\"monolithicFlat\"\ncreateType=\"monolithicSparse\"\n\
         RW 1 FLAT \"/etc/passwd\" 0\n",
        Some(0),
    ) => refers(Reference::VmdkExtentFiles);
    vmdk_commented_create_type_is_the_one_qemu_reads:
        vmdk(SPARSE_DESCRIPTOR.replace("version=1\n", "version=1\n#createType=\"monolithicFlat\"\n"), None)
        => Err(DiskFormatError::VmdkSubformat("monolithicFlat".into()));
    vmdk_flat_extent_in_an_embedded_descriptor_is_refused:
        vmdk(SPARSE_DESCRIPTOR.replace("RW 2048 SPARSE \"a.vmdk\"", "RW 2048 FLAT \"/etc/passwd\" 0"), None)
        => refers(Reference::VmdkExtentFiles);
    vmdk_sparse_extent_naming_another_path_is_refused:
        vmdk(SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"/etc/passwd\""), None) => refers(Reference::VmdkExtentFiles);
    vmdk_sparse_extent_with_a_json_name_is_refused:
        vmdk(SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", &format!("\"json:{JSON_FILE_ESCAPED}\"")), None)
        => refers(Reference::VmdkExtentFiles);
    vmdk_sparse_extent_with_an_empty_json_name_is_refused:
        vmdk(SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"json:{}\""), None) => refers(Reference::VmdkExtentFiles);
    vmdk_with_two_extents_is_refused:
        vmdk(sparse_descriptor_with("RW 2048 SPARSE \"b.vmdk\"\n"), None) => refers(Reference::VmdkExtentFiles);
    vmdk_read_only_extent_naming_a_host_file_is_refused:
        vmdk(sparse_descriptor_with("RDONLY 8 FLAT \"/etc/shadow\" 0\n"), None) => refers(Reference::VmdkExtentFiles);
    vmdk_parent_file_name_hint_is_refused_even_in_a_comment:
        vmdk(sparse_descriptor_with("# parentFileNameHint=\"/etc/passwd\"\n"), None) => refers(Reference::VmdkParent);
    vmdk_with_a_parent_cid_is_refused:
        vmdk(SPARSE_DESCRIPTOR.replace("parentCID=ffffffff", "parentCID=12345678"), None)
        => refers(Reference::VmdkParent);
    vmdk_descriptor_with_an_unknown_line_is_refused:
        vmdk(sparse_descriptor_with("include \"/etc/passwd\"\n"), None)
        => Err(DiskFormatError::VmdkCorrupt("the descriptor has a malformed line"));

    // Backing files, data files and parents of the other formats.
    qcow2_with_backing_file_is_refused: qemu_over(
        &["-f", "qcow2", "base.qcow2", "1M"],
        &["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "child.qcow2", "1M"],
    ) => refers(Reference::Qcow2BackingFile);
    qcow2_with_a_json_backing_name_is_refused: qemu(
        &["-u", "-f", "qcow2", "-b", JSON_BACKING, "-F", "raw", "child.qcow2", "1M"],
    ) => refers(Reference::Qcow2BackingFile);
    qcow2_with_external_data_file_is_refused:
        qemu(&["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"]) => refers(Reference::Qcow2DataFile);
    qcow2_with_data_file_extension_but_no_feature_bit_is_refused: qemu_patched(
        &["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"],
        |bytes| bytes[72..80].copy_from_slice(&0u64.to_be_bytes()),
    ) => refers(Reference::Qcow2DataFile);
    qed_with_backing_file_is_refused: qemu_over(
        &["-f", "qed", "base.qed", "1M"],
        &["-f", "qed", "-b", "base.qed", "-F", "qed", "child.qed", "1M"],
    ) => refers(Reference::QedBackingFile);
    differencing_vhd_is_refused: qemu_patched(
        &["-f", "vpc", "a.vhd", "1M"],
        |bytes| bytes[60..64].copy_from_slice(&4u32.to_be_bytes()),
    ) => refers(Reference::VhdParent);

    // Unsupported formats, damaged headers and files that are no disk image.
    qed_is_unsupported: qemu(&["-f", "qed", "a.qed", "1M"]) => Err(DiskFormatError::Unsupported("QED"));
    vhdx_is_unsupported: qemu(&["-f", "vhdx", "a.vhdx", "1M"]) => Err(DiskFormatError::Unsupported("VHDX"));
    truncated_qcow2_is_corrupt: qemu_patched(&["-f", "qcow2", "a.img", "1M"], |bytes| bytes.truncate(64))
        => Err(DiskFormatError::Qcow2Corrupt("the header is truncated"));
    gzip_archive_is_named_as_such: Image::Bytes({
        let mut bytes = vec![0u8; 4096];
        bytes[..3].copy_from_slice(b"\x1f\x8b\x08");
        bytes
    }) => Err(DiskFormatError::NotADiskImage("gzip archive"));
    html_page_is_not_a_disk_image: Image::Bytes(b"<html><body>404 Not Found</body></html>\n".to_vec())
        => Err(DiskFormatError::NotADiskImage("text document (an error page?)"));
    odd_sized_binary_is_not_a_disk_image: Image::Bytes(vec![0; 1000])
        => Err(DiskFormatError::NotADiskImage("file whose size is not a whole number of 512-byte sectors"));
    empty_file_is_not_a_disk_image:
        Image::Bytes(Vec::new())
        => Err(DiskFormatError::NotADiskImage("file whose size is not a whole number of 512-byte sectors"));
}

#[test]
fn a_refusal_message_names_no_host_path() {
    let s = Scratch::new("vmdk-msg");
    let descriptor = SPARSE_DESCRIPTOR.replace("\"a.vmdk\"", "\"/etc/passwd\"");
    let message = inspect_path(&vmdk_with_descriptor(&s, "x.vmdk", &descriptor, None)).unwrap_err().to_string();
    assert!(!message.contains("/etc") && message.contains("refers to another file"), "{message}");
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
