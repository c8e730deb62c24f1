//! Fixtures shared by the integration tests of this crate.
#![allow(dead_code)] // each test binary uses its own subset of the fixtures

pub(crate) mod products;

use std::path::PathBuf;
use std::process::Command;

/// A temporary directory for test images, removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("taskgate-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Runs `qemu-img create ARGS` in the directory; the file is the second-to-last argument.
    pub(crate) fn qemu_img(&self, args: &[&str]) -> PathBuf {
        let status = Command::new("qemu-img").arg("create").arg("-q").args(args).current_dir(&self.0).status().unwrap();
        assert!(status.success(), "qemu-img create {args:?}");
        self.0.join(args.iter().rev().nth(1).unwrap())
    }

    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
