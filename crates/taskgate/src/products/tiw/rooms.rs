//! Whiteboard rooms: each room's durable operation log (stamped with a sequence number and
//! the receive time), its quotas, paged reads of the log, and the live fan-out of new
//! operations to the room's connected clients.

use crate::config::TiwConfig;
use futures_util::TryStreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use taskgate_engine::{Backend, Signal, Store, StoreError, Subscription, on_pool, on_tx};
use thiserror::Error;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken as SocketToken;
use whiteboard::op::{LoggedOp, Op, OpKind};

mod checkpoints;
pub use checkpoints::Resumed;

/// An id outside Tencent's declared type (`Integer`, int64) or not positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{field} must be an integer between 1 and 9223372036854775807")]
pub struct IdOutOfRange {
    /// The parameter's name as the client spelled it: `SdkAppId` or `RoomId`.
    pub field: &'static str,
}

/// Checks a client's id against the range both the API and the store hold (1..=i64::MAX).
pub fn checked_id(field: &'static str, id: u64) -> Result<i64, IdOutOfRange> {
    i64::try_from(id).ok().filter(|id| *id > 0).ok_or(IdOutOfRange { field })
}

/// A room is an SdkAppId and a RoomId, both in 1..=i64::MAX: one key, one log, whatever the
/// spelling of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RoomKey {
    sdk_app_id: i64,
    room_id: i64,
}

impl RoomKey {
    /// Refuses ids the store cannot hold exactly.
    pub fn new(sdk_app_id: u64, room_id: u64) -> Result<Self, IdOutOfRange> {
        Ok(Self { sdk_app_id: checked_id("SdkAppId", sdk_app_id)?, room_id: checked_id("RoomId", room_id)? })
    }

    /// Parses the ids of a room URL (`/…/rooms/{sdk_app_id}/{room_id}/…`).
    pub fn parse(sdk_app_id: &str, room_id: &str) -> Result<Self, IdOutOfRange> {
        let parse = |field, text: &str| {
            text.parse::<u64>().map_err(|_| IdOutOfRange { field }).and_then(|id| checked_id(field, id))
        };
        Ok(Self { sdk_app_id: parse("SdkAppId", sdk_app_id)?, room_id: parse("RoomId", room_id)? })
    }

    pub fn sdk_app_id(&self) -> u64 {
        // Positive by construction, so the absolute value is the value.
        self.sdk_app_id.unsigned_abs()
    }

    pub fn room_id(&self) -> u64 {
        self.room_id.unsigned_abs()
    }
}

/// A batch of operations just appended to a room, shared by all its live clients, in `seq`
/// order. Batches follow one another in increasing `seq` but may leave gaps (operations whose
/// signal was lost), and an empty batch means "operations may have been missed": a receiver
/// reads the log after the last `seq` it has when the first one is not the next, or none is.
pub type Announcement = Arc<Vec<LoggedOp>>;

/// The signal channel of appends: `NOTIFY tg_rooms, '<SdkAppId>:<RoomId>:<first seq>:<last seq>'`
/// after the append commits (PostgreSQL), so the other nodes read those operations from the
/// store and announce them to their own live clients.
const ROOMS_CHANNEL: &str = "tg_rooms";

/// One room's fan-out on this node.
struct Live {
    sender: broadcast::Sender<Announcement>,
    /// The newest `seq` announced here; `None` until the first announcement.
    announced: Option<u64>,
}

/// How many announcements a slow client may lag behind before it must reload from the log.
/// Each may be as large as one request (`room_max_request_bytes`), so this also bounds the
/// memory one room's fan-out holds.
const BROADCAST_CAPACITY: usize = 64;

