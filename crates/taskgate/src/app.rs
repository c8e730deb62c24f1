//! `App`: the shared state every request and worker reads.

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::RateLimits;
use crate::metrics::Metrics;

pub struct App {
    pub config: Config,
    pub accounts: Accounts,
    pub clock: Clock,
    pub rate_limits: RateLimits,
    pub metrics: Metrics,
}

impl App {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let accounts = Accounts::from_config(&config.accounts)?;
        let rate_limits = RateLimits::new(&config, crate::products::all_actions().map(|e| e.name));
        Ok(Self { clock: Clock::from_config(config.frozen_time), accounts, rate_limits, metrics: Metrics::default(), config })
    }
}
