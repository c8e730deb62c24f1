//! Checkpoints: a board read back from its checkpoint text behaves as the board it was taken
//! from, so a replay resumed from any checkpoint gives what a replay from the start gives.

mod common;

use std::sync::atomic::AtomicBool;

use common::{Log, erase, stroke};
use proptest::prelude::*;
use whiteboard::op::OpKind;
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
            let mut resumed = Board::from_checkpoint_json(&from_start.checkpoint_json()).unwrap();
            prop_assert_eq!(resumed.checkpoint_json(), from_start.checkpoint_json());
            for op in &log[cut..] {
                if let OpKind::Mark = op.op.kind {
                    let page = from_start.marked_page_id(op);
                    prop_assert_eq!(resumed.marked_page_id(op), page.clone());
                    prop_assert_eq!(resumed.page(&page), from_start.page(&page), "mark {} after cut {}", op.seq, cut);
                }
                prop_assert_eq!(resumed.apply(op), from_start.apply(op));
            }
            prop_assert_eq!(resumed.checkpoint_json(), from_start.checkpoint_json());
        }
    }

    #[test]
    fn snapshots_resumed_from_a_checkpoint_are_the_later_marks_of_the_whole_replay(
        log in common::logs::log(120),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(log.len() + 1);
        for mode in [SnapshotMode::AllMarks, SnapshotMode::LatestMarksOnly] {
            let resumed = Board::from_checkpoint_json(&Board::replay(&log[..cut]).checkpoint_json()).unwrap();
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
    let mut resumed = Board::from_checkpoint_json(&Board::replay(&log.ops).checkpoint_json()).unwrap();
    log.push("u", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(common::ids(resumed.current_page()), ["a", "b"]);
}

#[test]
fn what_only_a_forgotten_edit_could_restore_leaves_the_board_and_its_checkpoint() {
    let mut log = Log::new();
    log.push("u", stroke("old", &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01)).push("u", OpKind::Clear);
    let board = Board::replay(&log.ops);
    assert!(board.checkpoint_json().contains("\"old\""), "an undo of the clear could bring it back");
    for i in 0..UNDO_LIMIT {
        log.push("u", stroke(&format!("n{i}"), &[(0.5, 0.5)], "#0050C8", 0.01));
    }
    let board = Board::replay(&log.ops);
    assert!(!board.checkpoint_json().contains("\"old\""), "the clear fell off the undo stack");
}

#[test]
fn a_checkpoint_text_that_does_not_fit_together_is_an_error() {
    let text = Board::replay(&Log::new().push("u", stroke("a", &[(0.1, 0.1)], "#FF0000", 0.01)).ops).checkpoint_json();
    assert!(matches!(Board::from_checkpoint_json("{}"), Err(CheckpointError::Syntax(_))));
    let dangling = text.replace("\"elements\":[0]", "\"elements\":[7]");
    assert_ne!(dangling, text);
    assert!(matches!(Board::from_checkpoint_json(&dangling), Err(CheckpointError::Inconsistent(_))));
    let lost = text.replace("\"current\":0", "\"current\":3");
    assert!(matches!(Board::from_checkpoint_json(&lost), Err(CheckpointError::Inconsistent(_))));
}
