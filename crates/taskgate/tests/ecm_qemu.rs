//! `qemu-img` under limits, on real images.

mod common;

use common::Scratch;
use taskgate::products::ecm::disk_format::DiskFormat;
use taskgate::products::ecm::qemu::{QemuError, QemuLimits, check, convert, info};

#[tokio::test]
async fn info_reports_the_virtual_size() {
    let s = Scratch::new("qinfo");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "3M"]);
    let info = info(&path, DiskFormat::Qcow2, QemuLimits::INSPECT).await.unwrap();
    assert_eq!((info.format.as_str(), info.virtual_size), ("qcow2", 3 * 1024 * 1024));
}

#[tokio::test]
async fn info_with_the_wrong_format_fails() {
    let s = Scratch::new("qwrong");
    let path = s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]);
    assert!(info(&path, DiskFormat::Qcow2, QemuLimits::INSPECT).await.is_err());
}

#[tokio::test]
async fn check_finds_a_corrupt_qcow2() {
    let s = Scratch::new("qcorrupt");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    // Point the refcount table far past the end of the file.
    bytes[48..56].copy_from_slice(&0x7f_ffff_0000u64.to_be_bytes());
    let corrupt = s.write("corrupt.qcow2", &bytes);
    assert!(matches!(check(&corrupt, DiskFormat::Qcow2, QemuLimits::INSPECT).await, Err(QemuError::Corrupt(_))));
}

#[tokio::test]
async fn check_passes_a_sound_qcow2() {
    let s = Scratch::new("qsound");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "1M"]);
    check(&path, DiskFormat::Qcow2, QemuLimits::INSPECT).await.unwrap();
}

#[tokio::test]
async fn convert_changes_the_format() {
    let s = Scratch::new("qconvert");
    let source = s.qemu_img(&["-f", "vmdk", "a.vmdk", "2M"]);
    let target = s.0.join("a.qcow2");
    convert(&source, DiskFormat::Vmdk, &target, "qcow2", QemuLimits::INSPECT).await.unwrap();
    let converted = info(&target, DiskFormat::Qcow2, QemuLimits::INSPECT).await.unwrap();
    assert_eq!(converted.virtual_size, 2 * 1024 * 1024);
}

#[tokio::test]
async fn a_run_past_its_wall_clock_limit_times_out() {
    let s = Scratch::new("qtimeout");
    let source = s.qemu_img(&["-f", "raw", "a.img", "64M"]);
    let limits = QemuLimits { timeout: std::time::Duration::ZERO, ..QemuLimits::INSPECT };
    let result = convert(&source, DiskFormat::Raw, &s.0.join("b.qcow2"), "qcow2", limits).await;
    assert!(matches!(result, Err(QemuError::Timeout { .. })));
}
