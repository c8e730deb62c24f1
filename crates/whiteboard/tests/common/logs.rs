//! Random room logs for property tests: a few users drawing, erasing, clearing, undoing and
//! redoing on a few pages, with page adds, switches and deletes and marks. Ids and page names
//! come from small pools so operations collide (replacements, erasing what is there, undo
//! after another user's clear, pages deleted and created again).

use proptest::prelude::*;
use whiteboard::op::{LoggedOp, Op, OpKind, PageAction, ShapeKind};

use super::{background, erase, image, page, shape, stroke, text};

const USERS: [&str; 3] = ["ann", "bob", "cho"];
const PAGES: [&str; 3] = ["#DEFAULT", "p2", "p3"];

fn element_id() -> impl Strategy<Value = String> {
    (0u8..24).prop_map(|n| format!("e{n}"))
}

fn point() -> impl Strategy<Value = (f32, f32)> {
    let coordinate = || (0u8..=20).prop_map(|n| f32::from(n) / 20.0);
    (coordinate(), coordinate())
}

fn colour() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("#FF0000"), Just("#0050C8"), Just("#20A02080")]
}

fn kind() -> impl Strategy<Value = OpKind> {
    prop_oneof![
        6 => (element_id(), proptest::collection::vec(point(), 1..4), colour())
            .prop_map(|(id, points, c): (String, Vec<(f32, f32)>, &str)| stroke(&id, &points, c, 0.01)),
        2 => (element_id(), point(), point(), any::<bool>())
            .prop_map(|(id, from, to, filled)| shape(&id, ShapeKind::Rect, from, to, filled.then_some("#F0C000"))),
        1 => (element_id(), point()).prop_map(|(id, at)| text(&id, at, "Aa", 0.05)),
        1 => (element_id(), point()).prop_map(|(id, (x, y))| image(&id, "https://example.com/a.png", [x, y, 0.1, 0.1])),
        3 => proptest::collection::vec(element_id(), 1..4)
            .prop_map(|ids| erase(&ids.iter().map(String::as_str).collect::<Vec<_>>())),
        1 => Just(OpKind::Clear),
        1 => colour().prop_map(background),
        4 => Just(OpKind::Undo),
        2 => Just(OpKind::Redo),
        1 => (prop_oneof![Just(PageAction::Add), Just(PageAction::Switch), Just(PageAction::Delete)], 0..PAGES.len())
            .prop_map(|(action, p)| page(action, PAGES[p])),
        2 => Just(OpKind::Mark),
    ]
}

/// One operation by one of [`USERS`]; it names one of [`PAGES`] or none.
fn op() -> impl Strategy<Value = (usize, Option<usize>, OpKind)> {
    (0..USERS.len(), proptest::option::weighted(0.3, 0..PAGES.len()), kind())
}

/// A log of up to `max` operations, `seq` from 1.
pub(crate) fn log(max: usize) -> impl Strategy<Value = Vec<LoggedOp>> {
    proptest::collection::vec(op(), 0..max).prop_map(|ops| {
        (1u64..)
            .zip(ops)
            .map(|(seq, (user, page, kind))| {
                let op = Op::new(kind);
                let op = match page {
                    Some(p) => op.on(PAGES[p]),
                    None => op,
                };
                LoggedOp { seq, user_id: USERS[user].to_owned(), received_at_ms: 1_000 * seq as i64, op }
            })
            .collect()
    })
}