/// What one room may hold and one log read may return (the `[tiw]` `room_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct RoomLimits {
    /// Operations one room's log may hold.
    pub max_ops: u64,
    /// Bytes of stored operation JSON one room's log may hold.
    pub max_bytes: u64,
    /// Operations of one log page when the reader names no `limit`.
    pub page_ops: usize,
    /// Most operations of one log page.
    pub page_max_ops: usize,
    /// Stored operation JSON bytes after which a page ends (it always holds one operation).
    pub page_bytes: usize,
    /// Operations between two board checkpoints of a room; 0: none are taken.
    pub checkpoint_every_ops: u64,
    /// Checkpoints kept per room besides the newest one before its first mark.
    pub checkpoint_keep: u64,
}

impl RoomLimits {
    pub fn from_config(tiw: &TiwConfig) -> Self {
        Self {
            max_ops: tiw.room_max_ops,
            max_bytes: tiw.room_max_bytes,
            page_ops: tiw.room_log_page_ops.max(1),
            page_max_ops: tiw.room_log_page_max_ops.max(1),
            page_bytes: tiw.room_log_page_bytes,
            checkpoint_every_ops: tiw.checkpoint_every_ops,
            checkpoint_keep: tiw.checkpoint_keep.max(1),
        }
    }
}

/// A room quota an append would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the room would exceed its quota of {max} {unit} (tiw.{key})")]
pub struct QuotaExceeded {
    /// The configuration key of the limit, under `[tiw]`.
    pub key: &'static str,
    pub max: u64,
    pub unit: &'static str,
}

#[derive(Debug, Error)]
pub enum AppendError {
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a room's log.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    pub ops: Vec<LoggedOp>,
    /// The cursor of the next page: the last `seq` returned, or the `after` asked for when the
    /// page is empty.
    pub next_after: u64,
    /// Whether operations after `next_after` (up to the read's bound) were left for the next page.
    pub more: bool,
}

/// The rooms of this node: their logs are in the store, their live clients here.
#[derive(Clone)]
pub struct Rooms {
    store: Store,
    limits: RoomLimits,
    live: Arc<Mutex<HashMap<RoomKey, Live>>>,
    closing: CancellationToken,
    /// The room WebSockets being served, so shutdown can wait for them to end.
    sockets: TaskTracker,
    /// Rooms whose checkpoint this node is writing.
    checkpointing: Arc<Mutex<HashSet<RoomKey>>>,
}

fn corrupt(detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what: "room operation", detail: detail.to_string() }
}

fn logged_seq(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(corrupt)
}

/// What a `tg_rooms` signal says: the room and the `seq` range one append committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AppendSignal {
    room: RoomKey,
    first: u64,
    last: u64,
}

impl AppendSignal {
    fn to_payload(self) -> String {
        format!("{}:{}:{}:{}", self.room.sdk_app_id, self.room.room_id, self.first, self.last)
    }

    fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(':');
        let room = RoomKey::parse(parts.next()?, parts.next()?).ok()?;
        let first = parts.next()?.parse().ok()?;
        let last = parts.next()?.parse().ok()?;
        (parts.next().is_none() && first <= last).then_some(Self { room, first, last })
    }
}

