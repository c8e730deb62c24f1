//! Per-(account, action) request rate limits, answered with `RequestLimitExceeded` in the usual
//! envelope (the only code the SDKs retry on). The limit is GCRA (a token bucket refilling
//! `rate` per second, holding `rate`) for the whole group of nodes:
//!
//! - SQLite serves one node: `governor` in memory.
//! - PostgreSQL: the bucket is a row of `tg_rate_limits` (its theoretical arrival time on the
//!   database clock), checked and advanced by one `INSERT … ON CONFLICT DO UPDATE … WHERE`
//!   per admitted request, so every node spends the same budget and node clocks do not matter.
//!   A refusal tells the node until when the bucket stays empty; the node refuses that key
//!   locally until then, which the group would do too (only admissions move the time), so a
//!   flood costs one round trip per admitted request, not per request. Why not each node taking
//!   1/N locally: with calls spread unevenly (one client on one node) a node would refuse at
//!   20/N while the group is idle, and N changes as nodes come and go.
//!
//! The tolerance: the database serialises the updates, so the group admits exactly the GCRA's
//! count by the database clock; a node's local refusal window ends up to half a round trip
//! late (a refusal it could have admitted, never an excess admission). If the database fails,
//! the node falls back to its in-memory limiter, i.e. per node, and logs it.

use crate::action::ApiError;
use crate::config::Config;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use taskgate_engine::store::Pool;
use taskgate_engine::{Store, StoreError};
use tcapi::ErrorCode;

/// Admits the request if its bucket (after refilling to the database's now) holds one; else
/// changes nothing and returns no row. `$3` is the emission interval, `$4` the burst tolerance
/// (`(rate - 1)` intervals), both in microseconds.
const ADMIT: &str = "WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us) \
     INSERT INTO tg_rate_limits AS r (account, action, tat_us) SELECT $1, $2, now_us + $3 FROM clock \
     ON CONFLICT (account, action) DO UPDATE SET tat_us = GREATEST(r.tat_us, EXCLUDED.tat_us - $3) + $3 \
     WHERE GREATEST(r.tat_us, EXCLUDED.tat_us - $3) <= EXCLUDED.tat_us - $3 + $4 RETURNING tat_us";

/// Microseconds until the bucket of a refused request holds one again (`$3`: the tolerance).
const EMPTY_FOR: &str = "SELECT tat_us - $3 - (extract(epoch FROM clock_timestamp()) * 1000000)::bigint \
     FROM tg_rate_limits WHERE account = $1 AND action = $2";

struct Limit {
    /// This node's bucket: the limit on SQLite, the fallback on PostgreSQL.
    local: DefaultKeyedRateLimiter<String>,
    interval_us: i64,
    tolerance_us: i64,
}

pub struct RateLimits {
    by_action: HashMap<&'static str, Limit>,
    /// The group's buckets (PostgreSQL).
    shared: Option<Store>,
    /// Keys the group refused, refused here until then without asking the database.
    empty_until: Mutex<HashMap<(String, &'static str), Instant>>,
}

impl RateLimits {
    /// One limiter per action; a configured rate of 0 means unlimited. On PostgreSQL the limits
    /// hold for every node on `store`.
    pub fn new(config: &Config, actions: impl IntoIterator<Item = &'static str>, store: &Store) -> Self {
        let by_action = actions
            .into_iter()
            .filter_map(|action| {
                let rate = NonZeroU32::new(config.rate_per_second(action))?;
                let interval_us = (1_000_000 / i64::from(rate.get())).max(1);
                let limit = Limit {
                    local: RateLimiter::keyed(Quota::per_second(rate)),
                    interval_us,
                    tolerance_us: interval_us * (i64::from(rate.get()) - 1),
                };
                Some((action, limit))
            })
            .collect();
        let shared = matches!(store.writer(), Pool::Postgres(_)).then(|| store.clone());
        Self { by_action, shared, empty_until: Mutex::default() }
    }

    /// `RequestLimitExceeded` when the caller's bucket for `action` is empty.
    pub async fn check(&self, uin: &str, action: &'static str) -> Result<(), ApiError> {
        let Some(limit) = self.by_action.get(action) else {
            return Ok(());
        };
        let admitted = match &self.shared {
            None => limit.local.check_key(&uin.to_owned()).is_ok(),
            Some(store) => self.check_shared(store, limit, uin, action).await,
        };
        admitted.then_some(()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RequestLimitExceeded,
                format!("Your request frequency of `{action}` exceeds the limit. Please try again later."),
            )
        })
    }

    async fn check_shared(&self, store: &Store, limit: &Limit, uin: &str, action: &'static str) -> bool {
        let key = (uin.to_owned(), action);
        {
            let mut empty = self.empty_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match empty.get(&key) {
                Some(until) if *until > Instant::now() => return false,
                Some(_) => {
                    empty.remove(&key);
                }
                None => {}
            }
        }
        match Self::admit(store, limit, uin, action).await {
            Ok(None) => true,
            Ok(Some(empty_for)) => {
                let mut empty = self.empty_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Forget lapsed refusals so the map holds only keys refused within a second.
                let now = Instant::now();
                empty.retain(|_, until| *until > now);
                empty.insert(key, now + empty_for);
                false
            }
            Err(error) => {
                tracing::warn!(%error, action, "the group's rate limit is unreachable; limiting this node alone");
                limit.local.check_key(&key.0).is_ok()
            }
        }
    }

    /// `None` when admitted, else how long the bucket stays empty.
    async fn admit(store: &Store, limit: &Limit, uin: &str, action: &str) -> Result<Option<Duration>, StoreError> {
        let Pool::Postgres(pool) = store.writer() else {
            return Ok(None);
        };
        let admitted: Option<i64> = sqlx::query_scalar(ADMIT)
            .bind(uin)
            .bind(action)
            .bind(limit.interval_us)
            .bind(limit.tolerance_us)
            .fetch_optional(pool)
            .await?;
        if admitted.is_some() {
            return Ok(None);
        }
        let empty_for: Option<i64> =
            sqlx::query_scalar(EMPTY_FOR).bind(uin).bind(action).bind(limit.tolerance_us).fetch_optional(pool).await?;
        let micros = u64::try_from(empty_for.unwrap_or(0)).unwrap_or(0);
        Ok(Some(Duration::from_micros(micros)))
    }
}
