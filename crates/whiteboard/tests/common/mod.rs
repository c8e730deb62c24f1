//! Shared fixtures: terse constructors for operations and logs, and golden-image comparison.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

pub(crate) mod logs;
pub(crate) mod reference;

use whiteboard::Color;
use whiteboard::op::{
    Background, ElementId, Image, LoggedOp, Op, OpKind, PageAction, PageId, PageOp, Point, Rect, Shape, ShapeKind,
    Stroke, Text, Tool,
};
use whiteboard::tiny_skia::Pixmap;

pub(crate) fn color(s: &str) -> Color {
    s.parse().expect("fixture colour")
}

pub(crate) fn pts(points: &[(f32, f32)]) -> Vec<Point> {
    points.iter().map(|&(x, y)| Point::new(x, y)).collect()
}

pub(crate) fn stroke(id: &str, points: &[(f32, f32)], c: &str, width: f32) -> OpKind {
    OpKind::Stroke(Stroke { id: ElementId::new(id), points: pts(points), color: color(c), width, tool: Tool::Pen })
}

pub(crate) fn highlighter(id: &str, points: &[(f32, f32)], c: &str, width: f32) -> OpKind {
    match stroke(id, points, c, width) {
        OpKind::Stroke(s) => OpKind::Stroke(Stroke { tool: Tool::Highlighter, ..s }),
        _ => unreachable!(),
    }
}

pub(crate) fn shape(id: &str, kind: ShapeKind, from: (f32, f32), to: (f32, f32), fill: Option<&str>) -> OpKind {
    OpKind::Shape(Shape {
        id: ElementId::new(id),
        kind,
        from: Point::new(from.0, from.1),
        to: Point::new(to.0, to.1),
        color: color("#1F3A93"),
        width: 0.02,
        fill: fill.map(color),
    })
}

pub(crate) fn text(id: &str, at: (f32, f32), s: &str, size: f32) -> OpKind {
    OpKind::Text(Text {
        id: ElementId::new(id),
        at: Point::new(at.0, at.1),
        text: s.to_owned(),
        size,
        color: color("#202020"),
    })
}

pub(crate) fn image(id: &str, url: &str, rect: [f32; 4]) -> OpKind {
    OpKind::Image(Image { id: ElementId::new(id), url: url.to_owned(), rect: Rect::from(rect) })
}

pub(crate) fn erase(ids: &[&str]) -> OpKind {
    OpKind::Erase { ids: ids.iter().map(|id| ElementId::new(*id)).collect() }
}

pub(crate) fn background(c: &str) -> OpKind {
    OpKind::Background(Background::Color(color(c)))
}

pub(crate) fn page(action: PageAction, target: &str) -> OpKind {
    OpKind::Page(PageOp { action, target: PageId::new(target) })
}

/// A log builder that stamps sequence numbers in order.
#[derive(Default)]
pub(crate) struct Log {
    pub ops: Vec<LoggedOp>,
}

impl Log {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends `kind` by `user` on the default page.
    pub(crate) fn push(&mut self, user: &str, kind: OpKind) -> &mut Self {
        self.push_op(user, Op::new(kind))
    }

    /// Appends `kind` by `user` on `page`.
    pub(crate) fn on(&mut self, user: &str, page: &str, kind: OpKind) -> &mut Self {
        self.push_op(user, Op::new(kind).on(page))
    }

    pub(crate) fn push_op(&mut self, user: &str, op: Op) -> &mut Self {
        let seq = self.ops.len() as u64 + 1;
        self.ops.push(LoggedOp { seq, user_id: user.to_owned(), received_at_ms: 1_000 * seq as i64, op });
        self
    }
}

/// Ids of a page's elements, bottom to top.
pub(crate) fn ids(page: &whiteboard::replay::Page) -> Vec<&str> {
    page.elements().map(|e| e.id().as_str()).collect()
}

/// Channels may differ by this much: anti-aliasing differs slightly between SIMD paths.
const CHANNEL_TOLERANCE: u8 = 8;
/// At most this fraction of pixels may exceed the channel tolerance.
const PIXEL_FRACTION: f64 = 0.005;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.png"))
}

/// Compares `actual` with `tests/golden/{name}.png`; `UPDATE_GOLDEN=1` rewrites the golden.
/// On a mismatch the actual image is left in the cargo target's test tmpdir for inspection.
pub(crate) fn assert_golden(name: &str, actual: &Pixmap) {
    let path = golden_path(name);
    let png = whiteboard::render::encode_png(actual).expect("encode");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &png).expect("write golden");
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1 to create it", path.display()));
    let expected = whiteboard::render::decode_png(&expected).expect("golden decodes");
    let dump = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual.png"));
    assert_eq!(
        (expected.width(), expected.height()),
        (actual.width(), actual.height()),
        "{name}: size differs from golden"
    );
    if let Some(why) = differs(&expected, actual) {
        std::fs::write(&dump, &png).expect("write actual");
        panic!("{name}: {why}; actual image at {}", dump.display());
    }
}

/// `Some(reason)` when the images differ beyond the tolerance.
pub(crate) fn differs(a: &Pixmap, b: &Pixmap) -> Option<String> {
    let mut bad = 0usize;
    let mut worst = 0u8;
    for (p, q) in a.data().chunks_exact(4).zip(b.data().chunks_exact(4)) {
        let delta = p.iter().zip(q).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        worst = worst.max(delta);
        if delta > CHANNEL_TOLERANCE {
            bad += 1;
        }
    }
    let total = (a.width() * a.height()) as usize;
    let fraction = bad as f64 / total as f64;
    (fraction > PIXEL_FRACTION).then(|| {
        format!(
            "{bad} of {total} pixels ({:.2}%) differ by more than {CHANNEL_TOLERANCE} (worst {worst})",
            fraction * 100.0
        )
    })
}

/// Element ids at the edges of how an id is kept (inline up to 23 bytes, on the heap beyond;
/// whitespace-only runs have a representation of their own) and written (a length then
/// UTF-8 bytes): 0, 1, 22, 23, 24 and 255 bytes, ASCII and not, two that differ only after
/// the 23rd byte.
pub(crate) fn edge_ids() -> Vec<String> {
    let x = |n| "x".repeat(n);
    vec![
        String::new(),
        "a".to_owned(),
        x(22),
        x(23),
        x(24),
        x(23) + "y",
        x(255),
        "é".repeat(11) + "x",
        "é".repeat(12),
        "é".repeat(127) + "x",
        "日".repeat(7) + "ab",
        "日".repeat(8),
        "🙂".repeat(6),
        "\n\n".to_owned() + &" ".repeat(21),
        "\n".to_owned() + &" ".repeat(40),
        "\0\"\\".to_owned(),
    ]
}