fn db_seq(seq: u64) -> i64 {
    // Sequence numbers come from the store's BIGINT counter; a larger cursor is past the end.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Rooms {
    /// On PostgreSQL, also relays other nodes' appends to this node's live clients; subscribes
    /// to the store's signals, so call it before the engine starts them.
    pub fn new(store: Store, limits: RoomLimits) -> Self {
        let rooms = Self {
            store,
            limits,
            live: Arc::default(),
            closing: CancellationToken::new(),
            sockets: TaskTracker::new(),
            checkpointing: Arc::default(),
        };
        if rooms.store.backend() == Backend::Postgres {
            let signals = rooms.store.signals().subscribe(ROOMS_CHANNEL);
            tokio::spawn(rooms.clone().relay(signals));
        }
        rooms
    }

    pub fn limits(&self) -> &RoomLimits {
        &self.limits
    }

    /// Ends every room WebSocket of this node (server shutdown); new ones end at once.
    pub fn close_all(&self) {
        self.closing.cancel();
        self.sockets.close();
    }

    /// Held by a WebSocket while it is served: [`Rooms::wait_closed`] waits for every one.
    pub fn socket_token(&self) -> SocketToken {
        self.sockets.token()
    }

    /// Returns once [`Rooms::close_all`] was called and every WebSocket ended.
    pub async fn wait_closed(&self) {
        self.sockets.wait().await;
    }

    /// Fires when [`Rooms::close_all`] was called.
    pub fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<RoomKey, Live>> {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// New operations of the room from now on, from this node and (PostgreSQL) the others.
    pub fn subscribe(&self, room: RoomKey) -> broadcast::Receiver<Announcement> {
        let mut live = self.live();
        live.retain(|_, room| room.sender.receiver_count() > 0);
        live.entry(room)
            .or_insert_with(|| Live { sender: broadcast::channel(BROADCAST_CAPACITY).0, announced: None })
            .sender
            .subscribe()
    }

    /// The newest `seq` announced to the room's live clients here; `None` when it has none.
    fn announced(&self, room: RoomKey) -> Option<Option<u64>> {
        self.live().get(&room).filter(|live| live.sender.receiver_count() > 0).map(|live| live.announced)
    }

    /// Announces the operations after the last one announced, so the announcements of a room
    /// only move forward whichever node appended them.
    fn announce(&self, room: RoomKey, ops: &[LoggedOp]) {
        let mut live = self.live();
        let Some(live) = live.get_mut(&room) else { return };
        let fresh: Vec<LoggedOp> =
            ops.iter().filter(|op| live.announced.is_none_or(|announced| op.seq > announced)).cloned().collect();
        if let Some(last) = fresh.last() {
            live.announced = Some(last.seq);
            // Nobody listening is fine: the log is the truth, live delivery a courtesy.
            let _ = live.sender.send(Arc::new(fresh));
        }
    }

    /// Relays other nodes' appends (their `tg_rooms` signals) to this node's live clients,
    /// reading the operations from the store, until the store closes or the node shuts down.
    async fn relay(self, mut signals: Subscription) {
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                () = self.closing.cancelled() => return,
            };
            match signal {
                Some(Signal::Notified(payload)) => match AppendSignal::parse(&payload) {
                    Some(append) => self.relay_append(append).await,
                    None => tracing::warn!(payload = %payload, "ignoring a malformed room signal"),
                },
                // Every live client reads the log after what it has.
                Some(Signal::Missed) => {
                    for live in self.live().values() {
                        let _ = live.sender.send(Arc::new(Vec::new()));
                    }
                }
                None => return,
            }
        }
    }

    async fn relay_append(&self, append: AppendSignal) {
        // No live client here, or already announced (this node's own append).
        let Some(announced) = self.announced(append.room) else { return };
        if announced.is_some_and(|announced| announced >= append.last) {
            return;
        }
        // From the last announced operation on, so a lost signal's operations come too.
        let mut after = announced.unwrap_or(append.first.saturating_sub(1));
        loop {
            match self.log_page(append.room, after, Some(append.last), None).await {
                Ok(page) => {
                    self.announce(append.room, &page.ops);
                    after = page.next_after;
                    if !page.more {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, room = append.room.room_id(), "reading a room's log to relay it failed");
                    // Its clients catch up from the log themselves.
                    if let Some(live) = self.live().get(&append.room) {
                        let _ = live.sender.send(Arc::new(Vec::new()));
                    }
                    return;
                }
            }
        }
    }

    /// Appends validated operations in one transaction and announces them to live clients.
    /// Refuses the whole batch when the room would hold more operations or bytes than its
    /// quota.
    pub async fn append(
        &self,
        room: RoomKey,
        user_id: &str,
        ops: Vec<Op>,
        now_ms: i64,
    ) -> Result<Vec<LoggedOp>, AppendError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let jsons = ops.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
        let count = i64::try_from(ops.len()).map_err(corrupt)?;
        let bytes = i64::try_from(jsons.iter().map(String::len).sum::<usize>()).map_err(corrupt)?;
        let marks = i64::try_from(ops.iter().filter(|op| matches!(op.kind, OpKind::Mark)).count()).map_err(corrupt)?;
        let mut tx = self.store.begin().await?;
        // The counter row serialises writers of one room (a row lock on PostgreSQL).
        let (last, total_bytes): (i64, i64) = on_tx!(tx, c => {
            sqlx::query_as(
                "INSERT INTO tiw_rooms (sdk_app_id, room_id, last_seq, bytes, marks) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (sdk_app_id, room_id) DO UPDATE SET last_seq = tiw_rooms.last_seq + $3, \
                 bytes = tiw_rooms.bytes + $4, marks = tiw_rooms.marks + $5 RETURNING last_seq, bytes",
            )
            .bind(room.sdk_app_id)
            .bind(room.room_id)
            .bind(count)
            .bind(bytes)
            .bind(marks)
            .fetch_one(c)
            .await
            .map_err(StoreError::from)?
        });
        // Dropping `tx` rolls the counters back.
        if u64::try_from(last).map_err(corrupt)? > self.limits.max_ops {
            return Err(QuotaExceeded { key: "room_max_ops", max: self.limits.max_ops, unit: "operations" }.into());
        }
        if u64::try_from(total_bytes).map_err(corrupt)? > self.limits.max_bytes {
            return Err(QuotaExceeded {
                key: "room_max_bytes",
                max: self.limits.max_bytes,
                unit: "bytes of operations",
            }
            .into());
        }
        let first = last - count + 1;
        let mut logged = Vec::with_capacity(ops.len());
        for ((seq, op), json) in (first..).zip(ops).zip(jsons) {
            on_tx!(tx, c => {
                sqlx::query(
                    "INSERT INTO tiw_room_ops (sdk_app_id, room_id, seq, user_id, received_at_ms, op) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .bind(seq)
                .bind(user_id)
                .bind(now_ms)
                .bind(json)
                .execute(c)
                .await
                .map_err(StoreError::from)?;
            });
            logged.push(LoggedOp {
                seq: u64::try_from(seq).map_err(corrupt)?,
                user_id: user_id.to_owned(),
                received_at_ms: now_ms,
                op,
            });
        }
        tx.notify_on_commit(
            ROOMS_CHANNEL,
            AppendSignal { room, first: logged_seq(first)?, last: logged_seq(last)? }.to_payload(),
        );
        tx.commit().await?;
        self.checkpoint_after_append(
            room,
            u64::try_from(first - 1).map_err(corrupt)?,
            u64::try_from(last).map_err(corrupt)?,
        );
        self.announce(room, &logged);
        Ok(logged)
    }

    /// One page of the room's log after `after` up to and including `up_to`, in order: at most
    /// `limit` operations (lowered to `page_max_ops`; `None` is `page_ops`), ending early once
    /// `page_bytes` of stored JSON were read, so a page's memory is bounded whatever the room
    /// holds.
    pub async fn log_page(
        &self,
        room: RoomKey,
        after: u64,
        up_to: Option<u64>,
        limit: Option<usize>,
    ) -> Result<LogPage, StoreError> {
        let limit = limit.unwrap_or(self.limits.page_ops).clamp(1, self.limits.page_max_ops);
        let fetch = i64::try_from(limit).map_err(corrupt)?.saturating_add(1);
        let max_bytes = self.limits.page_bytes;
        let (rows, more): (Vec<(i64, String, i64, String)>, bool) = on_pool!(self.store.reader(), p => {
            let mut stream = sqlx::query_as(
                "SELECT seq, user_id, received_at_ms, op FROM tiw_room_ops \
                 WHERE sdk_app_id = $1 AND room_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT $5",
            )
            .bind(room.sdk_app_id)
            .bind(room.room_id)
            .bind(db_seq(after))
            .bind(up_to.map_or(i64::MAX, db_seq))
            .bind(fetch)
            .fetch(p);
            let mut rows = Vec::new();
            let mut bytes = 0usize;
            let mut more = false;
            // One row past the page tells whether there is more; the byte bound ends the page
            // early (after one row at least, so a page always advances).
            while let Some(row) = stream.try_next().await.map_err(StoreError::from)? {
                let row: (i64, String, i64, String) = row;
                if rows.len() >= limit || (!rows.is_empty() && bytes + row.3.len() > max_bytes) {
                    more = true;
                    break;
                }
                bytes += row.3.len();
                rows.push(row);
            }
            (rows, more)
        });
        let ops = rows
            .into_iter()
            .map(|(seq, user_id, received_at_ms, op)| {
                let op: Op = serde_json::from_str(&op).map_err(corrupt)?;
                Ok(LoggedOp { seq: u64::try_from(seq).map_err(corrupt)?, user_id, received_at_ms, op })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next_after = ops.last().map_or(after, |op| op.seq);
        Ok(LogPage { ops, next_after, more })
    }

    /// The whole log after `after` up to `up_to`, read page by page. Its size is bounded by the
    /// room's quota (`room_max_bytes`); only tasks that need the whole board use it.
    pub async fn log(&self, room: RoomKey, after: u64, up_to: Option<u64>) -> Result<Vec<LoggedOp>, StoreError> {
        let mut log = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.log_page(room, cursor, up_to, Some(self.limits.page_max_ops)).await?;
            log.extend(page.ops);
            cursor = page.next_after;
            if !page.more {
                return Ok(log);
            }
        }
    }

    /// The sequence number of the room's newest operation (0 for an empty room) and how many
    /// marks its log holds.
    pub async fn last_seq_and_marks(&self, room: RoomKey) -> Result<(u64, u64), StoreError> {
        let row: Option<(i64, i64)> = on_pool!(self.store.reader(), p => {
            sqlx::query_as("SELECT last_seq, marks FROM tiw_rooms WHERE sdk_app_id = $1 AND room_id = $2")
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .fetch_optional(p)
                .await
                .map_err(StoreError::from)?
        });
        let (last, marks) = row.unwrap_or((0, 0));
        Ok((u64::try_from(last).map_err(corrupt)?, u64::try_from(marks).map_err(corrupt)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_above_i64_max_are_refused() {
        let top = u64::try_from(i64::MAX).unwrap();
        assert_eq!(RoomKey::new(1, top).unwrap().room_id(), top);
        assert_eq!(RoomKey::new(1, top + 1), Err(IdOutOfRange { field: "RoomId" }));
        assert_eq!(RoomKey::new(top + 1, 1), Err(IdOutOfRange { field: "SdkAppId" }));
        assert_eq!(RoomKey::new(1, 0), Err(IdOutOfRange { field: "RoomId" }));
        assert_eq!(RoomKey::parse("1", "18446744073709551616"), Err(IdOutOfRange { field: "RoomId" }));
        assert_eq!(RoomKey::parse("1", "-1"), Err(IdOutOfRange { field: "RoomId" }));
    }

    #[test]
    fn an_append_signal_reads_back_and_malformed_ones_are_refused() {
        let signal = AppendSignal { room: RoomKey::new(1_400_000_000, 7).unwrap(), first: 3, last: 5 };
        assert_eq!(AppendSignal::parse(&signal.to_payload()), Some(signal));
        for bad in ["", "1:2:3", "1:2:5:3", "1:2:3:4:5", "0:2:3:4", "1:x:3:4"] {
            assert_eq!(AppendSignal::parse(bad), None, "{bad}");
        }
    }
}
