//! Room checkpoints over a real SQLite store, and PostgreSQL when `TASKGATE_TEST_PG_URL` is
//! set: written in the background as the log grows, pruned, and never changing a board,
//! whether they are there, gone or unreadable.

mod common;

use common::Scratch;
use common::products::START_MS;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use taskgate::config::TiwConfig;
use taskgate::products::tiw::rooms::{RoomKey, RoomLimits, Rooms};
use taskgate_engine::testing::service;
use taskgate_engine::{Store, StoreOptions, on_pool};
use whiteboard::op::{LoggedOp, Op, parse_ops};
use whiteboard::replay::{Board, SnapshotMode, snapshots, snapshots_from};

const APP: u64 = 1_400_000_001;

/// A SQLite store in `scratch`, and a PostgreSQL one in a fresh schema when there is a server.
async fn stores(scratch: &Scratch) -> Vec<Store> {
    let migrations = [&taskgate::migrations::PRODUCTS];
    let url = format!("sqlite://{}", scratch.0.join("taskgate.db").display());
    let mut stores = vec![Store::open(&url, &StoreOptions::default(), &migrations).await.unwrap()];
    if let Some(base) = service("TASKGATE_TEST_PG_URL") {
        stores.push(Store::open_in_fresh_schema(&base, &StoreOptions::default(), &migrations).await.unwrap().0);
    }
    stores
}

fn rooms(store: &Store, every: u64) -> Rooms {
    let limits = RoomLimits {
        checkpoint_every_ops: every,
        checkpoint_keep: 2,
        ..RoomLimits::from_config(&TiwConfig::default())
    };
    Rooms::new(store.clone(), limits)
}

