//! Tencent Cloud API 3.0 wire protocol, pure and reusable: request signing and verification,
//! flattened-parameter decoding into typed requests, error codes, and TLS-Sig-API v2 UserSig.
//!
//! The server verifies with these functions and the tests sign with the very same ones, so
//! every function here is checked against vectors captured from the official SDKs.

pub mod error_code;
pub mod params;
pub mod sign;
pub mod usersig;

pub use error_code::ErrorCode;
