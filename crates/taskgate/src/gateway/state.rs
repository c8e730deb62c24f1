//! `Gateway`: what the API edge owns — who may call (accounts), how often (rate limits), what
//! was already answered (ClientTokens) or already seen (v1 nonces), the signature clock, the
//! request metrics, the faults a test harness set — and the products it routes to.

use super::clock::SignatureClock;
use super::faults::Faults;
use super::ratelimit::RateLimits;
use super::rules::Rules;
use crate::accounts::Accounts;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::products::Products;
use std::time::Duration;
use taskgate_engine::Store;
use taskgate_engine::idempotency::Idempotency;
use taskgate_engine::nonces::Nonces;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Gateway {
    pub accounts: Accounts,
    pub rate_limits: RateLimits,
    pub idempotency: Idempotency,
    /// v1 requests seen within their validity window (replay protection).
    pub nonces: Nonces,
    pub clock: SignatureClock,
    pub metrics: Metrics,
    /// Test rules for the tasks of matching calls (`/_taskgate/rules`).
    pub rules: Rules,
    /// Regions served for tcss and ecm.
    pub regions: Vec<String>,
    /// Faults set through `/_taskgate/faults`, applied before actions run.
    pub faults: Faults,
    pub products: Products,
}

impl Gateway {
    pub fn new(config: &Config, accounts: Accounts, store: &Store, metrics: Metrics, products: Products) -> Self {
        Self {
            accounts,
            rate_limits: RateLimits::new(config, Products::action_names(), store),
            idempotency: Idempotency::new(store.clone()),
            nonces: Nonces::new(store.clone()),
            clock: SignatureClock::from_config(config.frozen_time),
            metrics,
            rules: Rules::default(),
            regions: config.regions.clone(),
            faults: Faults::new(config.control.max_faults, config.control.max_fault_message_bytes),
            products,
        }
    }

    /// Expired ClientTokens and v1 nonces only cost space; a sweep every minute keeps both
    /// tables small (a busy v1 client adds a row per request for the 10-minute validity
    /// window). The sweep ends when `stop` is cancelled.
    pub fn spawn_purge(&self, stop: CancellationToken) -> JoinHandle<()> {
        let (idempotency, nonces, clock) = (self.idempotency.clone(), self.nonces.clone(), self.clock);
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = every_minute.tick() => {}
                }
                if let Err(error) = idempotency.purge_expired().await {
                    tracing::warn!(%error, "purging expired ClientTokens failed");
                }
                if let Err(error) = nonces.purge_expired(clock.now_unix()).await {
                    tracing::warn!(%error, "purging expired v1 nonces failed");
                }
            }
        })
    }
}
