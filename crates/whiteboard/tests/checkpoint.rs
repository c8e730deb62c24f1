//! Checkpoints: a board read back from its checkpoint text behaves as the board it was taken
//! from, so a replay resumed from any checkpoint gives what a replay from the start gives.

mod common;

use std::sync::atomic::AtomicBool;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Log, background, erase, page, stroke, text};
use proptest::prelude::*;
use whiteboard::op::{OpKind, PageAction};
use whiteboard::replay::{Board, CheckpointError, SnapshotMode, UNDO_LIMIT, snapshots, snapshots_from};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_replay_resumed_from_any_checkpoint_equals_the_replay_from_the_start(
        log in common::logs::log(120),
        first in 0usize..6,
        limit in prop_oneof![Just(UNDO_LIMIT), 1usize..4],
    ) {
        // Every sixth cut, each case from a different first one, keeps a case fast.
        for cut in (first..=log.len()).step_by(6) {
            let mut from_start = Board::with_undo_limit(limit);
            for op in &log[..cut] {
                from_start.apply(op);
            }
            let mut resumed = Board::from_checkpoint_text(&from_start.checkpoint_text()).unwrap();
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
            for op in &log[cut..] {
                if let OpKind::Mark = op.op.kind {
                    let page = from_start.marked_page_id(op);
                    prop_assert_eq!(resumed.marked_page_id(op), page.clone());
                    prop_assert_eq!(resumed.page(&page), from_start.page(&page), "mark {} after cut {}", op.seq, cut);
                }
                prop_assert_eq!(resumed.apply(op), from_start.apply(op));
            }
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
        }
    }

    #[test]
    fn snapshots_resumed_from_a_checkpoint_are_the_later_marks_of_the_whole_replay(
        log in common::logs::log(120),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(log.len() + 1);
        for mode in [SnapshotMode::AllMarks, SnapshotMode::LatestMarksOnly] {
            let resumed = Board::from_checkpoint_text(&Board::replay(&log[..cut]).checkpoint_text()).unwrap();
            let tail = snapshots_from(resumed, &log[cut..], mode, usize::MAX, &AtomicBool::new(false)).unwrap();
            let whole = snapshots(&log, mode);
            if mode == SnapshotMode::AllMarks || !log[..cut].iter().any(|op| matches!(op.op.kind, OpKind::Mark)) {
                let later: Vec<_> = whole.into_iter().filter(|shot| shot.seq as usize > cut).collect();
                prop_assert_eq!(tail, later);
            }
        }
    }
}

