//! A test harness's reset of the products' state (`POST /_taskgate/reset`): each product
//! deletes what it keeps beside the engine's tasks (rows referencing them, rooms, files), for
//! one account or for all, before the engine deletes the tasks themselves.

use crate::action::Account;
use serde::Serialize;

/// Whose state a reset removes.
#[derive(Clone, Copy)]
pub enum ResetScope<'a> {
    Everyone,
    Account(&'a Account),
}

impl ResetScope<'_> {
    /// The account's UIN, `None` for everyone: how the stores filter.
    pub fn uin(&self) -> Option<&str> {
        match self {
            ResetScope::Everyone => None,
            ResetScope::Account(account) => Some(&account.uin),
        }
    }
}

/// What the products removed, by kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// tiw rooms with their operation logs.
    pub rooms: u64,
    pub room_operations: u64,
    pub pushes: u64,
    pub transcodes: u64,
    /// tiw callback settings (push and transcode URLs and keys) of SdkAppIds.
    pub callback_settings: u64,
    pub images: u64,
    pub refresh_tasks: u64,
    /// Files of the public bucket (snapshots, push streams) and imported images.
    pub files: u64,
}
