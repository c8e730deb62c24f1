//! Replay protection for HmacSHA1/HmacSHA256 (v1) requests: Tencent's `Nonce` exists so that a
//! captured request cannot be sent again while its `Timestamp` is still valid. Each signed
//! request (SecretId, Timestamp, Nonce, Signature) is recorded in the store, so every node
//! sharing the database refuses the second use; the SDKs sign each retry anew (new Nonce), so
//! their retries pass. The signature is part of the key: two different requests that happen to
//! share a nonce (the Node SDK draws from 0..65535) are not replays of each other, and a
//! replayer cannot change anything signed without the key.

use crate::{
    on_pool,
    store::{Store, StoreError},
};

/// Remembers the v1 requests seen within the signature validity window.
#[derive(Clone)]
pub struct Nonces {
    store: Store,
}

/// One signed v1 request's identity.
#[derive(Debug, Clone, Copy)]
pub struct NonceKey<'a> {
    pub secret_id: &'a str,
    /// The request's `Timestamp`, Unix seconds.
    pub timestamp: i64,
    pub nonce: &'a str,
    /// The request's `Signature` as received.
    pub signature: &'a str,
}

impl Nonces {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records the request; `false` when the same signed request was recorded
    /// before, i.e. the request is a replay. `valid_until` (Unix seconds) is the last moment the
    /// request's signature is accepted: the record is kept until then.
    pub async fn first_use(&self, key: NonceKey<'_>, valid_until: i64) -> Result<bool, StoreError> {
        let inserted = on_pool!(self.store.writer(), p => sqlx::query(
            "INSERT INTO tg_v1_nonces (secret_id, timestamp, nonce, signature, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (secret_id, timestamp, nonce, signature) DO NOTHING",
        )
        .bind(key.secret_id)
        .bind(key.timestamp)
        .bind(key.nonce)
        .bind(key.signature)
        .bind(valid_until)
        .execute(p)
        .await?
        .rows_affected());
        Ok(inserted == 1)
    }

    /// Forgets requests whose signatures expired before `now` (Unix seconds, the clock
    /// signatures are checked against). Returns how many.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        Ok(on_pool!(self.store.writer(), p => sqlx::query("DELETE FROM tg_v1_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