#[test]
fn an_undo_after_resuming_restores_what_the_checkpointed_erase_removed() {
    let mut log = Log::new();
    log.push("u", stroke("a", &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01))
        .push("u", stroke("b", &[(0.3, 0.3), (0.4, 0.4)], "#FF0000", 0.01))
        .push("u", erase(&["a"]));
    let mut resumed = Board::from_checkpoint_text(&Board::replay(&log.ops).checkpoint_text()).unwrap();
    log.push("u", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(common::ids(resumed.current_page()), ["a", "b"]);
}

#[test]
fn what_only_a_forgotten_edit_could_restore_leaves_the_board_and_its_checkpoint() {
    let mut log = Log::new();
    log.push("u", stroke("old", &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01)).push("u", OpKind::Clear);
    // An id is written as its length and its bytes.
    let holds_old = |board: &Board| BASE64.decode(board.checkpoint_text()).unwrap().windows(4).any(|w| w == b"\x03old");
    assert!(holds_old(&Board::replay(&log.ops)), "an undo of the clear could bring it back");
    for i in 0..UNDO_LIMIT {
        log.push("u", stroke(&format!("n{i}"), &[(0.5, 0.5)], "#0050C8", 0.01));
    }
    assert!(!holds_old(&Board::replay(&log.ops)), "the clear fell off the undo stack");
}

#[test]
fn a_checkpoint_text_that_does_not_fit_together_is_an_error() {
    let text = Board::replay(&Log::new().push("u", stroke("a", &[(0.1, 0.1)], "#FF0000", 0.01)).ops).checkpoint_text();
    assert!(matches!(Board::from_checkpoint_text("{}"), Err(CheckpointError::Syntax)));
    let bytes = BASE64.decode(&text).unwrap();
    // The page: its id, no background, serial 0, one element (index 0); then the current page.
    let page = b"\x08#DEFAULT\x00\x00\x01\x00\x00";
    let at = bytes.windows(page.len()).position(|w| w == page).expect("the page's bytes");
    let mut dangling = bytes.clone();
    dangling[at + page.len() - 2] = 7;
    assert!(matches!(Board::from_checkpoint_text(&BASE64.encode(dangling)), Err(CheckpointError::Inconsistent(_))));
    let mut lost = bytes.clone();
    lost[at + page.len() - 1] = 3;
    assert!(matches!(Board::from_checkpoint_text(&BASE64.encode(lost)), Err(CheckpointError::Inconsistent(_))));
}

#[test]
fn a_damaged_checkpoint_is_an_error_or_a_board_never_a_panic() {
    let mut log = Log::new();
    log.push("u", stroke("a", &[(0.1, 0.1), (0.2, 0.3)], "#FF0000", 0.01)).push("v", background("#102030"));
    log.push("u", erase(&["a"])).push("v", text("t", (0.5, 0.5), "Aa", 0.05)).on(
        "u",
        "p2",
        stroke("b", &[(0.4, 0.4)], "#0050C8", 0.02),
    );
    log.push("u", OpKind::Undo).on("v", "p2", OpKind::Clear);
    let bytes = BASE64.decode(Board::replay(&log.ops).checkpoint_text()).unwrap();
    for end in 0..bytes.len() {
        assert!(Board::from_checkpoint_text(&BASE64.encode(&bytes[..end])).is_err(), "cut at {end}");
    }
    // What a damaged text's board does next, up to putting back what the clear removed.
    let mut after = Log::new();
    after.push("v", OpKind::Undo).push("v", OpKind::Redo).push("v", OpKind::Undo).push("u", OpKind::Undo);
    for at in 0..bytes.len() {
        for value in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            if let Ok(mut board) = Board::from_checkpoint_text(&BASE64.encode(damaged)) {
                for op in &after.ops {
                    board.apply(op);
                }
            }
        }
    }
}

#[test]
fn an_undo_after_resuming_puts_back_what_the_checkpointed_clear_removed() {
    let mut log = Log::new();
    for i in 0..50 {
        log.push("u", stroke(&format!("s{i}"), &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01));
    }
    log.push("v", text("t", (0.5, 0.5), "Aa", 0.05)).push("t", OpKind::Clear);
    log.push("u", stroke("after", &[(0.3, 0.3)], "#0050C8", 0.02));
    let mut resumed = Board::from_checkpoint_text(&Board::replay(&log.ops).checkpoint_text()).unwrap();
    log.push("t", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(resumed.current_page(), Board::replay(&log.ops).current_page());
    assert_eq!(resumed.current_page().len(), 52);
}

#[test]
fn a_checkpoint_whose_next_page_serial_would_overflow_is_an_error() {
    // An empty board: no elements, the default page, current page 0, next serial 1, the undo
    // limit, no histories.
    let bytes = BASE64.decode(Board::new().checkpoint_text()).unwrap();
    let tail = [1, UNDO_LIMIT as u8, 0];
    assert_eq!(bytes[bytes.len() - 3..], tail);
    let with_next_serial = |serial: u64| {
        let mut crafted = bytes[..bytes.len() - 3].to_vec();
        varint(&mut crafted, serial);
        crafted.extend_from_slice(&tail[1..]);
        BASE64.encode(crafted)
    };
    assert!(Board::from_checkpoint_text(&with_next_serial(1)).is_ok());
    // Adding pages to such a board overflowed the serial (a panic in debug builds).
    assert!(matches!(Board::from_checkpoint_text(&with_next_serial(u64::MAX)), Err(CheckpointError::Inconsistent(_))));
    let mut board = Board::from_checkpoint_text(&with_next_serial(u64::MAX / 2)).unwrap();
    let mut log = Log::new();
    log.push("u", page(PageAction::Add, "p2")).push("u", page(PageAction::Add, "p3"));
    for op in &log.ops {
        board.apply(op);
    }
    assert_eq!(board.pages().count(), 3);
}

/// Appends `n` as the checkpoint encoding's LEB128 varint.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}
