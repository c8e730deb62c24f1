//! Pictures the caller has already fetched and decoded; the renderer never fetches.

use std::collections::HashMap;
use std::io::Cursor;

use png::{ColorType, Decoder, Transformations};
use thiserror::Error;
use tiny_skia::{IntSize, Pixmap, PixmapRef};

/// Decoded images by URL. An image the source does not have renders as a grey placeholder.
pub trait ImageSource {
    fn image(&self, url: &str) -> Option<PixmapRef<'_>>;
}

/// No images at all: every image element renders as a placeholder.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImages;

impl ImageSource for NoImages {
    fn image(&self, _url: &str) -> Option<PixmapRef<'_>> {
        None
    }
}

impl ImageSource for HashMap<String, Pixmap> {
    fn image(&self, url: &str) -> Option<PixmapRef<'_>> {
        self.get(url).map(Pixmap::as_ref)
    }
}

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("cannot decode PNG: {0}")]
    Png(#[from] png::DecodingError),
    #[error("PNG has no pixels")]
    Empty,
    #[error("PNG colour type {0:?} is not supported")]
    Unsupported(ColorType),
}

/// Decodes a PNG (any colour type and depth) into a premultiplied RGBA pixmap.
/// The `png` decoder's default limits bound the memory a hostile file can claim.
pub fn decode_png(bytes: &[u8]) -> Result<Pixmap, ImageError> {
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or(ImageError::Empty)?];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let rgba: Vec<u8> = match info.color_type {
        ColorType::Rgba => buf,
        ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 0xff])
            .collect(),
        ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 0xff]).collect(),
        // `normalize_to_color8` expands palettes to RGB(A), so this would be a decoder change.
        ColorType::Indexed => return Err(ImageError::Unsupported(info.color_type)),
    };
    let mut rgba = rgba;
    for px in rgba.chunks_exact_mut(4) {
        let a = u16::from(px[3]);
        if a != 0xff {
            for c in &mut px[..3] {
                *c = ((u16::from(*c) * a + 127) / 255) as u8;
            }
        }
    }
    let size = IntSize::from_wh(info.width, info.height).ok_or(ImageError::Empty)?;
    Pixmap::from_vec(rgba, size).ok_or(ImageError::Empty)
}
