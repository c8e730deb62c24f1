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
    #[error("PNG of {width}x{height} pixels is larger than the {max_pixels} pixels allowed")]
    TooLarge { width: u32, height: u32, max_pixels: u64 },
}

/// Most pixels [`decode_png`] decodes: 4096×4096, 64 MiB as RGBA.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// Decodes a PNG of at most [`DEFAULT_MAX_PIXELS`] pixels; see [`decode_png_within`].
pub fn decode_png(bytes: &[u8]) -> Result<Pixmap, ImageError> {
    decode_png_within(bytes, DEFAULT_MAX_PIXELS)
}

/// Decodes a PNG (any colour type and depth) into a premultiplied RGBA pixmap, refusing from
/// its header, before anything is allocated for pixels, one of more than `max_pixels` pixels
/// ([`ImageError::TooLarge`]): a few kilobytes of PNG can claim gigabytes once decoded. The
/// decoder's own allocations are capped to the same size.
pub fn decode_png_within(bytes: &[u8], max_pixels: u64) -> Result<Pixmap, ImageError> {
    // The decoded frame at 16-bit RGBA is the largest buffer the decoder makes.
    let limit = usize::try_from(max_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    let mut decoder = Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: limit });
    decoder.set_transformations(Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooLarge { width, height, max_pixels });
    }
    let mut buf = vec![0; reader.output_buffer_size().ok_or(ImageError::Empty)?];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let rgba: Vec<u8> = match info.color_type {
        ColorType::Rgba => buf,
        ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 0xff]).collect(),
        ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
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
