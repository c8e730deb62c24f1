//! Paints one element (or a background) onto a pixmap, and says where it paints.

use tiny_skia::{
    BlendMode, FillRule, FilterQuality, LineCap, LineJoin, Paint, Path, PathBuilder, Pattern, PixmapMut, PixmapRef,
    Rect, SpreadMode, Stroke, Transform,
};

use super::images::ImageSource;
use super::text;
use crate::color::Color;
use crate::op::{self, Background, Point, ShapeKind, Tool};
use crate::replay::Element;

/// Highlighter ink keeps this much of its colour's opacity.
const HIGHLIGHTER_ALPHA: f32 = 0.4;
const PLACEHOLDER_FILL: Color = Color::rgb(0xC8, 0xC8, 0xC8);
const PLACEHOLDER_EDGE: Color = Color::rgb(0x90, 0x90, 0x90);
/// Anti-aliasing reaches about a pixel past the geometry.
const AA_MARGIN: f32 = 2.0;

/// Where the board lies in the output, in pixels. Shifting `x`/`y` renders a sub-region
/// into a smaller pixmap with the same result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Viewport {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Viewport {
    fn at(&self, p: Point) -> (f32, f32) {
        (self.x + p.x * self.w, self.y + p.y * self.h)
    }

    /// A length given as a fraction of the board height.
    fn len(&self, l: f32) -> f32 {
        l * self.h
    }

    pub(super) fn shifted(self, dx: f32, dy: f32) -> Self {
        Viewport { x: self.x - dx, y: self.y - dy, ..self }
    }

    pub(super) fn rect(&self) -> Option<Rect> {
        Rect::from_xywh(self.x, self.y, self.w, self.h)
    }
}

/// A pixel-space box: (left, top, right, bottom).
pub(crate) type Bounds = (f32, f32, f32, f32);

fn paint(color: Color) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color.r, color.g, color.b, color.a);
    paint
}

fn round_stroke(width: f32) -> Stroke {
    Stroke { width, line_cap: LineCap::Round, line_join: LineJoin::Round, ..Stroke::default() }
}

/// Paints a page's own background over the board; the caller has already filled the board
/// with the default colour.
pub(crate) fn background(pm: &mut PixmapMut, vp: Viewport, bg: Option<&Background>, images: &dyn ImageSource) {
    let Some(rect) = vp.rect() else { return };
    match bg {
        Some(Background::Color(c)) => pm.fill_rect(rect, &paint(*c), Transform::identity(), None),
        // A background image that the caller could not supply leaves the default colour:
        // a page-sized placeholder would hide the drawing more than it helps.
        Some(Background::Image(url)) => {
            if let Some(img) = images.image(url) {
                draw_image(pm, img, rect);
            }
        }
        None => {}
    }
}

pub(crate) fn element(pm: &mut PixmapMut, vp: Viewport, el: &Element, images: &dyn ImageSource) {
    match el {
        Element::Stroke(s) => stroke(pm, vp, s),
        Element::Shape(s) => shape(pm, vp, s),
        Element::Text(t) => {
            let (x, y) = vp.at(t.at);
            if let Some(path) = text::layout(&t.text, x, y, vp.len(t.size)).path {
                pm.fill_path(&path, &paint(t.color), FillRule::Winding, Transform::identity(), None);
            }
        }
        Element::Image(i) => image(pm, vp, i, images),
    }
}

