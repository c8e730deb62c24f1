//! Replay semantics, one behaviour per test.

mod common;

use common::*;
use whiteboard::op::{OpKind, PageAction, PageId};
use whiteboard::replay::{Board, Change, Element, SnapshotMode, UNDO_LIMIT, snapshots};

fn line(id: &str) -> OpKind {
    stroke(id, &[(0.1, 0.1), (0.2, 0.2)], "#000000", 0.01)
}

fn board(log: &Log) -> Board {
    Board::replay(&log.ops)
}

fn default_ids(log: &Log) -> Vec<String> {
    ids(board(log).current_page()).into_iter().map(str::to_owned).collect()
}

#[test]
fn elements_stack_in_log_order() {
    let mut log = Log::new();
    log.push("a", line("1")).push("b", line("2")).push("a", line("3"));
    assert_eq!(default_ids(&log), ["1", "2", "3"]);
}

#[test]
fn element_with_existing_id_replaces_it_in_place() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2"));
    log.push("a", stroke("1", &[(0.5, 0.5)], "#FF0000", 0.02));
    let b = board(&log);
    assert_eq!(ids(b.current_page()), ["1", "2"]);
    let Some(Element::Stroke(s)) = b.current_page().element(&whiteboard::op::ElementId::new("1")) else {
        panic!("stroke 1 missing")
    };
    assert_eq!(s.color, color("#FF0000"));
}

#[test]
fn erase_removes_only_listed_elements() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2")).push("a", line("3"));
    log.push("b", erase(&["1", "3", "nope"]));
    assert_eq!(default_ids(&log), ["2"]);
}

#[test]
fn clear_removes_elements_but_keeps_background() {
    let mut log = Log::new();
    log.push("a", background("#102030")).push("a", line("1")).push("a", OpKind::Clear);
    let b = board(&log);
    assert!(b.current_page().is_empty());
    assert!(b.current_page().background.is_some());
}

#[test]
fn undo_removes_own_last_element() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2")).push("a", OpKind::Undo);
    assert_eq!(default_ids(&log), ["1"]);
}

#[test]
fn undo_ignores_other_users_operations() {
    let mut log = Log::new();
    log.push("a", line("mine")).push("b", line("theirs")).push("a", OpKind::Undo);
    assert_eq!(default_ids(&log), ["theirs"]);
}

#[test]
fn undo_with_empty_history_changes_nothing() {
    let mut log = Log::new();
    log.push("a", line("1"));
    let mut b = board(&log);
    let change = b.apply(&Log::new().push("b", OpKind::Undo).ops[0]);
    assert_eq!(change, Change::None);
    assert_eq!(ids(b.current_page()), ["1"]);
}

#[test]
fn undo_restores_erased_elements() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2")).push("a", line("3"));
    log.push("b", erase(&["1", "3"])).push("b", OpKind::Undo);
    assert_eq!(default_ids(&log), ["1", "2", "3"]);
}

#[test]
fn undo_of_clear_restores_the_page() {
    let mut log = Log::new();
    log.push("a", line("1")).push("b", line("2")).push("a", OpKind::Clear);
    log.push("b", line("after")).push("a", OpKind::Undo);
    // The cleared elements come back below what was drawn after the clear.
    assert_eq!(default_ids(&log), ["1", "2", "after"]);
}

#[test]
fn undo_of_replacement_restores_previous_version() {
    let mut log = Log::new();
    log.push("a", line("1"));
    log.push("a", stroke("1", &[(0.5, 0.5)], "#FF0000", 0.02)).push("a", OpKind::Undo);
    let b = board(&log);
    let Some(Element::Stroke(s)) = b.current_page().elements().next().map(|e| &**e) else { panic!() };
    assert_eq!(s.color, color("#000000"));
}

#[test]
fn undo_of_background_restores_previous_background() {
    let mut log = Log::new();
    log.push("a", background("#111111")).push("a", background("#222222")).push("a", OpKind::Undo);
    assert_eq!(board(&log).current_page().background, Some(whiteboard::op::Background::Color(color("#111111"))));
}

#[test]
fn undo_skips_edits_already_reverted_by_others() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2"));
    log.push("b", erase(&["2"])).push("a", OpKind::Undo);
    assert_eq!(default_ids(&log), Vec::<String>::new());
}

