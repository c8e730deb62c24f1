//! The indexed replay against the plain reference replay (`common/reference.rs`) over random
//! logs: the same change reported for every operation, the same pages, elements in the same
//! z-order and the same current page after each one.

mod common;

use common::reference;
use proptest::prelude::*;
use whiteboard::replay::Board;

fn same_board(board: &Board, model: &reference::Board) -> Result<(), TestCaseError> {
    prop_assert_eq!(board.pages().count(), model.pages().len());
    for (page, expected) in board.pages().zip(model.pages()) {
        prop_assert_eq!(&page.id, &expected.id);
        prop_assert_eq!(&page.background, &expected.background);
        prop_assert!(page.elements().eq(expected.elements.iter()), "elements of {}", page.id);
        for element in &expected.elements {
            prop_assert_eq!(page.element(element.id()), Some(&**element));
        }
    }
    prop_assert_eq!(&board.current_page().id, &model.current_page().id);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn indexed_replay_matches_the_reference_replay(log in common::logs::log(200)) {
        let mut board = Board::new();
        let mut model = reference::Board::new();
        for op in &log {
            prop_assert_eq!(board.apply(op), model.apply(op), "change of seq {}", op.seq);
            same_board(&board, &model)?;
        }
    }

    /// A bound of a few edits, so random logs reach it: undo stops at the same edit in both.
    #[test]
    fn a_bounded_undo_history_matches_the_reference_replay(log in common::logs::log(200), limit in 1usize..6) {
        let mut board = Board::with_undo_limit(limit);
        let mut model = reference::Board::with_undo_limit(limit);
        for op in &log {
            prop_assert_eq!(board.apply(op), model.apply(op), "change of seq {}", op.seq);
            same_board(&board, &model)?;
        }
    }
}
