//! `qemu-img` under limits and in its Landlock sandbox, on real images and the real kernel.

mod common;

use common::Scratch;
use std::time::Duration;
use taskgate::capabilities::landlock_available;
use taskgate::products::ecm::disk_format::DiskFormat;
use taskgate::products::ecm::qemu::{INSPECT_LIMITS, QemuError, QemuImg};
use taskgate::sandbox::{Confinement, Limits};

fn confined() -> QemuImg {
    QemuImg { program: "qemu-img".into(), confinement: Confinement::Landlock }
}

fn unconfined() -> QemuImg {
    QemuImg { program: "qemu-img".into(), confinement: Confinement::RlimitsOnly }
}

#[tokio::test]
async fn info_reports_the_virtual_size() {
    let s = Scratch::new("qinfo");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "3M"]);
    let info = confined().info(&path, DiskFormat::Qcow2, INSPECT_LIMITS).await.unwrap();
    assert_eq!((info.format.as_str(), info.virtual_size), ("qcow2", 3 * 1024 * 1024));
}

#[tokio::test]
async fn info_with_the_wrong_format_fails() {
    let s = Scratch::new("qwrong");
    let path = s.qemu_img(&["-f", "vpc", "a.vhd", "1M"]);
    // The same run with the right format reads the image: only the forced format differs.
    let right = confined().info(&path, DiskFormat::Vpc, INSPECT_LIMITS).await.unwrap();
    assert_eq!(right.format, "vpc");
    let wrong = confined().info(&path, DiskFormat::Qcow2, INSPECT_LIMITS).await;
    assert!(matches!(wrong, Err(QemuError::Failed)), "{wrong:?}");
}

#[tokio::test]
async fn check_finds_a_corrupt_qcow2() {
    let s = Scratch::new("qcorrupt");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "1M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    // Point the refcount table far past the end of the file.
    bytes[48..56].copy_from_slice(&0x7f_ffff_0000u64.to_be_bytes());
    let corrupt = s.write("corrupt.qcow2", &bytes);
    assert!(matches!(confined().check(&corrupt, DiskFormat::Qcow2, INSPECT_LIMITS).await, Err(QemuError::Corrupt)));
}

#[tokio::test]
async fn check_passes_a_sound_qcow2() {
    let s = Scratch::new("qsound");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "1M"]);
    confined().check(&path, DiskFormat::Qcow2, INSPECT_LIMITS).await.unwrap();
}

#[tokio::test]
async fn convert_changes_the_format() {
    let s = Scratch::new("qconvert");
    let source = s.qemu_img(&["-f", "vmdk", "a.vmdk", "2M"]);
    let target = s.0.join("a.qcow2");
    let limits = Limits { file_size_bytes: 1 << 30, ..INSPECT_LIMITS };
    confined().convert(&source, DiskFormat::Vmdk, &target, "qcow2", limits).await.unwrap();
    let converted = confined().info(&target, DiskFormat::Qcow2, INSPECT_LIMITS).await.unwrap();
    assert_eq!(converted.virtual_size, 2 * 1024 * 1024);
}

#[tokio::test]
async fn a_run_past_its_wall_clock_limit_times_out() {
    let s = Scratch::new("qtimeout");
    let source = s.qemu_img(&["-f", "raw", "a.img", "64M"]);
    let limits = Limits { timeout: Duration::ZERO, ..INSPECT_LIMITS };
    let result = confined().convert(&source, DiskFormat::Raw, &s.0.join("b.qcow2"), "qcow2", limits).await;
    assert!(matches!(result, Err(QemuError::Timeout { timeout: Duration::ZERO })), "{result:?}");
}

#[tokio::test]
async fn confined_qemu_img_cannot_read_a_file_it_was_not_given() {
    let s = Scratch::new("sandbox-deny");
    let sentinel = s.write("sentinel.raw", &[7u8; 4096]);
    let staged = s.write("staged.raw", &[0u8; 4096]);
    // Unconfined, the same probe reads it: the sandbox is what refuses.
    assert!(unconfined().probe_read(&sentinel, &staged).await.unwrap());
    assert!(!confined().probe_read(&sentinel, &staged).await.unwrap());
}

#[tokio::test]
async fn confined_qemu_img_cannot_read_host_files() {
    let s = Scratch::new("sandbox-etc");
    let staged = s.write("staged.raw", &[0u8; 4096]);
    for host_file in ["/etc/passwd", "/etc/hostname", "/proc/self/environ"] {
        let host_file = std::path::Path::new(host_file);
        assert!(unconfined().probe_read(host_file, &staged).await.unwrap(), "unconfined {host_file:?}");
        assert!(!confined().probe_read(host_file, &staged).await.unwrap(), "{host_file:?}");
    }
}

