//! Signals between the nodes sharing one PostgreSQL database: `NOTIFY` sent when a
//! transaction commits ([`Tx::notify_on_commit`](crate::Tx::notify_on_commit)) and one
//! `LISTEN` connection per node that hands each channel's notifications to its subscribers.
//!
//! Signals only hurry readers along; the database stays the truth. A notification can be lost
//! (the listening connection dropped, a subscriber lagged), so a subscriber that receives
//! [`Signal::Missed`] reads the store once as if it had been told about everything. On SQLite
//! (one node) nothing is sent or listened to: the node's own writers wake its readers directly.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::engine::lock;

/// What a subscriber of a channel receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A notification's payload, as the committing transaction sent it.
    Notified(Arc<str>),
    /// Notifications may have been lost (the listening connection was re-established, or this
    /// subscriber fell more signals behind than the buffer holds): read the store once.
    Missed,
}

/// How long the listener waits before listening again after its connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// The node's subscriptions and, once started, its listening connection.
#[derive(Debug)]
pub struct Signals {
    /// Signals one subscriber may fall behind before it gets [`Signal::Missed`] instead.
    buffer: usize,
    channels: Mutex<HashMap<&'static str, broadcast::Sender<Signal>>>,
    started: Mutex<bool>,
}

/// A subscription to one channel. A lagged receiver reads as [`Signal::Missed`].
pub struct Subscription(broadcast::Receiver<Signal>);

impl Subscription {
    /// The next signal; `None` once the node stopped listening (its store closed).
    pub async fn recv(&mut self) -> Option<Signal> {
        match self.0.recv().await {
            Ok(signal) => Some(signal),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Signal::Missed),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Signals {
    /// `buffer` ([`StoreOptions::signal_buffer`](crate::StoreOptions::signal_buffer)): signals
    /// one subscriber may fall behind before it reads the store instead; at least 1.
    pub(crate) fn new(buffer: usize) -> Self {
        Self { buffer: buffer.max(1), channels: Mutex::default(), started: Mutex::new(false) }
    }

    /// Subscribes to `channel`. Subscribe before [`Signals::start`]: the listener listens to the
    /// channels known when it starts (later ones are logged and never signalled).
    pub fn subscribe(&self, channel: &'static str) -> Subscription {
        if *lock(&self.started) && !lock(&self.channels).contains_key(channel) {
            tracing::error!(channel, "subscribed to a signal channel after the listener started; it stays silent");
        }
        let mut channels = lock(&self.channels);
        Subscription(channels.entry(channel).or_insert_with(|| broadcast::channel(self.buffer).0).subscribe())
    }

    /// Starts listening on `pool` (once; later calls do nothing). The listener ends when the
    /// pool closes.
    pub(crate) fn start(self: &Arc<Self>, pool: &PgPool) {
        let mut started = lock(&self.started);
        if *started {
            return;
        }
        *started = true;
        let channels: HashMap<&'static str, broadcast::Sender<Signal>> = lock(&self.channels).clone();
        if channels.is_empty() {
            return;
        }
        tokio::spawn(listen(pool.clone(), channels));
    }
}

async fn listen(pool: PgPool, channels: HashMap<&'static str, broadcast::Sender<Signal>>) {
    let names: Vec<&str> = channels.keys().copied().collect();
    let missed = || {
        for sender in channels.values() {
            let _ = sender.send(Signal::Missed);
        }
    };
    let mut listener = loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen_all(names.iter().copied()).await {
                Ok(()) => break listener,
                Err(e) => tracing::warn!(error = %e, "listening for signals failed; retrying"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, "connecting the signal listener failed; retrying"),
        }
        tokio::time::sleep(RETRY).await;
    };
    // Whatever was committed before the LISTEN took effect was not signalled.
    missed();
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(sender) = channels.get(notification.channel()) {
                    let _ = sender.send(Signal::Notified(notification.payload().into()));
                }
            }
            // The connection dropped and was re-established, listening again.
            Ok(None) => missed(),
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the signal listener's connection failed; reconnecting");
                tokio::time::sleep(RETRY).await;
                // The next receive reconnects; until it succeeds every subscriber reads the
                // store once a second, as if polling.
                missed();
            }
        }
    }
}
