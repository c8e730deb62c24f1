//! Text layout with the bundled fonts: DejaVu Sans first, Droid Sans Fallback for what it lacks
//! (Chinese, Japanese, Korean); shaping by rustybuzz, glyph outlines as paths.

use std::sync::OnceLock;

use rustybuzz::ttf_parser::{GlyphId, OutlineBuilder};
use rustybuzz::{Face, UnicodeBuffer};
use tiny_skia::{Path, PathBuilder};

/// Bundled so that output is the same on every host; licences in `assets/*-LICENSE`.
static PRIMARY_FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static FALLBACK_FONT: &[u8] = include_bytes!("../../assets/DroidSansFallbackFull.ttf");

fn primary() -> &'static Face<'static> {
    static FACE: OnceLock<Face<'static>> = OnceLock::new();
    FACE.get_or_init(|| Face::from_slice(PRIMARY_FONT, 0).expect("the bundled font parses"))
}

fn fallback() -> &'static Face<'static> {
    static FACE: OnceLock<Face<'static>> = OnceLock::new();
    FACE.get_or_init(|| Face::from_slice(FALLBACK_FONT, 0).expect("the bundled fallback font parses"))
}

/// The face that draws `c`: the primary one whenever it has the glyph, so Latin, Greek, Cyrillic
/// and Arabic keep their look; the fallback only for what the primary lacks.
fn face_for(c: char) -> &'static Face<'static> {
    let (primary, fallback) = (primary(), fallback());
    if primary.glyph_index(c).is_none() && fallback.glyph_index(c).is_some() { fallback } else { primary }
}

/// Splits `line` into runs that one face draws. A space the current face has stays in its run,
/// so a space between two Chinese words does not cut their run; a combining mark always stays
/// with its base, because the shaper can only place a mark on a base it shapes.
fn runs(line: &str) -> Vec<(&'static Face<'static>, &str)> {
    let mut runs: Vec<(&'static Face<'static>, &str)> = Vec::new();
    let mut start = 0;
    let mut current: Option<&'static Face<'static>> = None;
    for (i, c) in line.char_indices() {
        let face = face_for(c);
        match current {
            None => current = Some(face),
            Some(run_face) if std::ptr::eq(run_face, face) || is_combining(c) => {}
            Some(run_face) if c.is_whitespace() && run_face.glyph_index(c).is_some() => {}
            Some(run_face) => {
                runs.push((run_face, &line[start..i]));
                start = i;
                current = Some(face);
            }
        }
    }
    if let Some(face) = current {
        runs.push((face, &line[start..]));
    }
    runs
}

/// The combining diacritical mark blocks: a mark belongs to the run of its base character.
fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
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
    // Lines are spaced by the primary face's metrics whichever faces draw them.
    let face = primary();
    let em = size / face.units_per_em() as f32;
    let ascent = f32::from(face.ascender()) * em;
    let line_height = f32::from(face.ascender() - face.descender() + face.line_gap()) * em;
    let mut pb = PathBuilder::new();
    let mut width = 0.0f32;
    let mut lines = 0;
    for (i, line) in text.split('\n').enumerate() {
        lines += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let baseline = y + ascent + i as f32 * line_height;
        // The pen is in pixels: runs of different faces have different units per em.
        let mut pen = 0.0f32;
        for (face, run) in runs(line) {
            let scale = size / face.units_per_em() as f32;
            let mut buffer = UnicodeBuffer::new();
            buffer.push_str(run);
            buffer.guess_segment_properties();
            let glyphs = rustybuzz::shape(face, &[], buffer);
            for (info, pos) in glyphs.glyph_infos().iter().zip(glyphs.glyph_positions()) {
                let mut outline = Outline {
                    pb: &mut pb,
                    x: x + pen + pos.x_offset as f32 * scale,
                    y: baseline - pos.y_offset as f32 * scale,
                    scale,
                };
                // Glyph ids from the shaper always fit the font's u16 glyph space.
                face.outline_glyph(GlyphId(info.glyph_id as u16), &mut outline);
                pen += pos.x_advance as f32 * scale;
            }
        }
        width = width.max(pen);
    }
    Laid { path: pb.finish(), width, height: lines as f32 * line_height }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn faces_of(line: &str) -> Vec<(bool, &str)> {
        runs(line).into_iter().map(|(face, run)| (std::ptr::eq(face, fallback()), run)).collect()
    }

    #[test]
    fn chinese_is_drawn_by_the_fallback_face() {
        assert_eq!(faces_of("白板"), [(true, "白板")]);
        let laid = layout("白板", 0.0, 0.0, 100.0);
        assert!(laid.path.is_some(), "the glyphs have outlines");
        // CJK ideographs are one em wide.
        assert!((laid.width - 200.0).abs() < 1.0, "width {}", laid.width);
    }

    #[test]
    fn latin_stays_with_the_primary_face_and_spaces_keep_a_run_whole() {
        assert_eq!(faces_of("你 好 ok かな。"), [(true, "你 好 "), (false, "ok "), (true, "かな。")]);
        assert_eq!(faces_of("Привет, Ωμέγα"), [(false, "Привет, Ωμέγα")]);
    }

    #[test]
    fn a_combining_mark_stays_with_its_base() {
        assert_eq!(faces_of("字\u{0301}e"), [(true, "字\u{0301}"), (false, "e")]);
    }

    #[test]
    fn a_mixed_line_is_as_wide_as_its_runs() {
        let whole = layout("ab白板", 0.0, 0.0, 50.0).width;
        let parts = layout("ab", 0.0, 0.0, 50.0).width + layout("白板", 0.0, 0.0, 50.0).width;
        assert!((whole - parts).abs() < 0.5, "{whole} vs {parts}");
    }
}
