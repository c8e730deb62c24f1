//! Incremental rendering must end at the same pixels as rendering the page from scratch.

mod common;

use common::*;
use whiteboard::op::{OpKind, PageAction, ShapeKind};
use whiteboard::render::{NoImages, RenderOptions, Renderer, Repaint};
use whiteboard::replay::Board;

fn check(log: &Log, options: RenderOptions) -> Vec<Repaint> {
    let renderer = Renderer::new(320, 180, options).unwrap();
    let mut board = Board::new();
    let mut frame = renderer.render(board.current_page(), &NoImages);
    let mut repaints = Vec::new();
    for op in &log.ops {
        let change = board.apply(op);
        repaints.push(renderer.apply_change(&mut frame, &board, &change, &NoImages));
        let full = renderer.render(board.current_page(), &NoImages);
        if let Some(why) = differs(&full, &frame) {
            panic!("after op {} ({:?}): {why}", op.seq, op.op.kind);
        }
    }
    repaints
}

fn busy_log() -> Log {
    let mut log = Log::new();
    log.push("a", stroke("s1", &[(0.1, 0.2), (0.4, 0.6), (0.7, 0.3)], "#D02020", 0.03));
    log.push("b", shape("r", ShapeKind::Rect, (0.2, 0.2), (0.6, 0.7), Some("#3CB37180")));
    log.push("a", text("t", (0.3, 0.4), "over the top", 0.1));
    log.push("a", highlighter("h", &[(0.0, 0.5), (1.0, 0.5)], "#FFD700", 0.1));
    log.push("b", erase(&["r"]));
    log.push("a", OpKind::Undo);
    log.push("b", OpKind::Undo);
    log.push("b", OpKind::Redo);
    log.push("a", stroke("s1", &[(0.5, 0.5), (0.9, 0.9)], "#2040C0", 0.02));
    log.on("a", "p2", stroke("p2s", &[(0.1, 0.1), (0.9, 0.9)], "#000000", 0.02));
    log.push("a", page(PageAction::Switch, "p2"));
    log.push("a", background("#FFF0F0"));
    log.push("a", page(PageAction::Delete, "p2"));
    log.push("a", OpKind::Clear);
    log
}

#[test]
fn incremental_frames_match_full_renders() {
    check(&busy_log(), RenderOptions::default());
}

#[test]
fn incremental_frames_match_full_renders_when_letterboxed() {
    let options = RenderOptions::from_init_params(r#"{"ratio":"4:3"}"#).unwrap();
    check(&busy_log(), options);
}

#[test]
fn added_stroke_repaints_only_its_box() {
    let mut log = Log::new();
    log.push("a", stroke("s", &[(0.1, 0.1), (0.2, 0.2)], "#000000", 0.02));
    let repaints = check(&log, RenderOptions::default());
    let Repaint::Area(area) = repaints[0] else { panic!("{:?}", repaints[0]) };
    assert!(area.width() < 50 && area.height() < 50, "{area:?}");
}

#[test]
fn changes_to_hidden_pages_repaint_nothing() {
    let mut log = Log::new();
    log.on("a", "p2", stroke("s", &[(0.1, 0.1), (0.2, 0.2)], "#000000", 0.02));
    assert_eq!(check(&log, RenderOptions::default()), [Repaint::None]);
}