#[tokio::test]
async fn confined_qemu_img_reads_the_file_it_was_given() {
    let s = Scratch::new("sandbox-allow");
    let staged = s.write("staged.raw", &[0u8; 4096]);
    assert!(confined().probe_read(&staged, &staged).await.unwrap());
}

#[tokio::test]
async fn confined_qemu_img_inspects_and_converts_a_real_image() {
    let s = Scratch::new("sandbox-convert");
    let image = s.qemu_img(&["-f", "qcow2", "a.qcow2", "8M"]);
    let info = confined().info(&image, DiskFormat::Qcow2, INSPECT_LIMITS).await.unwrap();
    assert_eq!(info.virtual_size, 8 << 20);
    confined().check(&image, DiskFormat::Qcow2, INSPECT_LIMITS).await.unwrap();
    let limits = Limits {
        cpu_secs: 60,
        address_space_bytes: 2 << 30,
        file_size_bytes: 1 << 30,
        timeout: Duration::from_secs(60),
    };
    let output = s.0.join("a.raw");
    confined().convert(&image, DiskFormat::Qcow2, &output, "raw", limits).await.unwrap();
    assert_eq!(std::fs::metadata(&output).unwrap().len(), 8 << 20);
    let output = s.0.join("b.vmdk");
    confined().convert(&image, DiskFormat::Qcow2, &output, "vmdk", limits).await.unwrap();
    assert!(std::fs::metadata(&output).unwrap().len() > 0);
}

#[tokio::test]
async fn confined_qemu_img_cannot_open_a_data_file_its_image_names() {
    // The header check refuses this image; the sandbox must hold even if it did not.
    let s = Scratch::new("sandbox-datafile");
    // qemu resolves a relative data file name against its working directory: name it absolutely.
    let data_file = format!("data_file={}", s.0.join("ext.raw").display());
    let image = s.qemu_img(&["-f", "qcow2", "-o", &data_file, "d.qcow2", "1M"]);
    // `info` leaves the data file closed; `convert` reads it. Unconfined it succeeds, confined
    // qemu cannot open the data file at all.
    let limits = Limits {
        cpu_secs: 60,
        address_space_bytes: 2 << 30,
        file_size_bytes: 1 << 30,
        timeout: Duration::from_secs(60),
    };
    unconfined().convert(&image, DiskFormat::Qcow2, &s.0.join("a.raw"), "raw", limits).await.unwrap();
    let confined = confined().convert(&image, DiskFormat::Qcow2, &s.0.join("b.raw"), "raw", limits).await;
    assert!(matches!(confined, Err(QemuError::Failed)), "{confined:?}");
}

#[test]
fn this_kernel_enforces_landlock() {
    // Every confined run above fails on a kernel without Landlock; this says why in one line.
    assert!(landlock_available());
}

#[tokio::test]
async fn a_conversion_cannot_write_more_than_its_file_size_limit() {
    // An image whose data would convert to 8 MiB of non-zero bytes, under a 1 MiB write limit:
    // the stand-in for a crafted image whose clusters all alias one block.
    let s = Scratch::new("fsize");
    let raw = s.write("full.raw", &vec![0xAB; 8 << 20]);
    let limits = Limits {
        cpu_secs: 60,
        address_space_bytes: 2 << 30,
        file_size_bytes: 1 << 20,
        timeout: Duration::from_secs(60),
    };
    let output = s.0.join("out.raw");
    let converted = confined().convert(&raw, DiskFormat::Raw, &output, "raw", limits).await;
    assert!(matches!(converted, Err(QemuError::Failed)), "{converted:?}");
    assert!(std::fs::metadata(&output).unwrap().len() <= 1 << 20);
}

#[tokio::test]
async fn check_output_is_read_bounded_and_drained() {
    // A corrupt qcow2 makes check print; the run ends with its status whatever it printed.
    let s = Scratch::new("qchecknoisy");
    let path = s.qemu_img(&["-f", "qcow2", "a.qcow2", "64M"]);
    let mut bytes = std::fs::read(&path).unwrap();
    // Point the refcount table somewhere absurd: check reports errors on stderr.
    bytes[48..56].copy_from_slice(&(1u64 << 40).to_be_bytes());
    let corrupt = s.write("c.qcow2", &bytes);
    let checked = confined().check(&corrupt, DiskFormat::Qcow2, INSPECT_LIMITS).await;
    assert!(matches!(checked, Err(QemuError::Corrupt)), "{checked:?}");
}
