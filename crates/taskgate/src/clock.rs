//! The server's notion of now: the system clock, or a frozen instant for replaying captured requests.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Frozen(i64),
}

impl Clock {
    pub fn from_config(frozen_time: Option<i64>) -> Self {
        frozen_time.map_or(Clock::System, Clock::Frozen)
    }

    pub fn now_unix(&self) -> i64 {
        match self {
            Clock::System => OffsetDateTime::now_utc().unix_timestamp(),
            Clock::Frozen(t) => *t,
        }
    }
}