#[test]
fn redo_reapplies_undone_element() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", line("2"));
    log.push("a", OpKind::Undo).push("a", OpKind::Undo).push("a", OpKind::Redo);
    assert_eq!(default_ids(&log), ["1"]);
}

#[test]
fn redo_of_undone_erase_erases_again() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", erase(&["1"])).push("a", OpKind::Undo).push("a", OpKind::Redo);
    assert_eq!(default_ids(&log), Vec::<String>::new());
}

#[test]
fn new_own_edit_clears_redo_stack() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", OpKind::Undo).push("a", line("2")).push("a", OpKind::Redo);
    assert_eq!(default_ids(&log), ["2"]);
}

#[test]
fn other_users_edit_keeps_redo_stack() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", OpKind::Undo).push("b", line("2")).push("a", OpKind::Redo);
    // Redo puts the element back where it was in the z-order, below later work.
    assert_eq!(default_ids(&log), ["1", "2"]);
}

#[test]
fn operations_on_unknown_page_create_it_without_switching() {
    let mut log = Log::new();
    log.on("a", "p2", line("1"));
    let b = board(&log);
    assert_eq!(b.pages().count(), 2);
    assert_eq!(b.current_page().id, PageId::default());
    assert_eq!(ids(b.page(&PageId::new("p2")).unwrap()), ["1"]);
}

#[test]
fn page_add_appends_and_switch_changes_current_page() {
    let mut log = Log::new();
    log.push("a", page(PageAction::Add, "p2")).push("a", page(PageAction::Switch, "p2"));
    let b = board(&log);
    let names: Vec<&str> = b.pages().map(|p| p.id.as_str()).collect();
    assert_eq!(names, ["#DEFAULT", "p2"]);
    assert_eq!(b.current_page().id.as_str(), "p2");
}

#[test]
fn deleting_current_page_switches_to_previous_page() {
    let mut log = Log::new();
    log.push("a", page(PageAction::Add, "p2")).push("a", page(PageAction::Add, "p3"));
    log.push("a", page(PageAction::Switch, "p3")).push("a", page(PageAction::Delete, "p3"));
    assert_eq!(board(&log).current_page().id.as_str(), "p2");
}

#[test]
fn deleting_last_page_leaves_empty_default_page() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", page(PageAction::Delete, "#DEFAULT"));
    let b = board(&log);
    assert_eq!(b.pages().count(), 1);
    assert_eq!(b.current_page().id.as_str(), "#DEFAULT");
    assert!(b.current_page().is_empty());
}

#[test]
fn page_delete_drops_its_undo_history() {
    let mut log = Log::new();
    log.push("a", line("1"));
    log.on("a", "p2", line("2")).push("a", page(PageAction::Delete, "p2"));
    log.push("a", OpKind::Undo);
    // The undo skips the deleted page's edit and reverts the one before it.
    assert_eq!(default_ids(&log), Vec::<String>::new());
    assert!(board(&log).page(&PageId::new("p2")).is_none());
}

#[test]
fn snapshot_is_page_state_at_mark() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", OpKind::Mark).push("a", line("2"));
    let shots = snapshots(&log.ops, SnapshotMode::AllMarks);
    assert_eq!(shots.len(), 1);
    assert_eq!(shots[0].seq, 2);
    assert_eq!(ids(&shots[0].page), ["1"]);
}

#[test]
fn mark_without_page_snapshots_current_page() {
    let mut log = Log::new();
    log.on("a", "p2", line("x")).push("a", page(PageAction::Switch, "p2")).push("a", OpKind::Mark);
    let shots = snapshots(&log.ops, SnapshotMode::AllMarks);
    assert_eq!(shots[0].page.id.as_str(), "p2");
    assert_eq!(ids(&shots[0].page), ["x"]);
}

#[test]
fn mark_with_page_snapshots_that_page() {
    let mut log = Log::new();
    log.on("a", "p2", line("x")).on("a", "p2", OpKind::Mark);
    let shots = snapshots(&log.ops, SnapshotMode::AllMarks);
    assert_eq!(shots[0].page.id.as_str(), "p2");
}

#[test]
fn all_marks_returns_every_mark_in_log_order() {
    let mut log = Log::new();
    log.push("a", OpKind::Mark).push("a", line("1")).push("b", OpKind::Mark);
    log.on("a", "p2", OpKind::Mark);
    let seqs: Vec<u64> = snapshots(&log.ops, SnapshotMode::AllMarks).iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [1, 3, 4]);
}

