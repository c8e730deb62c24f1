//! Golden images, one per operation type: `UPDATE_GOLDEN=1 cargo test -p whiteboard --test golden`
//! rewrites them (look at every rewritten image before committing it).

mod common;

use std::collections::HashMap;

use common::*;
use whiteboard::op::{PageAction, ShapeKind};
use whiteboard::render::{NoImages, RenderOptions, Renderer};
use whiteboard::replay::Board;
use whiteboard::tiny_skia::Pixmap;

const W: u32 = 320;
const H: u32 = 180;

fn render(log: &Log) -> Pixmap {
    render_with(log, RenderOptions::default(), &NoImages)
}

fn render_with(log: &Log, options: RenderOptions, images: &dyn whiteboard::render::ImageSource) -> Pixmap {
    let board = Board::replay(&log.ops);
    Renderer::new(W, H, options).unwrap().render(board.current_page(), images)
}

/// A wavy line across the board, as a hand would draw it.
fn wave(y: f32, amplitude: f32) -> Vec<(f32, f32)> {
    (0..=24)
        .map(|i| {
            let x = 0.08 + 0.84 * i as f32 / 24.0;
            (x, y + amplitude * (x * 14.0).sin())
        })
        .collect()
}

#[test]
fn stroke_pen() {
    let mut log = Log::new();
    log.push("u", stroke("s1", &wave(0.3, 0.12), "#D02020", 0.02));
    log.push("u", stroke("s2", &[(0.1, 0.8), (0.3, 0.6), (0.5, 0.85), (0.7, 0.6)], "#2040C0", 0.05));
    log.push("u", stroke("dot", &[(0.9, 0.8)], "#000000", 0.06));
    assert_golden("stroke_pen", &render(&log));
}

#[test]
fn stroke_highlighter() {
    let mut log = Log::new();
    log.push("u", text("t", (0.08, 0.35), "highlight me", 0.16));
    // The stroke doubles back over itself: the overlap must not look darker.
    log.push("u", highlighter("h", &[(0.05, 0.48), (0.85, 0.48), (0.85, 0.56), (0.3, 0.42)], "#FFD700", 0.12));
    assert_golden("stroke_highlighter", &render(&log));
}

fn one_shape(kind: ShapeKind, fill: Option<&str>) -> Pixmap {
    let mut log = Log::new();
    log.push("u", shape("a", kind, (0.15, 0.2), (0.85, 0.8), fill));
    render(&log)
}

#[test]
fn shape_line() {
    assert_golden("shape_line", &one_shape(ShapeKind::Line, None));
}

#[test]
fn shape_arrow() {
    let mut log = Log::new();
    log.push("u", shape("a", ShapeKind::Arrow, (0.15, 0.8), (0.85, 0.2), None));
    log.push("u", shape("b", ShapeKind::Arrow, (0.5, 0.85), (0.2, 0.85), None));
    assert_golden("shape_arrow", &render(&log));
}

#[test]
fn shape_rect() {
    assert_golden("shape_rect", &one_shape(ShapeKind::Rect, None));
}

#[test]
fn shape_rect_filled() {
    assert_golden("shape_rect_filled", &one_shape(ShapeKind::Rect, Some("#F5A62380")));
}

#[test]
fn shape_ellipse() {
    assert_golden("shape_ellipse", &one_shape(ShapeKind::Ellipse, None));
}

#[test]
fn shape_ellipse_filled() {
    assert_golden("shape_ellipse_filled", &one_shape(ShapeKind::Ellipse, Some("#3CB371")));
}

#[test]
fn text_multiline_unicode() {
    assert_text_golden("text_multiline_unicode", "Hello, board!\nПривет, Ωμέγα\nسلام عليكم");
}

#[test]
fn text_cjk_fallback() {
    // Chinese and kana come from the fallback face; the Latin word keeps the primary face.
    assert_text_golden("text_cjk_fallback", "白板快照，你好！\n混合 mixed 文字\nかなとカナ。");
}

/// One text operation near the top-left corner, 0.13 of the board high.
fn assert_text_golden(name: &str, content: &str) {
    let mut log = Log::new();
    log.push("u", text("t", (0.04, 0.05), content, 0.13));
    assert_golden(name, &render(&log));
}

#[test]
fn image_scaled_and_missing() {
    // A 4x4 checkerboard stretched into a wide rect, and a URL the caller could not supply.
    let mut checker = Pixmap::new(4, 4).unwrap();
    for (i, px) in checker.data_mut().chunks_exact_mut(4).enumerate() {
        let on = (i % 4 + i / 4) % 2 == 0;
        px.copy_from_slice(if on { &[200, 30, 30, 255] } else { &[255, 255, 255, 255] });
    }
    let images = HashMap::from([("https://example.com/c.png".to_owned(), checker)]);
    let mut log = Log::new();
    log.push("u", image("i1", "https://example.com/c.png", [0.05, 0.1, 0.5, 0.8]));
    log.push("u", image("i2", "https://example.com/missing.png", [0.6, 0.3, 0.35, 0.4]));
    assert_golden("image_scaled_and_missing", &render_with(&log, RenderOptions::default(), &images));
}

#[test]
fn erase_removes_from_picture() {
    let mut log = Log::new();
    log.push("u", stroke("keep", &wave(0.3, 0.1), "#D02020", 0.03));
    log.push("u", stroke("gone", &wave(0.7, 0.1), "#2040C0", 0.03));
    log.push("u", erase(&["gone"]));
    assert_golden("erase", &render(&log));
}

#[test]
fn clear_leaves_background_only() {
    let mut log = Log::new();
    log.push("u", background("#E8F0FF"));
    log.push("u", stroke("s", &wave(0.5, 0.2), "#D02020", 0.03));
    log.push("u", shape("r", ShapeKind::Rect, (0.1, 0.1), (0.4, 0.4), Some("#000000")));
    log.push("u", whiteboard::op::OpKind::Clear);
    assert_golden("clear", &render(&log));
}

#[test]
fn background_colour() {
    let mut log = Log::new();
    log.push("u", background("#204030"));
    log.push("u", stroke("s", &wave(0.5, 0.2), "#FFFFFF", 0.02));
    assert_golden("background_colour", &render(&log));
}

#[test]
fn ratio_letterboxing() {
    // A 4:3 board in a 16:9 output: bars left and right, the board keeps its shape (a circle
    // stays round), ink past the board edge is clipped by the bars.
    let options = RenderOptions::from_init_params(r##"{"ratio":"4:3","globalBackgroundColor":"#FFF8E0"}"##).unwrap();
    let mut log = Log::new();
    log.push("u", shape("c", ShapeKind::Ellipse, (0.125, 0.0), (0.875, 1.0), None));
    log.push("u", stroke("edge", &[(0.0, 0.5), (1.0, 0.5)], "#D02020", 0.08));
    assert_golden("ratio_letterboxing", &render_with(&log, options, &NoImages));
}

#[test]
fn page_switch_shows_other_page() {
    let mut log = Log::new();
    log.push("u", stroke("s", &wave(0.5, 0.2), "#D02020", 0.03));
    log.push("u", page(PageAction::Add, "p2"));
    log.on("u", "p2", text("t", (0.1, 0.4), "page two", 0.15));
    log.push("u", page(PageAction::Switch, "p2"));
    assert_golden("page_switch", &render(&log));
}

#[test]
fn comparison_catches_a_wrong_picture() {
    let line = one_shape(ShapeKind::Line, None);
    let rect = one_shape(ShapeKind::Rect, None);
    assert!(differs(&line, &rect).is_some());
    assert!(differs(&line, &line.clone()).is_none());
}
