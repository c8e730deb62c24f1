//! Whiteboard rooms: each room's durable operation log (stamped with a sequence number and
//! the receive time) and the live fan-out of new operations to the room's connected clients.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use taskgate_engine::{Store, StoreError, on_pool, on_tx};
use tokio::sync::broadcast;
use whiteboard::op::{LoggedOp, Op};

/// A room is an SdkAppId and a RoomId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RoomKey {
    pub sdk_app_id: u64,
    pub room_id: u64,
}

impl RoomKey {
    fn db(&self) -> (i64, i64) {
        (i64::try_from(self.sdk_app_id).unwrap_or(i64::MAX), i64::try_from(self.room_id).unwrap_or(i64::MAX))
    }
}

/// A batch of operations just appended to a room, shared by all its live clients.
pub type Announcement = Arc<Vec<LoggedOp>>;

/// How many broadcast messages a slow client may lag behind before it must reload the log.
const BROADCAST_CAPACITY: usize = 1024;

/// The rooms of this node: their logs are in the store, their live clients here.
#[derive(Clone)]
pub struct Rooms {
    store: Store,
    live: Arc<Mutex<HashMap<RoomKey, broadcast::Sender<Announcement>>>>,
}

impl Rooms {
    pub fn new(store: Store) -> Self {
        Self { store, live: Arc::default() }
    }

    fn sender(&self, room: RoomKey) -> broadcast::Sender<Announcement> {
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|_, sender| sender.receiver_count() > 0);
        live.entry(room).or_insert_with(|| broadcast::channel(BROADCAST_CAPACITY).0).clone()
    }

    /// New operations of the room from now on.
    pub fn subscribe(&self, room: RoomKey) -> broadcast::Receiver<Announcement> {
        self.sender(room).subscribe()
    }

    /// Appends validated operations in one transaction and announces them to live clients.
    pub async fn append(&self, room: RoomKey, user_id: &str, ops: Vec<Op>, now_ms: i64) -> Result<Vec<LoggedOp>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (app, room_id) = room.db();
        let count = i64::try_from(ops.len()).unwrap_or(i64::MAX);
        let mut tx = self.store.begin().await?;
        // The counter row serialises writers of one room (a row lock on PostgreSQL).
        let last: i64 = on_tx!(tx, c => {
            sqlx::query_scalar(
                "INSERT INTO tiw_rooms (sdk_app_id, room_id, last_seq) VALUES ($1, $2, $3) \
                 ON CONFLICT (sdk_app_id, room_id) DO UPDATE SET last_seq = tiw_rooms.last_seq + $3 RETURNING last_seq",
            )
            .bind(app)
            .bind(room_id)
            .bind(count)
            .fetch_one(c)
            .await
            .map_err(StoreError::from)?
        });
        let first = last - count + 1;
        let mut logged = Vec::with_capacity(ops.len());
        for (offset, op) in ops.into_iter().enumerate() {
            let seq = first + i64::try_from(offset).unwrap_or(i64::MAX);
            let json = serde_json::to_string(&op).map_err(|e| StoreError::Corrupt { what: "room operation", detail: e.to_string() })?;
            on_tx!(tx, c => {
                sqlx::query(
                    "INSERT INTO tiw_room_ops (sdk_app_id, room_id, seq, user_id, received_at_ms, op) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(app)
                .bind(room_id)
                .bind(seq)
                .bind(user_id)
                .bind(now_ms)
                .bind(json)
                .execute(c)
                .await
                .map_err(StoreError::from)?;
            });
            logged.push(LoggedOp { seq: seq.unsigned_abs(), user_id: user_id.to_owned(), received_at_ms: now_ms, op });
        }
        tx.commit().await?;
        // Nobody listening is fine: the log is the truth, live delivery a courtesy.
        let _ = self.sender(room).send(Arc::new(logged.clone()));
        Ok(logged)
    }

    /// The room's log after `after` up to and including `up_to`, in order.
    pub async fn log(&self, room: RoomKey, after: u64, up_to: Option<u64>) -> Result<Vec<LoggedOp>, StoreError> {
        let (app, room_id) = room.db();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let up_to = up_to.map_or(i64::MAX, |u| i64::try_from(u).unwrap_or(i64::MAX));
        let rows: Vec<(i64, String, i64, String)> = on_pool!(self.store.reader(), p => {
            sqlx::query_as(
                "SELECT seq, user_id, received_at_ms, op FROM tiw_room_ops \
                 WHERE sdk_app_id = $1 AND room_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq",
            )
            .bind(app)
            .bind(room_id)
            .bind(after)
            .bind(up_to)
            .fetch_all(p)
            .await
            .map_err(StoreError::from)?
        });
        rows.into_iter()
            .map(|(seq, user_id, received_at_ms, op)| {
                let op: Op = serde_json::from_str(&op)
                    .map_err(|e| StoreError::Corrupt { what: "room operation", detail: e.to_string() })?;
                Ok(LoggedOp { seq: seq.unsigned_abs(), user_id, received_at_ms, op })
            })
            .collect()
    }

    /// The sequence number of the room's newest operation (0 for an empty room).
    pub async fn last_seq(&self, room: RoomKey) -> Result<u64, StoreError> {
        let (app, room_id) = room.db();
        let last: Option<i64> = on_pool!(self.store.reader(), p => {
            sqlx::query_scalar("SELECT last_seq FROM tiw_rooms WHERE sdk_app_id = $1 AND room_id = $2")
                .bind(app)
                .bind(room_id)
                .fetch_optional(p)
                .await
                .map_err(StoreError::from)?
        });
        Ok(last.unwrap_or(0).unsigned_abs())
    }
}