#[test]
fn latest_marks_only_keeps_newest_mark_per_page() {
    let mut log = Log::new();
    log.push("a", OpKind::Mark); // 1: #DEFAULT, superseded by 5
    log.on("a", "p2", OpKind::Mark); // 2: p2, superseded by 4
    log.push("a", line("1")); // 3
    log.on("a", "p2", OpKind::Mark); // 4: kept
    log.push("a", OpKind::Mark); // 5: kept
    let shots = snapshots(&log.ops, SnapshotMode::LatestMarksOnly);
    let got: Vec<(u64, &str)> = shots.iter().map(|s| (s.seq, s.page.id.as_str())).collect();
    assert_eq!(got, [(4, "p2"), (5, "#DEFAULT")]);
    assert_eq!(ids(&shots[1].page), ["1"]);
}

#[test]
fn apply_reports_added_element_on_top() {
    let mut b = Board::new();
    let mut log = Log::new();
    log.push("a", line("1"));
    match b.apply(&log.ops[0]) {
        Change::Added { page, element } => {
            assert_eq!(page, PageId::default());
            assert_eq!(element.id().as_str(), "1");
        }
        other => panic!("expected Added, got {other:?}"),
    }
}

#[test]
fn apply_reports_region_for_erase_and_page_for_background() {
    let mut log = Log::new();
    log.push("a", line("1")).push("a", erase(&["1"])).push("a", background("#000000"));
    let mut b = Board::new();
    let changes: Vec<Change> = log.ops.iter().map(|op| b.apply(op)).collect();
    assert!(matches!(&changes[1], Change::Region { elements, .. } if elements.len() == 1));
    assert!(matches!(&changes[2], Change::Page { .. }));
}

#[test]
fn apply_reports_switch_and_nothing_for_marks() {
    let mut log = Log::new();
    log.push("a", page(PageAction::Switch, "p2")).push("a", OpKind::Mark);
    let mut b = Board::new();
    assert_eq!(b.apply(&log.ops[0]), Change::Switched { page: PageId::new("p2") });
    assert_eq!(b.apply(&log.ops[1]), Change::None);
}

#[test]
fn a_page_holds_only_what_is_visible_after_a_clear_or_erase() {
    // What a renderer draws is what the page iterates: removed elements are not in it.
    let mut log = Log::new();
    for i in 0..10_000 {
        log.push("a", line(&format!("s{i}")));
    }
    log.push("a", OpKind::Clear).push("a", line("kept")).push("a", line("gone"));
    for i in 0..5_000 {
        log.push("b", line(&format!("t{i}")));
    }
    let erased: Vec<String> = (0..5_000).map(|i| format!("t{i}")).chain(["gone".to_owned()]).collect();
    log.push("b", erase(&erased.iter().map(String::as_str).collect::<Vec<_>>()));
    let board = board(&log);
    assert_eq!(board.current_page().len(), 1);
    assert_eq!(ids(board.current_page()), ["kept"]);
}

#[test]
fn undo_stops_at_the_bounded_history() {
    let mut log = Log::new();
    for i in 0..=UNDO_LIMIT {
        log.push("a", line(&format!("{i}")));
    }
    for _ in 0..=UNDO_LIMIT {
        log.push("a", OpKind::Undo);
    }
    let b = Board::replay(&log.ops);
    assert_eq!(ids(b.current_page()), ["0"], "the first stroke is beyond the {UNDO_LIMIT} kept edits");
    // Redo brings back all the undone ones, and no more than the bound.
    for _ in 0..=UNDO_LIMIT {
        log.push("a", OpKind::Redo);
    }
    assert_eq!(Board::replay(&log.ops).current_page().len(), UNDO_LIMIT + 1);
}

#[test]
fn edits_about_deleted_pages_do_not_count_against_the_bound() {
    let mut log = Log::new();
    log.push("a", line("1")).on("a", "p2", line("p")).push("a", page(PageAction::Delete, "p2"));
    log.push("a", line("2")).push("a", OpKind::Undo).push("a", OpKind::Undo);
    let mut b = Board::with_undo_limit(2);
    for op in &log.ops {
        b.apply(op);
    }
    assert_eq!(b.undo_limit(), 2);
    assert!(b.current_page().is_empty(), "both strokes on the page that is left are within the bound");
}