/// The pixel box `el` paints into, generously rounded out for anti-aliasing.
pub(crate) fn bounds(vp: Viewport, el: &Element) -> Bounds {
    let around = |pts: &mut dyn Iterator<Item = Point>, pad: f32| {
        let mut b = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in pts {
            let (x, y) = vp.at(p);
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
        let pad = pad + AA_MARGIN;
        (b.0 - pad, b.1 - pad, b.2 + pad, b.3 + pad)
    };
    match el {
        Element::Stroke(s) => around(&mut s.points.iter().copied(), vp.len(s.width) / 2.0),
        Element::Shape(s) => {
            let w = vp.len(s.width);
            let pad = match s.kind {
                ShapeKind::Arrow => arrow_head_len(w, vp).max(w),
                // A mitred right-angle corner reaches w/2·√2 out.
                ShapeKind::Rect => w * 0.75,
                ShapeKind::Line | ShapeKind::Ellipse => w / 2.0,
            };
            around(&mut [s.from, s.to].into_iter(), pad)
        }
        Element::Text(t) => {
            let (x, y) = vp.at(t.at);
            let size = vp.len(t.size);
            let laid = text::layout(&t.text, x, y, size);
            // Glyphs may overhang their advance box a little (accents, italics-like shapes).
            let pad = size * 0.25 + AA_MARGIN;
            (x - pad, y - pad, x + laid.width + pad, y + laid.height + pad)
        }
        Element::Image(i) => {
            let r = i.rect;
            let corners = [Point::new(r.x, r.y), Point::new(r.x + r.w, r.y + r.h)];
            around(&mut corners.into_iter(), 0.0)
        }
    }
}

fn stroke(pm: &mut PixmapMut, vp: Viewport, s: &op::Stroke) {
    let (color, blend) = match s.tool {
        Tool::Pen => (s.color, BlendMode::SourceOver),
        // Multiply tints what lies below without hiding it, like a real marker; the stroke is
        // one path, so where it crosses itself the ink does not build up.
        Tool::Highlighter => (s.color.fade(HIGHLIGHTER_ALPHA), BlendMode::Multiply),
    };
    let mut paint = paint(color);
    paint.blend_mode = blend;
    let width = vp.len(s.width);
    match smooth_path(s.points.iter().map(|p| vp.at(*p))) {
        Some(path) => pm.stroke_path(&path, &paint, &round_stroke(width), Transform::identity(), None),
        None => {
            let (x, y) = vp.at(s.points[0]);
            if let Some(dot) = PathBuilder::from_circle(x, y, width / 2.0) {
                pm.fill_path(&dot, &paint, FillRule::Winding, Transform::identity(), None);
            }
        }
    }
}

/// A curve through the midpoints of consecutive points, with the points themselves as
/// quadratic control points: smooth (C1) and never overshooting the hand's path.
/// `None` when all points coincide (a dot).
pub(crate) fn smooth_path(points: impl Iterator<Item = (f32, f32)>) -> Option<Path> {
    let mut pts: Vec<(f32, f32)> = Vec::with_capacity(points.size_hint().0);
    for p in points {
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    if pts.len() < 2 {
        return None;
    }
    let mid = |a: (f32, f32), b: (f32, f32)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let mut pb = PathBuilder::with_capacity(pts.len() + 2, pts.len() * 2 + 2);
    pb.move_to(pts[0].0, pts[0].1);
    if pts.len() == 2 {
        pb.line_to(pts[1].0, pts[1].1);
    } else {
        let m = mid(pts[0], pts[1]);
        pb.line_to(m.0, m.1);
        for w in pts.windows(2).skip(1) {
            let m = mid(w[0], w[1]);
            pb.quad_to(w[0].0, w[0].1, m.0, m.1);
        }
        let last = pts[pts.len() - 1];
        pb.line_to(last.0, last.1);
    }
    pb.finish()
}

fn arrow_head_len(width: f32, vp: Viewport) -> f32 {
    (width * 4.0).max(vp.h * 0.015)
}

fn shape(pm: &mut PixmapMut, vp: Viewport, s: &op::Shape) {
    let (x0, y0) = vp.at(s.from);
    let (x1, y1) = vp.at(s.to);
    let width = vp.len(s.width);
    let ink = paint(s.color);
    let t = Transform::identity();
    let line = |pm: &mut PixmapMut, x1: f32, y1: f32| {
        let mut pb = PathBuilder::new();
        pb.move_to(x0, y0);
        pb.line_to(x1, y1);
        if let Some(path) = pb.finish() {
            pm.stroke_path(&path, &ink, &round_stroke(width), t, None);
        }
    };
    let rect = Rect::from_ltrb(x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1));
    match (s.kind, rect) {
        (ShapeKind::Line, _) => line(pm, x1, y1),
        (ShapeKind::Arrow, _) => {
            let (dx, dy) = (x1 - x0, y1 - y0);
            let len = (dx * dx + dy * dy).sqrt();
            if len < f32::EPSILON {
                return;
            }
            // The head never takes more than 60% of a short arrow.
            let head = arrow_head_len(width, vp).min(len * 0.6);
            let (ux, uy) = (dx / len, dy / len);
            let (bx, by) = (x1 - ux * head, y1 - uy * head);
            // The shaft stops at the head's base, so its round cap hides inside the head
            // instead of blunting the tip.
            line(pm, bx, by);
            let half = head * 0.5;
            let mut pb = PathBuilder::new();
            pb.move_to(x1, y1);
            pb.line_to(bx - uy * half, by + ux * half);
            pb.line_to(bx + uy * half, by - ux * half);
            pb.close();
            if let Some(path) = pb.finish() {
                pm.fill_path(&path, &ink, FillRule::Winding, t, None);
            }
        }
        (ShapeKind::Rect | ShapeKind::Ellipse, Some(rect)) => {
            let path = match s.kind {
                ShapeKind::Rect => Some(PathBuilder::from_rect(rect)),
                _ => PathBuilder::from_oval(rect),
            };
            let Some(path) = path else {
                return line(pm, x1, y1);
            };
            if let Some(fill) = s.fill {
                pm.fill_path(&path, &paint(fill), FillRule::Winding, t, None);
            }
            let join = if s.kind == ShapeKind::Rect { LineJoin::Miter } else { LineJoin::Round };
            let outline = Stroke { width, line_join: join, ..Stroke::default() };
            pm.stroke_path(&path, &ink, &outline, t, None);
        }
        // A box with no area is a line.
        (ShapeKind::Rect | ShapeKind::Ellipse, None) => line(pm, x1, y1),
    }
}

fn image(pm: &mut PixmapMut, vp: Viewport, i: &op::Image, images: &dyn ImageSource) {
    let r = i.rect;
    let (x, y) = vp.at(Point::new(r.x, r.y));
    let Some(dest) = Rect::from_xywh(x, y, r.w * vp.w, r.h * vp.h) else {
        return;
    };
    match images.image(&i.url) {
        Some(img) => draw_image(pm, img, dest),
        None => placeholder(pm, dest),
    }
}

fn draw_image(pm: &mut PixmapMut, img: PixmapRef, dest: Rect) {
    let sx = dest.width() / img.width() as f32;
    let sy = dest.height() / img.height() as f32;
    let paint = Paint {
        shader: Pattern::new(
            img,
            SpreadMode::Pad,
            FilterQuality::Bilinear,
            1.0,
            Transform::from_row(sx, 0.0, 0.0, sy, dest.x(), dest.y()),
        ),
        ..Paint::default()
    };
    pm.fill_rect(dest, &paint, Transform::identity(), None);
}

/// A grey box with a cross: the image exists on the board but could not be supplied.
fn placeholder(pm: &mut PixmapMut, dest: Rect) {
    let t = Transform::identity();
    pm.fill_rect(dest, &paint(PLACEHOLDER_FILL), t, None);
    let mut pb = PathBuilder::new();
    pb.push_rect(dest);
    pb.move_to(dest.left(), dest.top());
    pb.line_to(dest.right(), dest.bottom());
    pb.move_to(dest.right(), dest.top());
    pb.line_to(dest.left(), dest.bottom());
    if let Some(path) = pb.finish() {
        let edge = Stroke { width: 1.0, ..Stroke::default() };
        pm.stroke_path(&path, &paint(PLACEHOLDER_EDGE), &edge, t, None);
    }
}
