//! The clock request signatures are checked against: the system clock, or a frozen instant
//! for replaying captured requests (`frozen_time`). Nothing else reads it: task times come
//! from the engine's clock.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy)]
pub enum SignatureClock {
    System,
    Frozen(i64),
}

impl SignatureClock {
    pub fn from_config(frozen_time: Option<i64>) -> Self {
        frozen_time.map_or(SignatureClock::System, SignatureClock::Frozen)
    }

    /// Unix seconds.
    pub fn now_unix(&self) -> i64 {
        match self {
            SignatureClock::System => OffsetDateTime::now_utc().unix_timestamp(),
            SignatureClock::Frozen(t) => *t,
        }
    }
}
