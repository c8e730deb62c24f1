//! `Server`: the composition root. Builds the durable parts (store, task engine, callback
//! outbox, object storage), the products and the gateway, serves them through one router, and
//! stops every background loop it started. Only `main` imports this module.

use crate::accounts::Accounts;
use crate::capabilities::Capabilities;
use crate::config::Config;
use crate::control::{self, Control};
use crate::gateway::Gateway;
use crate::http;
use crate::metrics::Metrics;
use crate::products::Products;
use crate::products::tiw::push::PushCounters;
use crate::products::tiw::rooms::{RoomLimits, Rooms};
use anyhow::Context;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use taskgate_engine::objects::{Objects, ObjectsConfig, PublicBucket, S3Endpoint};
use taskgate_engine::url_guard::GuardedClient;
use taskgate_engine::{Engine, EngineConfig, Outbox, OutboxConfig, Store, StoreOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long running tasks may take to finish on SIGTERM before their leases are handed back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Timeout of one callback delivery.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Server {
    gateway: Arc<Gateway>,
    /// The `/_taskgate` routes, when `[control]` opens them.
    control: Option<Router>,
    store: Store,
    engine: Engine,
    outbox: Outbox,
    objects: Objects,
    /// Refreshes the backlog gauges of `/metrics`.
    backlog: JoinHandle<()>,
    /// Stops the server's own loops (the gateway's purge, the backlog gauges) at shutdown.
    stop: CancellationToken,
    purge: JoinHandle<()>,
}

impl Server {
    /// Opens and migrates the store, then starts the task engine, the callback outbox and the
    /// object sweeper. `bound` is the listening address, the base of URLs when `public_url` is
    /// not configured.
    pub async fn start(config: Config, bound: std::net::SocketAddr) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
        let accounts = Accounts::from_config(&config.accounts)?.with_any_credentials(config.any_credentials);
        if let Some(images) = &config.ecm.bucket
            && let Some(owner) = accounts.bucket_owner(&images.region, &images.bucket)
        {
            // A tenant that may name the image bucket could overwrite other tenants' images.
            anyhow::bail!(
                "the [ecm.bucket] {} is also a bucket of account {owner}: give ecm a bucket of its own",
                images.bucket
            );
        }
        if let Some(public) = &config.objects.public
            && let Some(owner) = accounts.bucket_owner(&public.region, &public.bucket)
        {
            anyhow::bail!(
                "the [objects.public] bucket {} is also a bucket of account {owner}: give the public bucket one of its own",
                public.bucket
            );
        }
        if config.objects.public.is_none()
            && config.database_url().starts_with("postgres")
            && !config.objects.single_node
        {
            // A PostgreSQL database is shared by several nodes; a folder of one of them is not.
            anyhow::bail!(
                "the public bucket is this node's folder {} but the database is PostgreSQL, which several nodes share: \
                 their results would be reachable only through the node that wrote them and lost with it. \
                 Configure [objects.public] (an S3 bucket every node shares), or set [objects] single_node = true \
                 if this is the only node",
                config.data_dir.join("files").display()
            );
        }
        let capabilities = Capabilities::detect(&config).await;
        capabilities.warn_missing();
        taskgate_engine::install_crypto_provider();
        let store_options = StoreOptions { signal_buffer: config.engine.signal_buffer, ..StoreOptions::default() };
        let store = Store::open(&config.database_url(), &store_options, &[&crate::migrations::PRODUCTS])
            .await
            .with_context(|| format!("opening the database {}", config.database_url()))?;
        let client =
            GuardedClient::new(config.url_policy(), CALLBACK_TIMEOUT).context("building the callback HTTP client")?;
        let outbox_config = OutboxConfig {
            concurrency: config.callbacks.max_in_flight.max(1),
            per_destination: config.callbacks.max_in_flight_per_destination.max(1),
            per_account: config.callbacks.max_in_flight_per_account.max(1),
            ..OutboxConfig::default()
        };
        let outbox = Outbox::new(store.clone(), outbox_config, client);
        let objects = Objects::new(store.clone(), objects_config(&config, bound)).context("opening object storage")?;
        let rooms = Rooms::new(store.clone(), RoomLimits::from_config(&config.tiw));
        let mut metrics = Metrics::default();
        let push_counters = PushCounters::registered(metrics.registry());

        let engine_config = EngineConfig {
            lease: Duration::from_secs(config.engine.lease_secs.max(1)),
            reap_interval: Duration::from_secs(config.engine.reap_interval_secs.max(1)),
            ..EngineConfig::default()
        };
        let mut builder = Engine::builder(store.clone(), engine_config).outbox(outbox.waker());
        for registration in
            Products::executors(&config, &store, &objects, &outbox, &rooms, &push_counters, &capabilities)?
        {
            let mut options = registration.options;
            if let Some(concurrency) = config.concurrency_of(registration.kind.as_str()) {
                options.concurrency = concurrency.max(1);
            }
            if let Some(max) = config.max_running_per_account_of(registration.kind.as_str()) {
                options = options.max_running_per_account(max);
            }
            builder = builder.executor(registration.kind, options, registration.executor);
        }
        let engine = builder.build();
        engine.start().context("starting the task engine")?;
        outbox.start();
        objects.start_sweeper();

        let products = Products::new(&config, &engine, &objects, rooms, &capabilities)?;
        let backlog = metrics.backlog();
        let gateway = Arc::new(Gateway::new(&config, accounts, &store, metrics, products));
        let stop = CancellationToken::new();
        let purge = gateway.spawn_purge(stop.clone());
        let backlog = backlog.spawn_refresh(engine.clone(), outbox.clone(), stop.clone());
        let control = Arc::new(Control::new(gateway.clone(), engine.clone(), outbox.clone(), capabilities));
        let control = control::router(control, &config.control);
        Ok(Self { gateway, control, store, engine, outbox, objects, stop, purge, backlog })
    }

    /// The tiw rooms, for seeding fixtures (`taskgate dev --seed`).
    pub fn rooms(&self) -> &Rooms {
        &self.gateway.products.tiw.rooms
    }

    /// The clock tasks and rooms stamp times with.
    pub fn now_ms(&self) -> i64 {
        self.engine.clock().now_ms()
    }

    /// Every route on the one port.
    pub fn router(&self) -> Router {
        let router =
            http::router(self.gateway.clone(), self.gateway.products.tiw.clone(), &self.objects, self.store.clone());
        match &self.control {
            Some(control) => router.merge(control.clone()),
            None => router,
        }
    }

    /// Ends the room WebSockets, stops claiming work, lets running tasks finish within the
    /// grace period (the rest are told to stop and go back to the queue for the next start or
    /// another node), then stops deliveries, the sweepers and the purge. Nothing the server
    /// spawned runs after this returns.
    pub async fn shutdown(self) {
        let rooms = &self.gateway.products.tiw.rooms;
        rooms.close_all();
        self.stop.cancel();
        // Side by side: deliveries in flight finish within their timeout while tasks use the
        // grace; callbacks recorded after the outbox stopped are delivered by the next start.
        tokio::join!(self.engine.shutdown(SHUTDOWN_GRACE), self.outbox.shutdown(), rooms.wait_closed());
        if let Err(error) = self.backlog.await {
            tracing::warn!(%error, "the backlog gauges' loop ended abnormally");
        }
        if let Err(error) = self.purge.await {
            tracing::warn!(%error, "the purge loop ended abnormally");
        }
        self.objects.shutdown().await;
        self.store.close().await;
    }
}

fn objects_config(config: &Config, bound: std::net::SocketAddr) -> ObjectsConfig {
    let public = match &config.objects.public {
        None => PublicBucket::Local { dir: config.data_dir.join("files"), public_url: config.public_url(bound) },
        Some(p) => PublicBucket::S3 {
            region: p.region.clone(),
            bucket: p.bucket.clone(),
            prefix: p.prefix.clone().unwrap_or_default(),
            base_url: p.base_url.trim_end_matches('/').to_owned(),
        },
    };
    let mut objects = ObjectsConfig::with_public(public);
    objects.retention = Duration::from_secs(config.objects.retention_hours.saturating_mul(3600));
    objects.s3 = config
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
    objects
}
