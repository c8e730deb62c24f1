//! A downloaded disk image's bytes → `disk_format::inspect`: any file is classified or refused,
//! never a panic, an overflow or an unbounded read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskgate::products::ecm::disk_format::inspect;

fuzz_target!(|data: &[u8]| {
    let _ = inspect(&mut std::io::Cursor::new(data), data.len() as u64);
});
