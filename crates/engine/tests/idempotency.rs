//! ClientToken idempotency on both backends.

mod common;

use std::{sync::Arc, time::Duration};

use common::TestDb;
use taskgate_engine::{
    ManualClock,
    idempotency::{Idempotency, Reservation, TokenKey},
};

const KEY: TokenKey<'static> = TokenKey { account: "100001", action: "CreateSnapshotTask", token: "tok-1" };

async fn repeated_token_replays_first_response(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let idem = Idempotency::with_clock(db.store.clone(), clock.clone());
    let ttl = Duration::from_secs(60);
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Reserved);
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::InProgress);
    let other_account = TokenKey { account: "200002", ..KEY };
    assert_eq!(idem.reserve(other_account, ttl).await.unwrap(), Reservation::Reserved, "tokens are per account");

    idem.complete(KEY, r#"{"TaskID":"abc"}"#).await.unwrap();
    clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Done(r#"{"TaskID":"abc"}"#.to_owned()));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Reserved, "entries expire after 24 h");
}

async fn abandoned_reservation_expires_or_is_released(db: TestDb) {
    let clock = Arc::new(ManualClock::new(0));
    let idem = Idempotency::with_clock(db.store.clone(), clock.clone());
    let ttl = Duration::from_secs(60);
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Reserved);
    clock.advance(ttl);
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Reserved, "a crashed request stops blocking");
    idem.release(KEY).await.unwrap();
    assert_eq!(idem.reserve(KEY, ttl).await.unwrap(), Reservation::Reserved, "released after a failure");

    clock.advance(Duration::from_secs(3600));
    assert_eq!(idem.purge_expired().await.unwrap(), 1);
}

both_backends!(repeated_token_replays_first_response, abandoned_reservation_expires_or_is_released);
