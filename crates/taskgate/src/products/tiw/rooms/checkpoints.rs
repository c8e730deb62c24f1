//! Board checkpoints of a room (`tiw_room_checkpoints`): the board after the log up to a
//! sequence number, so snapshot tasks and pushes replay only the operations after the newest
//! one instead of the whole lesson.
//!
//! An append that carries the room's log past a multiple of `checkpoint_every_ops` starts a
//! background writer on its node: the append itself never waits for a replay. The writer
//! resumes from the newest checkpoint, replays up to the newest boundary, stores the board
//! (whiteboard's checkpoint text and its format version) and keeps the newest
//! `checkpoint_keep` rows plus the newest one taken before the room's first mark. Every
//! ~`checkpoint_every_ops` operations thus cost one replay of as many operations: linear.
//!
//! Checkpoints are derived data. A row of another format, or one whose text does not read
//! back, is ignored and the replay starts from the first operation; deleting rows changes no
//! result, only the time to reach it.

use super::{RoomKey, Rooms, corrupt, db_seq};
use taskgate_engine::{StoreError, on_pool, on_tx};
use whiteboard::op::OpKind;
use whiteboard::replay::{Board, CHECKPOINT_FORMAT};

/// A board to resume a replay from: the state after the room's log up to `seq`.
pub struct Resumed {
    pub board: Board,
    /// The last operation the board holds; 0 for the empty board before the first.
    pub seq: u64,
    /// Marks the log holds up to `seq`.
    pub marks: u64,
    /// Sender and receive time (Unix ms) of the operation at `seq`; empty and 0 at 0.
    pub user_id: String,
    pub received_at_ms: i64,
}

impl Resumed {
    fn start() -> Self {
        Resumed { board: Board::new(), seq: 0, marks: 0, user_id: String::new(), received_at_ms: 0 }
    }
}

type CheckpointRow = (i64, i64, String, i64, String);

const NEWEST: &str = "SELECT seq, marks, user_id, received_at_ms, state FROM tiw_room_checkpoints \
     WHERE sdk_app_id = $1 AND room_id = $2 AND seq <= $3 AND marks <= $4 AND format = $5 ORDER BY seq DESC LIMIT 1";

/// Inserts only while the operation at `seq` is the one replayed: a room reset while the
/// writer worked gets no checkpoint of its former log.
const INSERT: &str = "INSERT INTO tiw_room_checkpoints \
     (sdk_app_id, room_id, seq, marks, user_id, received_at_ms, format, state) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM tiw_room_ops \
     WHERE sdk_app_id = $1 AND room_id = $2 AND seq = $3 AND user_id = $5 AND received_at_ms = $6) \
     ON CONFLICT (sdk_app_id, room_id, seq) DO NOTHING";

const PRUNE: &str = "DELETE FROM tiw_room_checkpoints WHERE sdk_app_id = $1 AND room_id = $2 \
     AND seq NOT IN (SELECT seq FROM tiw_room_checkpoints WHERE sdk_app_id = $1 AND room_id = $2 \
                     ORDER BY seq DESC LIMIT $3) \
     AND seq <> (SELECT COALESCE(MAX(seq), 0) FROM tiw_room_checkpoints \
                 WHERE sdk_app_id = $1 AND room_id = $2 AND marks = 0 AND format = $4)";

impl Rooms {
    /// The newest readable checkpoint of the room at or before `up_to`, or the empty board.
    /// With `before_marks`, only a checkpoint whose log holds no mark yet: a snapshot task
    /// renders every mark, so it must resume before the first.
    pub async fn resume_point(&self, room: RoomKey, up_to: u64, before_marks: bool) -> Result<Resumed, StoreError> {
        let max_marks = if before_marks { 0 } else { i64::MAX };
        let row: Option<CheckpointRow> = on_pool!(self.store.reader(), p => {
            sqlx::query_as(NEWEST)
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .bind(db_seq(up_to))
                .bind(max_marks)
                .bind(i32::try_from(CHECKPOINT_FORMAT).map_err(corrupt)?)
                .fetch_optional(p)
                .await
                .map_err(StoreError::from)?
        });
        let Some((seq, marks, user_id, received_at_ms, state)) = row else {
            return Ok(Resumed::start());
        };
        let read = tokio::task::spawn_blocking(move || Board::from_checkpoint_text(&state))
            .await
            .map_err(|e| corrupt(format!("reading a checkpoint stopped: {e}")))?;
        match read {
            Ok(board) => Ok(Resumed {
                board,
                seq: u64::try_from(seq).map_err(corrupt)?,
                marks: u64::try_from(marks).map_err(corrupt)?,
                user_id,
                received_at_ms,
            }),
            Err(error) => {
                tracing::warn!(%error, room = room.room_id(), seq, "a room checkpoint does not read back; replaying from the start");
                Ok(Resumed::start())
            }
        }
    }

