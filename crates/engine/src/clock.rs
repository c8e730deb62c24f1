//! Injectable time and randomness, so tests can be deterministic.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Wall-clock time in Unix milliseconds, the unit of every stored timestamp.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(AtomicI64::new(start_ms))
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A source of random bits for ids, event ids and backoff jitter.
pub trait Entropy: Send + Sync + 'static {
    fn next_u64(&self) -> u64;

    /// A version-4 UUID built from this source.
    fn uuid_v4(&self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn next_u64(&self) -> u64 {
        uuid::Uuid::new_v4().as_u64_pair().0
    }
}

/// A reproducible sequence (SplitMix64) for tests.
#[derive(Debug)]
pub struct SeededEntropy(AtomicU64);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl Entropy for SeededEntropy {
    fn next_u64(&self) -> u64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The wait in milliseconds before retry `attempt` (1 for the first; 0 counts as 1): `base`
/// doubled per earlier retry, capped at `max`, of which the upper half is jittered by `entropy`,
/// so it lies between half and all of that. `base` counts as at least 1 ms and `max` as at
/// least `base`.
pub fn jittered_backoff_ms(base: Duration, max: Duration, attempt: u32, entropy: &dyn Entropy) -> i64 {
    let base = duration_ms(base).max(1);
    let cap = duration_ms(max).max(base);
    let full = base.saturating_mul(1i64 << attempt.saturating_sub(1).min(30)).min(cap);
    let half = full / 2;
    let jitter = i64::try_from(entropy.next_u64() % u64::try_from(half + 1).unwrap_or(1)).unwrap_or(0);
    full - half + jitter
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(base_ms: u64, max_ms: u64, attempt: u32, entropy: &dyn Entropy) -> i64 {
        jittered_backoff_ms(Duration::from_millis(base_ms), Duration::from_millis(max_ms), attempt, entropy)
    }

    #[test]
    fn backoff_doubles_per_retry_within_its_jitter_and_stops_at_the_cap() {
        let entropy = SeededEntropy::new(7);
        for (attempt, full) in [(0, 100), (1, 100), (2, 200), (3, 400), (4, 800), (5, 1_000), (40, 1_000)] {
            for _ in 0..200 {
                let wait = range(100, 1_000, attempt, &entropy);
                assert!((full - full / 2..=full).contains(&wait), "attempt {attempt}: {wait} outside half..={full}");
            }
        }
    }

    #[test]
    fn backoff_jitter_spreads_over_the_upper_half() {
        let entropy = SeededEntropy::new(7);
        let waits: Vec<i64> = (0..200).map(|_| range(1_000, 1_000, 1, &entropy)).collect();
        assert!(waits.iter().any(|&w| w < 600) && waits.iter().any(|&w| w > 900), "{waits:?}");
    }

    #[test]
    fn a_zero_base_waits_at_least_a_millisecond_and_a_cap_below_the_base_is_the_base() {
        let entropy = SeededEntropy::new(7);
        assert!((0..=1).contains(&range(0, 0, 1, &entropy)));
        assert!((250..=500).contains(&range(500, 10, 3, &entropy)));
    }
}
