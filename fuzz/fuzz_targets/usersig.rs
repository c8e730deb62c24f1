//! UserSig decoding (base64 variant → zlib → JSON ticket → HMAC): any string a room client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcapi::usersig::verify_usersig;

fuzz_target!(|data: &[u8]| {
    let usersig = String::from_utf8_lossy(data);
    let _ = verify_usersig("usersig-signing-key", 1_400_000_001, "user", &usersig, 1_700_000_000);
});
