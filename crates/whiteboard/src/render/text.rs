//! Text layout with the bundled DejaVu Sans: shaping by rustybuzz, glyph outlines as paths.

use std::sync::OnceLock;

use rustybuzz::ttf_parser::{GlyphId, OutlineBuilder};
use rustybuzz::{Face, UnicodeBuffer};
use tiny_skia::{Path, PathBuilder};

/// Bundled so that output is the same on every host; licence in `assets/DejaVuSans-LICENSE`.
static FONT_DATA: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn face() -> &'static Face<'static> {
    static FACE: OnceLock<Face<'static>> = OnceLock::new();
    FACE.get_or_init(|| Face::from_slice(FONT_DATA, 0).expect("the bundled font parses"))
}

/// Text laid out in pixels: glyph outlines as one path, and the box the lines span.
pub(crate) struct Laid {
    /// `None` when no glyph has an outline (only spaces, say).
    pub path: Option<Path>,
    /// Width of the longest line.
    pub width: f32,
    /// Height of all lines.
    pub height: f32,
}

/// Lays out `text` with its first line's top-left corner at (`x`, `y`), `size` px per em.
/// Lines break at `\n` only; every line starts at `x`, whatever its direction.
pub(crate) fn layout(text: &str, x: f32, y: f32, size: f32) -> Laid {
    let face = face();
    let scale = size / face.units_per_em() as f32;
    let ascent = f32::from(face.ascender()) * scale;
    let line_height = f32::from(face.ascender() - face.descender() + face.line_gap()) * scale;
    let mut pb = PathBuilder::new();
    let mut width = 0.0f32;
    let mut lines = 0;
    for (i, line) in text.split('\n').enumerate() {
        lines += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(line);
        buffer.guess_segment_properties();
        let glyphs = rustybuzz::shape(face, &[], buffer);
        let baseline = y + ascent + i as f32 * line_height;
        let mut pen = 0.0f32;
        for (info, pos) in glyphs.glyph_infos().iter().zip(glyphs.glyph_positions()) {
            let mut outline = Outline {
                pb: &mut pb,
                x: x + (pen + pos.x_offset as f32) * scale,
                y: baseline - pos.y_offset as f32 * scale,
                scale,
            };
            // Glyph ids from the shaper always fit the font's u16 glyph space.
            face.outline_glyph(GlyphId(info.glyph_id as u16), &mut outline);
            pen += pos.x_advance as f32;
        }
        width = width.max(pen * scale);
    }
    Laid {
        path: pb.finish(),
        width,
        height: lines as f32 * line_height,
    }
}

/// Maps font units (y up, origin on the baseline) to pixels (y down).
struct Outline<'a> {
    pb: &'a mut PathBuilder,
    x: f32,
    y: f32,
    scale: f32,
}

impl Outline<'_> {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x + x * self.scale, self.y - y * self.scale)
    }
}

impl OutlineBuilder for Outline<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.pb.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.pb.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.at(x1, y1);
        let (x, y) = self.at(x, y);
        self.pb.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.at(x1, y1);
        let (x2, y2) = self.at(x2, y2);
        let (x, y) = self.at(x, y);
        self.pb.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.pb.close();
    }
}
