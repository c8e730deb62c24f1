//! ClientToken idempotency: the first request with a token does the work; repeats within
//! 24 hours get the first response (or learn that it is still in progress).

use std::{sync::Arc, time::Duration};

use sqlx::Row as _;

use crate::{
    clock::{Clock, SystemClock, duration_ms},
    on_pool, on_tx,
    store::{Store, StoreError},
};

/// How long a completed response is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// This request owns the token: do the work, then [`Idempotency::complete`] (or
    /// [`Idempotency::release`] if it failed and may be retried).
    Reserved,
    /// An earlier request with this token has not finished.
    InProgress,
    /// An earlier request finished with this response, the JSON text [`Idempotency::complete`]
    /// stored (replayed as it is, never parsed).
    Done(String),
}

/// Identifies one token: tokens are scoped to an account and an action.
#[derive(Debug, Clone, Copy)]
pub struct TokenKey<'a> {
    pub account: &'a str,
    pub action: &'a str,
    pub token: &'a str,
}

#[derive(Clone)]
pub struct Idempotency {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Idempotency {
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Claims the token. `ttl` bounds how long an unfinished reservation blocks repeats, so a
    /// request lost to a crash does not block its token for a day.
    pub async fn reserve(&self, key: TokenKey<'_>, ttl: Duration) -> Result<Reservation, StoreError> {
        let now = self.clock.now_ms();
        let until = now.saturating_add(duration_ms(ttl));
        let mut tx = self.store.begin().await?;
        let inserted = on_tx!(tx, c => sqlx::query(
            "INSERT INTO tg_idempotency (account, action, token, response, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (account, action, token) DO NOTHING",
        )
        .bind(key.account)
        .bind(key.action)
        .bind(key.token)
        .bind(now)
        .bind(until)
        .execute(c)
        .await?
        .rows_affected());
        let outcome = if inserted == 1 {
            Reservation::Reserved
        } else {
            let taken_over = on_tx!(tx, c => sqlx::query(
                "UPDATE tg_idempotency SET response = NULL, created_at_ms = $1, expires_at_ms = $2 \
                 WHERE account = $3 AND action = $4 AND token = $5 AND expires_at_ms <= $1",
            )
            .bind(now)
            .bind(until)
            .bind(key.account)
            .bind(key.action)
            .bind(key.token)
            .execute(c)
            .await?
            .rows_affected());
            if taken_over == 1 {
                Reservation::Reserved
            } else {
                let response: Option<String> = on_tx!(tx, c => sqlx::query(
                    "SELECT response FROM tg_idempotency WHERE account = $1 AND action = $2 AND token = $3",
                )
                .bind(key.account)
                .bind(key.action)
                .bind(key.token)
                .fetch_one(c)
                .await?
                .try_get("response")?);
                match response {
                    None => Reservation::InProgress,
                    Some(text) => Reservation::Done(text),
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Stores the response repeats will get, for 24 hours from now.
    pub async fn complete(&self, key: TokenKey<'_>, response: &str) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        on_pool!(self.store.writer(), p => sqlx::query(
            "UPDATE tg_idempotency SET response = $1, expires_at_ms = $2 WHERE account = $3 AND action = $4 AND token = $5",
        )
        .bind(response)
        .bind(now.saturating_add(duration_ms(RETENTION)))
        .bind(key.account)
        .bind(key.action)
        .bind(key.token)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Forgets an unfinished reservation, so the client may retry with the same token.
    pub async fn release(&self, key: TokenKey<'_>) -> Result<(), StoreError> {
        on_pool!(self.store.writer(), p => sqlx::query(
            "DELETE FROM tg_idempotency WHERE account = $1 AND action = $2 AND token = $3 AND response IS NULL",
        )
        .bind(key.account)
        .bind(key.action)
        .bind(key.token)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Deletes expired entries; call periodically. Returns how many.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        Ok(on_pool!(self.store.writer(), p => sqlx::query("DELETE FROM tg_idempotency WHERE expires_at_ms <= $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
