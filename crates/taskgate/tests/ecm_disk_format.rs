//! Format detection and safety checks on real images made by `qemu-img create`.

use std::fs::File;
mod common;

use common::Scratch;
use std::path::Path;
use taskgate::products::ecm::disk_format::{DiskFormat, DiskFormatError, inspect};

fn inspect_path(path: &Path) -> Result<DiskFormat, DiskFormatError> {
    let len = std::fs::metadata(path).unwrap().len();
    inspect(&mut File::open(path).unwrap(), len)
}

#[test]
fn qcow2_is_detected() {
    let s = Scratch::new("qcow2");
    assert_eq!(inspect_path(&s.qemu_img(&["-f", "qcow2", "a.img", "1M"])).unwrap(), DiskFormat::Qcow2);
}

#[test]
fn qcow2_v2_is_detected() {
    let s = Scratch::new("qcow2v2");
    let path = s.qemu_img(&["-f", "qcow2", "-o", "compat=0.10", "a.img", "1M"]);
    assert_eq!(inspect_path(&path).unwrap(), DiskFormat::Qcow2);
}

#[test]
fn qcow2_with_backing_file_is_refused() {
    let s = Scratch::new("backing");
    s.qemu_img(&["-f", "qcow2", "base.qcow2", "1M"]);
    let child = s.qemu_img(&["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "child.qcow2", "1M"]);
    assert!(matches!(inspect_path(&child), Err(DiskFormatError::Qcow2BackingFile)));
}

#[test]
fn qcow2_with_external_data_file_is_refused() {
    let s = Scratch::new("datafile");
    let path = s.qemu_img(&["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"]);
    assert!(matches!(inspect_path(&path), Err(DiskFormatError::Qcow2ExternalDataFile)));
}

#[test]
fn qcow2_with_data_file_extension_but_no_feature_bit_is_refused() {
    let s = Scratch::new("dataext");
    let path = s.qemu_img(&["-f", "qcow2", "-o", "data_file=ext.raw", "d.qcow2", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[72..80].copy_from_slice(&0u64.to_be_bytes());
    let tampered = s.write("tampered.qcow2", &bytes);
    assert!(matches!(inspect_path(&tampered), Err(DiskFormatError::Qcow2ExternalDataFile)));
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
fn monolithic_sparse_vmdk_is_accepted() {
    let s = Scratch::new("vmdk");
    assert_eq!(inspect_path(&s.qemu_img(&["-f", "vmdk", "a.vmdk", "1M"])).unwrap(), DiskFormat::Vmdk);
}

#[test]
fn stream_optimized_vmdk_is_accepted() {
    let s = Scratch::new("vmdkso");
    let path = s.qemu_img(&["-f", "vmdk", "-o", "subformat=streamOptimized", "a.vmdk", "1M"]);
    assert_eq!(inspect_path(&path).unwrap(), DiskFormat::Vmdk);
}

#[test]
fn flat_vmdk_descriptor_is_refused() {
    let s = Scratch::new("vmdkflat");
    let path = s.qemu_img(&["-f", "vmdk", "-o", "subformat=monolithicFlat", "a.vmdk", "1M"]);
    match inspect_path(&path) {
        Err(DiskFormatError::VmdkSubformat(kind)) => assert_eq!(kind, "monolithicFlat"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn split_sparse_vmdk_is_refused() {
    let s = Scratch::new("vmdksplit");
    let path = s.qemu_img(&["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "a.vmdk", "1M"]);
    assert!(matches!(inspect_path(&path), Err(DiskFormatError::VmdkSubformat(_))));
}

#[test]
fn dynamic_vhd_is_detected() {
    let s = Scratch::new("vhd");
    assert_eq!(inspect_path(&s.qemu_img(&["-f", "vpc", "a.vhd", "1M"])).unwrap(), DiskFormat::Vpc);
}

#[test]
fn fixed_vhd_is_detected_by_its_footer() {
    let s = Scratch::new("vhdfixed");
    let path = s.qemu_img(&["-f", "vpc", "-o", "subformat=fixed", "a.vhd", "1M"]);
    assert_eq!(inspect_path(&path).unwrap(), DiskFormat::Vpc);
}

#[test]
fn differencing_vhd_is_refused() {
    let s = Scratch::new("vhddiff");
    let path = s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&4u32.to_be_bytes());
    let tampered = s.write("diff.vhd", &bytes);
    assert!(matches!(inspect_path(&tampered), Err(DiskFormatError::VhdDifferencing)));
}

#[test]
fn vhdx_is_unsupported() {
    let s = Scratch::new("vhdx");
    assert!(matches!(inspect_path(&s.qemu_img(&["-f", "vhdx", "a.vhdx", "1M"])), Err(DiskFormatError::Unsupported(_))));
}

#[test]
fn raw_image_is_detected() {
    let s = Scratch::new("raw");
    assert_eq!(inspect_path(&s.qemu_img(&["-f", "raw", "a.img", "1M"])).unwrap(), DiskFormat::Raw);
}

#[test]
fn iso_is_detected() {
    let s = Scratch::new("iso");
    let mut bytes = vec![0u8; 64 * 1024];
    bytes[0x8001..0x8006].copy_from_slice(b"CD001");
    assert_eq!(inspect_path(&s.write("a.iso", &bytes)).unwrap(), DiskFormat::Iso);
}

#[test]
fn html_error_page_is_not_a_disk_image() {
    let s = Scratch::new("html");
    let page = s.write("a.qcow2", b"<html><body>404 Not Found</body></html>\n");
    assert!(matches!(inspect_path(&page), Err(DiskFormatError::NotADiskImage(_))));
}

#[test]
fn gzip_archive_is_not_a_disk_image() {
    let s = Scratch::new("gz");
    let mut bytes = vec![0u8; 4096];
    bytes[..3].copy_from_slice(b"\x1f\x8b\x08");
    match inspect_path(&s.write("a.img", &bytes)) {
        Err(DiskFormatError::NotADiskImage(kind)) => assert_eq!(kind, "gzip archive"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn odd_sized_binary_is_not_a_disk_image() {
    let s = Scratch::new("odd");
    assert!(matches!(inspect_path(&s.write("a.img", &[0u8; 1000])), Err(DiskFormatError::NotADiskImage(_))));
}
