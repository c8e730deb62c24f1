//! `App`: the shared state every request and worker reads, and the start and orderly stop of
//! the durable parts (store, task engine, callback outbox).

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::RateLimits;
use crate::metrics::Metrics;
use crate::products::tiw::rooms::Rooms;
use anyhow::Context;
use std::time::Duration;
use taskgate_engine::idempotency::Idempotency;
use taskgate_engine::nonces::Nonces;
use taskgate_engine::objects::{Objects, ObjectsConfig, S3Endpoint};
use taskgate_engine::url_guard::{GuardedClient, UrlPolicy};
use taskgate_engine::{Engine, EngineConfig, KindOptions, Outbox, OutboxConfig, Store, StoreOptions};

/// How long running tasks may take to finish on SIGTERM before their leases are handed back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Timeout of one callback delivery.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

pub struct App {
    pub config: Config,
    pub accounts: Accounts,
    /// The clock signatures are checked against (frozen in replay tests); tasks use real time.
    pub clock: Clock,
    pub rate_limits: RateLimits,
    pub metrics: Metrics,
    pub store: Store,
    pub engine: Engine,
    pub outbox: Outbox,
    pub idempotency: Idempotency,
    /// v1 requests seen within their validity window (replay protection).
    pub nonces: Nonces,
    /// Checks user-supplied URLs when a request names them.
    pub url_policy: UrlPolicy,
    pub objects: Objects,
    pub rooms: Rooms,
}

impl App {
    /// Opens and migrates the store, then starts the task engine and the callback outbox.
    /// `bound` is the listening address, the base of URLs when `public_url` is not configured.
    pub async fn start(config: Config, bound: std::net::SocketAddr) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let accounts = Accounts::from_config(&config.accounts)?;
        if let Some(images) = &config.ecm.bucket
            && let Some(owner) = accounts.bucket_owner(&images.region, &images.bucket)
        {
            // A tenant that may name the image bucket could overwrite other tenants' images.
            anyhow::bail!(
                "the [ecm.bucket] {} is also a bucket of account {owner}: give ecm a bucket of its own",
                images.bucket
            );
        }
        let rate_limits = RateLimits::new(&config, crate::products::all_actions().map(|e| e.name));
        taskgate_engine::install_crypto_provider();
        let store = Store::open(&config.database_url(), &StoreOptions::default(), &[&crate::migrations::PRODUCTS])
            .await
            .with_context(|| format!("opening the database {}", config.database_url()))?;
        let url_policy = config.url_policy();
        let client = GuardedClient::new(url_policy, CALLBACK_TIMEOUT).context("building the callback HTTP client")?;
        let outbox = Outbox::new(store.clone(), OutboxConfig::default(), client);
        let engine_config = EngineConfig {
            lease: Duration::from_secs(config.engine.lease_secs.max(1)),
            reap_interval: Duration::from_secs(config.engine.reap_interval_secs.max(1)),
            ..EngineConfig::default()
        };
        let mut objects_config = ObjectsConfig::new(config.data_dir.join("files"), config.public_url(bound));
        objects_config.retention = Duration::from_secs(config.objects.retention_hours.saturating_mul(3600));
        objects_config.s3 = config
            .objects
            .s3
            .iter()
            .map(|e| S3Endpoint {
                region: e.region.clone(),
                endpoint: e.endpoint.clone(),
                access_key_id: e.access_key_id.clone(),
                secret_access_key: e.secret_access_key.clone(),
                path_style: e.path_style,
                allow_http: e.allow_http,
            })
            .collect();
        let objects = Objects::new(store.clone(), objects_config).context("opening object storage")?;
        let rooms = Rooms::new(store.clone(), config.tiw.room_limits());
        let metrics = Metrics::default();
        let mut builder = Engine::builder(store.clone(), engine_config).outbox(outbox.waker());
        for r in crate::products::executors(&config, &store, &rooms, &objects, &outbox, &metrics.push)? {
            let mut options =
                KindOptions::concurrency(config.concurrency_of(r.kind.as_str()).unwrap_or(r.default_concurrency));
            if r.endless {
                options = options.endless();
            }
            builder = builder.executor(r.kind, options, r.executor);
        }
        let engine = builder.build();
        engine.start().context("starting the task engine")?;
        outbox.start();
        objects.start_sweeper();
        let idempotency = Idempotency::new(store.clone());
        let clock = Clock::from_config(config.frozen_time);
        let nonces = Nonces::new(store.clone());
        tokio::spawn(purge_expired_records(idempotency.clone(), nonces.clone(), clock));
        Ok(Self {
            clock,
            accounts,
            rate_limits,
            metrics,
            store,
            engine,
            outbox,
            idempotency,
            nonces,
            url_policy,
            objects,
            rooms,
            config,
        })
    }

    /// Ends the room WebSockets, stops claiming work, lets running tasks finish within the
    /// grace period (the rest are told to stop and go back to the queue for the next start or
    /// another node), then stops deliveries.
    pub async fn shutdown(&self) {
        self.rooms.close_all();
        // Side by side: deliveries in flight finish within their timeout while tasks use the
        // grace; callbacks recorded after the outbox stopped are delivered by the next start.
        tokio::join!(self.engine.shutdown(SHUTDOWN_GRACE), self.outbox.shutdown());
        self.objects.shutdown().await;
        self.store.close().await;
    }

    /// Whether the database answers, for `/healthz`.
    pub async fn database_ok(&self) -> bool {
        let ping = taskgate_engine::on_pool!(self.store.reader(), pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()));
        ping.inspect_err(|error| tracing::warn!(%error, "database health check failed")).is_ok()
    }
}

/// Expired ClientTokens and v1 nonces only cost space; a sweep every minute keeps both tables
/// small (a busy v1 client adds a row per request for the 10-minute validity window).
async fn purge_expired_records(idempotency: Idempotency, nonces: Nonces, clock: Clock) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        if let Err(error) = idempotency.purge_expired().await {
            tracing::warn!(%error, "purging expired ClientTokens failed");
        }
        if let Err(error) = nonces.purge_expired(clock.now_unix()).await {
            tracing::warn!(%error, "purging expired v1 nonces failed");
        }
    }
}
