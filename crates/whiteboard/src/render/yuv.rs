//! Frames for video encoders: RGBA pixmaps to planar YUV 4:2:0 (BT.601, limited range, the
//! `yuv420p` every H.264 encoder takes), converting only the area that changed.

use thiserror::Error;
use tiny_skia::{IntRect, Pixmap};

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a 4:2:0 frame needs even, non-zero sides; got {width}x{height}")]
pub struct OddSizeError {
    pub width: u32,
    pub height: u32,
}

/// A `yuv420p` frame: the Y plane, then U, then V (each chroma plane a quarter of Y).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yuv420 {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Yuv420 {
    /// The frame of `pixmap`, which must have even sides.
    pub fn from_pixmap(pixmap: &Pixmap) -> Result<Self, OddSizeError> {
        let (width, height) = (pixmap.width(), pixmap.height());
        if width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1 {
            return Err(OddSizeError { width, height });
        }
        let luma = width as usize * height as usize;
        let mut frame = Yuv420 { width, height, data: vec![0; luma + luma / 2] };
        frame.convert(pixmap, 0, 0, width, height);
        Ok(frame)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Converts `area` of `pixmap` again (widened to even coordinates, since four pixels share
    /// one chroma sample). `pixmap` must be the size of the frame.
    pub fn update(&mut self, pixmap: &Pixmap, area: IntRect) {
        debug_assert_eq!((pixmap.width(), pixmap.height()), (self.width, self.height));
        let left = (area.left().max(0) as u32) & !1;
        let top = (area.top().max(0) as u32) & !1;
        let right = (area.right().max(0) as u32).div_ceil(2).saturating_mul(2).min(self.width);
        let bottom = (area.bottom().max(0) as u32).div_ceil(2).saturating_mul(2).min(self.height);
        if right > left && bottom > top {
            self.convert(pixmap, left, top, right, bottom);
        }
    }

    /// Converts the even-aligned box `[left, right) x [top, bottom)`. Frames are opaque (the
    /// renderer paints a background first), so premultiplied RGBA is plain RGB here.
    fn convert(&mut self, pixmap: &Pixmap, left: u32, top: u32, right: u32, bottom: u32) {
        let width = self.width as usize;
        let luma = width * self.height as usize;
        let (y_plane, chroma) = self.data.split_at_mut(luma);
        let (u_plane, v_plane) = chroma.split_at_mut(luma / 4);
        let rgba = pixmap.data();
        for y in (top as usize..bottom as usize).step_by(2) {
            for x in (left as usize..right as usize).step_by(2) {
                let (mut r_sum, mut g_sum, mut b_sum) = (0i32, 0i32, 0i32);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let at = (y + dy) * width + x + dx;
                    let (r, g, b) = (i32::from(rgba[at * 4]), i32::from(rgba[at * 4 + 1]), i32::from(rgba[at * 4 + 2]));
                    y_plane[at] = luma_of(r, g, b);
                    r_sum += r;
                    g_sum += g;
                    b_sum += b;
                }
                let (r, g, b) = ((r_sum + 2) / 4, (g_sum + 2) / 4, (b_sum + 2) / 4);
                let at = (y / 2) * (width / 2) + x / 2;
                u_plane[at] = clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                v_plane[at] = clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
    }
}

fn luma_of(r: i32, g: i32, b: i32) -> u8 {
    clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16)
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiny_skia::Color;

    fn filled(width: u32, height: u32, color: Color) -> Pixmap {
        let mut pixmap = Pixmap::new(width, height).unwrap();
        pixmap.fill(color);
        pixmap
    }

    #[test]
    fn white_and_black_are_the_limited_range_ends() {
        let white = Yuv420::from_pixmap(&filled(4, 2, Color::WHITE)).unwrap();
        assert_eq!(&white.as_bytes()[..8], &[235; 8]);
        assert_eq!(&white.as_bytes()[8..], &[128; 4]);
        let black = Yuv420::from_pixmap(&filled(4, 2, Color::BLACK)).unwrap();
        assert_eq!(&black.as_bytes()[..8], &[16; 8]);
    }

    #[test]
    fn pure_red_has_high_v_and_low_u() {
        let red = Yuv420::from_pixmap(&filled(2, 2, Color::from_rgba8(255, 0, 0, 255))).unwrap();
        let bytes = red.as_bytes();
        assert_eq!(bytes[0], 82);
        assert_eq!((bytes[4], bytes[5]), (90, 240));
    }

    #[test]
    fn odd_sides_are_refused() {
        assert_eq!(Yuv420::from_pixmap(&filled(3, 2, Color::WHITE)), Err(OddSizeError { width: 3, height: 2 }));
    }

    #[test]
    fn update_converts_only_the_changed_area_widened_to_even() {
        let mut pixmap = filled(8, 8, Color::WHITE);
        let mut frame = Yuv420::from_pixmap(&pixmap).unwrap();
        pixmap.fill(Color::BLACK);
        frame.update(&pixmap, IntRect::from_xywh(3, 3, 1, 1).unwrap());
        let y = &frame.as_bytes()[..64];
        for row in 0..8 {
            for col in 0..8 {
                let inside = (2..4).contains(&row) && (2..4).contains(&col);
                assert_eq!(y[row * 8 + col], if inside { 16 } else { 235 }, "pixel ({col}, {row})");
            }
        }
        assert_eq!(frame, {
            let mut expected = Yuv420::from_pixmap(&filled(8, 8, Color::WHITE)).unwrap();
            expected.update(&pixmap, IntRect::from_xywh(2, 2, 2, 2).unwrap());
            expected
        });
    }
}