/// Operation `n` of a lesson by three users: strokes, erasing, undo and redo, a page added
/// and switched to, a clear, and a mark now and then.
fn op(n: u64) -> Op {
    let json = match n % 17 {
        3 => format!(r#"{{"op":"erase","ids":["s{}"]}}"#, n - 2),
        5 | 11 => r#"{"op":"undo"}"#.to_owned(),
        7 => r#"{"op":"redo"}"#.to_owned(),
        9 if n.is_multiple_of(3) => r#"{"op":"page","action":"switch","target":"p2"}"#.to_owned(),
        9 => r##"{"op":"page","action":"switch","target":"#DEFAULT"}"##.to_owned(),
        13 if n.is_multiple_of(5) => r#"{"op":"clear"}"#.to_owned(),
        15 if n > 40 => r#"{"op":"mark"}"#.to_owned(),
        _ => format!(
            r##"{{"op":"stroke","id":"s{n}","points":[[0.{},0.2],[0.5,0.{}]],"color":"#0050C8","width":0.01}}"##,
            n % 9,
            n % 7
        ),
    };
    parse_ops(&json).unwrap().remove(0)
}

async fn append(rooms: &Rooms, room: RoomKey, from: u64, to: u64) {
    for n in from..=to {
        let user = ["ann", "bob", "cho"][usize::try_from(n % 3).unwrap()];
        rooms.append(room, user, vec![op(n)], START_MS + i64::try_from(n).unwrap()).await.unwrap();
    }
}

async fn whole_log(rooms: &Rooms, room: RoomKey) -> Vec<LoggedOp> {
    rooms.log(room, 0, None).await.unwrap()
}

async fn sql(store: &Store, statement: &'static str) {
    on_pool!(store.writer(), p => {
        sqlx::query(statement).execute(p).await.unwrap();
    });
}

/// The board after the whole log and the snapshots of its marks, as a snapshot task and a
/// push compute them (from the checkpoints the store holds).
async fn results(rooms: &Rooms, room: RoomKey, up_to: u64) -> (String, Vec<whiteboard::replay::Snapshot>) {
    let board = rooms.board_now(room).await.unwrap().board.checkpoint_text();
    let from = rooms.resume_point(room, up_to, true).await.unwrap();
    let tail = rooms.log(room, from.seq, Some(up_to)).await.unwrap();
    let shots = snapshots_from(from.board, &tail, SnapshotMode::AllMarks, usize::MAX, &AtomicBool::new(false)).unwrap();
    (board, shots)
}

#[tokio::test]
async fn appends_past_a_boundary_checkpoint_the_room_in_the_background_and_keep_the_newest() {
    let scratch = Scratch::new("tiw-checkpoints-background");
    for store in stores(&scratch).await {
        let rooms = rooms(&store, 10);
        let room = RoomKey::new(APP, 1).unwrap();
        append(&rooms, room, 1, 35).await;
        let mut seqs = Vec::new();
        for _ in 0..100 {
            seqs = rooms.checkpoint_seqs(room).await.unwrap();
            if seqs.last() == Some(&30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The newest two, and no older one: the log has no mark before 30.
        assert_eq!(seqs, [20, 30]);
        let resumed = rooms.resume_point(room, 35, false).await.unwrap();
        assert_eq!(resumed.seq, 30);
        assert_eq!(
            resumed.board.checkpoint_text(),
            Board::replay(&whole_log(&rooms, room).await[..30]).checkpoint_text()
        );
    }
}

#[tokio::test]
async fn a_snapshot_resumes_from_the_newest_checkpoint_before_the_first_mark() {
    let scratch = Scratch::new("tiw-checkpoints-marks");
    for store in stores(&scratch).await {
        let rooms = rooms(&store, 0);
        let room = RoomKey::new(APP, 2).unwrap();
        // The first mark is operation 49 (n % 17 == 15, n > 40).
        append(&rooms, room, 1, 120).await;
        for seq in [20, 40, 60, 80, 100] {
            rooms.write_checkpoint(room, seq).await.unwrap();
        }
        // Kept: the newest two, and 40, the newest before the first mark.
        assert_eq!(rooms.checkpoint_seqs(room).await.unwrap(), [40, 80, 100]);
        assert_eq!(rooms.resume_point(room, 120, true).await.unwrap().seq, 40);
        assert_eq!(rooms.resume_point(room, 120, false).await.unwrap().seq, 100);
    }
}

#[tokio::test]
async fn deleting_or_spoiling_the_checkpoints_changes_no_board_and_no_snapshot() {
    let scratch = Scratch::new("tiw-checkpoints-derived");
    for store in stores(&scratch).await {
        let rooms = rooms(&store, 0);
        let room = RoomKey::new(APP, 3).unwrap();
        append(&rooms, room, 1, 150).await;
        let log = whole_log(&rooms, room).await;
        let expected = (Board::replay(&log).checkpoint_text(), snapshots(&log, SnapshotMode::AllMarks));
        assert!(!expected.1.is_empty());
        assert_eq!(results(&rooms, room, 150).await, expected, "without checkpoints");
        for seq in [30, 45, 120, 140] {
            rooms.write_checkpoint(room, seq).await.unwrap();
        }
        assert_eq!(results(&rooms, room, 150).await, expected, "with checkpoints");
        sql(&store, "UPDATE tiw_room_checkpoints SET state = '{\"pages\":[' WHERE seq = 140").await;
        assert_eq!(results(&rooms, room, 150).await, expected, "with an unreadable checkpoint");
        sql(&store, "UPDATE tiw_room_checkpoints SET format = 999").await;
        assert_eq!(results(&rooms, room, 150).await, expected, "with checkpoints of another format");
        sql(&store, "DELETE FROM tiw_room_checkpoints").await;
        assert_eq!(results(&rooms, room, 150).await, expected, "with the checkpoints deleted");
    }
}

#[tokio::test]
async fn a_checkpoint_of_a_log_that_was_reset_meanwhile_is_not_stored() {
    let scratch = Scratch::new("tiw-checkpoints-reset");
    for store in stores(&scratch).await {
        let rooms = rooms(&store, 0);
        let room = RoomKey::new(APP, 4).unwrap();
        append(&rooms, room, 1, 20).await;
        sql(&store, "DELETE FROM tiw_room_ops").await;
        sql(&store, "DELETE FROM tiw_rooms").await;
        rooms.write_checkpoint(room, 10).await.unwrap();
        assert_eq!(rooms.checkpoint_seqs(room).await.unwrap(), Vec::<u64>::new());
    }
}