    /// Applies the room's log after `from.seq` up to `up_to` (`None`: all of it), read page by
    /// page, so memory holds one page of operations at a time; each page is applied on a
    /// blocking thread.
    pub async fn replay_tail(&self, room: RoomKey, from: Resumed, up_to: Option<u64>) -> Result<Resumed, StoreError> {
        let mut at = from;
        loop {
            let page = self.log_page(room, at.seq, up_to, Some(self.limits.page_max_ops)).await?;
            let more = page.more;
            at = tokio::task::spawn_blocking(move || {
                for op in &page.ops {
                    at.board.apply(op);
                    if matches!(op.op.kind, OpKind::Mark) {
                        at.marks += 1;
                    }
                }
                if let Some(last) = page.ops.into_iter().next_back() {
                    (at.seq, at.user_id, at.received_at_ms) = (last.seq, last.user_id, last.received_at_ms);
                }
                at
            })
            .await
            .map_err(|e| corrupt(format!("replaying a room stopped: {e}")))?;
            if !more {
                return Ok(at);
            }
        }
    }

    /// The board after the room's whole log, from its newest checkpoint.
    pub async fn board_now(&self, room: RoomKey) -> Result<Resumed, StoreError> {
        let from = self.resume_point(room, u64::MAX, false).await?;
        self.replay_tail(room, from, None).await
    }

    /// After an append moved the log from `before` to `last`: when that crossed a checkpoint
    /// boundary, makes sure a writer for the room runs on this node.
    pub(super) fn checkpoint_after_append(&self, room: RoomKey, before: u64, last: u64) {
        let every = self.limits.checkpoint_every_ops;
        if every == 0 || before / every == last / every || !self.claim_checkpointing(room) {
            return;
        }
        let rooms = self.clone();
        tokio::spawn(async move { rooms.write_checkpoints(room, every).await });
    }

    fn claim_checkpointing(&self, room: RoomKey) -> bool {
        self.checkpointing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(room)
    }

    fn release_checkpointing(&self, room: RoomKey) {
        self.checkpointing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&room);
    }

    /// Checkpoints the room at its newest boundary until no newer one is reached, then
    /// releases the room. An append that found the room claimed left its boundary to this
    /// loop, hence the look after the release.
    async fn write_checkpoints(self, room: RoomKey, every: u64) {
        let mut done = 0;
        loop {
            let boundary = match self.last_seq_and_marks(room).await {
                Ok((last, _)) => last / every * every,
                Err(error) => {
                    tracing::warn!(%error, room = room.room_id(), "reading a room for its checkpoint failed");
                    0
                }
            };
            if boundary > done && !self.closing.is_cancelled() {
                if let Err(error) = self.write_checkpoint(room, boundary).await {
                    tracing::warn!(%error, room = room.room_id(), "writing a room checkpoint failed");
                    self.release_checkpointing(room);
                    return;
                }
                done = boundary;
                continue;
            }
            self.release_checkpointing(room);
            match self.last_seq_and_marks(room).await {
                Ok((last, _)) if last / every * every > done && self.claim_checkpointing(room) => {}
                _ => return,
            }
        }
    }

    /// Stores the board after the log up to `seq`, unless a checkpoint there exists, and
    /// removes the checkpoints no longer kept.
    pub async fn write_checkpoint(&self, room: RoomKey, seq: u64) -> Result<(), StoreError> {
        let from = self.resume_point(room, seq, false).await?;
        if from.seq == seq {
            return Ok(());
        }
        let at = self.replay_tail(room, from, Some(seq)).await?;
        if at.seq != seq {
            // The log no longer reaches `seq`: the room was reset meanwhile.
            return Ok(());
        }
        let Resumed { board, marks, user_id, received_at_ms, .. } = at;
        let state = tokio::task::spawn_blocking(move || board.checkpoint_text())
            .await
            .map_err(|e| corrupt(format!("writing a checkpoint stopped: {e}")))?;
        let format = i32::try_from(CHECKPOINT_FORMAT).map_err(corrupt)?;
        let keep = i64::try_from(self.limits.checkpoint_keep).unwrap_or(i64::MAX);
        // One transaction: a reader never sees more checkpoints than are kept.
        let mut tx = self.store.begin().await?;
        on_tx!(tx, c => {
            sqlx::query(INSERT)
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .bind(db_seq(seq))
                .bind(i64::try_from(marks).map_err(corrupt)?)
                .bind(&user_id)
                .bind(received_at_ms)
                .bind(format)
                .bind(&state)
                .execute(&mut *c)
                .await
                .map_err(StoreError::from)?;
            sqlx::query(PRUNE)
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .bind(keep)
                .bind(format)
                .execute(&mut *c)
                .await
                .map_err(StoreError::from)?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// The sequence numbers of the room's checkpoints, oldest first.
    pub async fn checkpoint_seqs(&self, room: RoomKey) -> Result<Vec<u64>, StoreError> {
        let rows: Vec<(i64,)> = on_pool!(self.store.reader(), p => {
            sqlx::query_as("SELECT seq FROM tiw_room_checkpoints WHERE sdk_app_id = $1 AND room_id = $2 ORDER BY seq")
                .bind(room.sdk_app_id)
                .bind(room.room_id)
                .fetch_all(p)
                .await
                .map_err(StoreError::from)?
        });
        rows.into_iter().map(|(seq,)| u64::try_from(seq).map_err(corrupt)).collect()
    }
}
