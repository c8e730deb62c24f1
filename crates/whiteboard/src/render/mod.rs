//! Rasterises a page to an RGBA pixmap or PNG at any output size, fully or incrementally.
//!
//! The board (aspect [`Ratio`]) is fitted into the output, centred, on pixel boundaries; the
//! rest is letterbox in [`RenderOptions::letterbox`]. Elements are clipped to the board by
//! painting the letterbox last.

mod draw;
mod encode;
mod images;
mod parallel;
mod text;
mod yuv;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use thiserror::Error;
use tiny_skia::{Color as SkColor, IntRect, Pixmap, PixmapMut, Rect, Transform};

pub use encode::encode_png;
pub use images::{DEFAULT_MAX_PIXELS, ImageError, ImageSource, NoImages, decode_png, decode_png_within};
pub use parallel::render_marks_parallel;
pub use yuv::{OddSizeError, Yuv420};

use crate::color::{Color, ColorError};
use crate::replay::{Board, Change, Element, Page};
use draw::{Bounds, Viewport};

/// The board's aspect ratio, `"W:H"` in InitParams (`"16:9"`, `"4:3"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub width: f32,
    pub height: f32,
}

impl Default for Ratio {
    fn default() -> Self {
        Ratio { width: 16.0, height: 9.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid ratio {input:?}: expected \"W:H\" with positive numbers, e.g. \"16:9\"")]
pub struct RatioError {
    pub input: String,
}

impl FromStr for Ratio {
    type Err = RatioError;
    fn from_str(s: &str) -> Result<Self, RatioError> {
        let err = || RatioError { input: s.to_owned() };
        let (w, h) = s.split_once(':').ok_or_else(err)?;
        let part = |v: &str| match v.trim().parse::<f32>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(err()),
        };
        Ok(Ratio { width: part(w)?, height: part(h)? })
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.width, self.height)
    }
}

/// Largest output side in pixels; Tencent's own limit is 2560.
pub const MAX_SIDE: u32 = 16_384;

/// How pages look beyond their own content.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    pub ratio: Ratio,
    /// Board colour of pages without a `background` (InitParams `globalBackgroundColor`).
    pub background: Color,
    /// Colour of the bars around a board whose ratio differs from the output's.
    pub letterbox: Color,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { ratio: Ratio::default(), background: Color::WHITE, letterbox: Color::rgb(0x40, 0x40, 0x40) }
    }
}

/// Why InitParams cannot configure the renderer. Messages name the InitParams key.
#[derive(Debug, Error)]
pub enum InitParamsError {
    #[error("InitParams is not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("InitParams.ratio: {0}")]
    Ratio(#[from] RatioError),
    #[error("InitParams.globalBackgroundColor: {0}")]
    Background(#[from] ColorError),
}

impl RenderOptions {
    /// Reads the keys that matter to a server-side renderer from the TIW SDK's InitParams JSON
    /// text: `ratio` (default 16:9) and `globalBackgroundColor` (`#RRGGBB[AA]`, default white).
    /// Other keys are ignored; an empty string means all defaults.
    pub fn from_init_params(json: &str) -> Result<Self, InitParamsError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct InitParams {
            ratio: Option<String>,
            global_background_color: Option<String>,
        }
        let mut options = RenderOptions::default();
        if json.trim().is_empty() {
            return Ok(options);
        }
        let params: InitParams = serde_json::from_str(json)?;
        if let Some(ratio) = params.ratio {
            options.ratio = ratio.parse()?;
        }
        if let Some(color) = params.global_background_color {
            options.background = color.parse()?;
        }
        Ok(options)
    }
}

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("output size {width}x{height} is not drawable")]
    Size { width: u32, height: u32 },
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
    /// The caller raised its stop flag before the frame was done.
    #[error("rendering was stopped")]
    Stopped,
}

/// What [`Renderer::apply_change`] repainted, for a consumer that ships only dirty pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repaint {
    None,
    Area(IntRect),
    Full,
}

/// Renders pages at one output size. Cheap to create, `Sync`: share one across threads.
#[derive(Debug, Clone)]
pub struct Renderer {
    width: u32,
    height: u32,
    options: RenderOptions,
    viewport: Viewport,
}

impl Renderer {
    pub fn new(width: u32, height: u32, options: RenderOptions) -> Result<Self, RenderError> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(RenderError::Size { width, height });
        }
        let ratio = options.ratio;
        let scale = (width as f32 / ratio.width).min(height as f32 / ratio.height);
        // Whole pixels, so the board's edges are crisp and region repaints line up.
        let w = (ratio.width * scale).round().clamp(1.0, width as f32);
        let h = (ratio.height * scale).round().clamp(1.0, height as f32);
        let viewport = Viewport { x: ((width as f32 - w) / 2.0).floor(), y: ((height as f32 - h) / 2.0).floor(), w, h };
        Ok(Renderer { width, height, options, viewport })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn options(&self) -> &RenderOptions {
        &self.options
    }

    /// A new frame showing `page`.
    pub fn render(&self, page: &Page, images: &dyn ImageSource) -> Pixmap {
        let mut pixmap = Pixmap::new(self.width, self.height).expect("size checked in new");
        self.paint(&mut pixmap.as_mut(), self.viewport, page, images, None);
        pixmap
    }

    /// `page` as PNG bytes, or [`RenderError::Stopped`] as soon as `stop` is raised: it is
    /// checked before every element and before encoding, so a page of many elements does not
    /// hold its thread past a deadline or a shutdown.
    pub fn render_png_until(
        &self,
        page: &Page,
        images: &dyn ImageSource,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>, RenderError> {
        let mut pixmap = Pixmap::new(self.width, self.height).expect("size checked in new");
        let mut pm = pixmap.as_mut();
        pm.fill(sk_color(self.options.background));
        draw::background(&mut pm, self.viewport, page.background.as_ref(), images);
        for element in page.elements() {
            if stop.load(Ordering::Relaxed) {
                return Err(RenderError::Stopped);
            }
            draw::element(&mut pm, self.viewport, element, images);
        }
        self.letterbox(&mut pm, self.viewport);
        if stop.load(Ordering::Relaxed) {
            return Err(RenderError::Stopped);
        }
        Ok(encode_png(&pixmap)?)
    }

    /// `page` as PNG bytes (see [`encode_png`] for the settings).
    pub fn render_png(&self, page: &Page, images: &dyn ImageSource) -> Result<Vec<u8>, RenderError> {
        Ok(encode_png(&self.render(page, images))?)
    }

    /// The pixels `element` may touch, clipped to the output; `None` when off-screen.
    pub fn element_bounds(&self, element: &Element) -> Option<IntRect> {
        self.clip(draw::bounds(self.viewport, element))
    }

    /// Brings `frame`, which showed `board`'s current page before the operation that produced
    /// `change`, up to date with `board`, repainting as little as possible:
    /// an added element is painted over the frame; removed or replaced elements repaint the
    /// box they covered; background changes and page switches repaint everything. Changes to
    /// pages that are not shown repaint nothing. A frame of the wrong size is replaced.
    pub fn apply_change(
        &self,
        frame: &mut Pixmap,
        board: &Board,
        change: &Change,
        images: &dyn ImageSource,
    ) -> Repaint {
        let shown = board.current_page();
        if (frame.width(), frame.height()) != (self.width, self.height) {
            *frame = self.render(shown, images);
            return Repaint::Full;
        }
        match change {
            Change::Added { page, element } if *page == shown.id => {
                let Some(area) = self.element_bounds(element) else {
                    return Repaint::None;
                };
                let mut pm = frame.as_mut();
                draw::element(&mut pm, self.viewport, element, images);
                self.letterbox(&mut pm, self.viewport);
                Repaint::Area(area)
            }
            Change::Region { page, elements } if *page == shown.id => {
                let area = elements.iter().filter_map(|e| self.element_bounds(e)).reduce(union);
                match area {
                    Some(area) => {
                        self.repaint_area(frame, shown, area, images);
                        Repaint::Area(area)
                    }
                    None => Repaint::None,
                }
            }
            Change::Page { page } if *page == shown.id => {
                self.paint(&mut frame.as_mut(), self.viewport, shown, images, None);
                Repaint::Full
            }
            Change::Switched { .. } => {
                self.paint(&mut frame.as_mut(), self.viewport, shown, images, None);
                Repaint::Full
            }
            Change::None | Change::Added { .. } | Change::Region { .. } | Change::Page { .. } => Repaint::None,
        }
    }

    /// Repaints `area` of `frame` from scratch: the page is rendered into a pixmap the size of
    /// the area (viewport shifted by its origin) and copied in, so the result is the same as a
    /// full render, not a blend over stale pixels.
    fn repaint_area(&self, frame: &mut Pixmap, page: &Page, area: IntRect, images: &dyn ImageSource) {
        let mut patch = Pixmap::new(area.width(), area.height()).expect("area is inside the frame");
        let vp = self.viewport.shifted(area.x() as f32, area.y() as f32);
        let local = (0.0, 0.0, area.width() as f32, area.height() as f32);
        self.paint(&mut patch.as_mut(), vp, page, images, Some(local));
        let stride = self.width as usize * 4;
        let row = area.width() as usize * 4;
        let dst = frame.data_mut();
        for (y, src) in patch.data().chunks_exact(row).enumerate() {
            let start = (area.y() as usize + y) * stride + area.x() as usize * 4;
            dst[start..start + row].copy_from_slice(src);
        }
    }

    /// Paints the whole `page` through `vp`; with `only`, skips elements entirely outside it.
    fn paint(&self, pm: &mut PixmapMut, vp: Viewport, page: &Page, images: &dyn ImageSource, only: Option<Bounds>) {
        pm.fill(sk_color(self.options.background));
        draw::background(pm, vp, page.background.as_ref(), images);
        for element in page.elements() {
            if let Some(area) = only {
                let b = draw::bounds(vp, element);
                if b.2 < area.0 || b.0 > area.2 || b.3 < area.1 || b.1 > area.3 {
                    continue;
                }
            }
            draw::element(pm, vp, element, images);
        }
        self.letterbox(pm, vp);
    }

    /// Paints the bars around the board, which also clips whatever overflowed the board.
    fn letterbox(&self, pm: &mut PixmapMut, vp: Viewport) {
        let (w, h) = (pm.width() as f32, pm.height() as f32);
        let bars = [
            Rect::from_ltrb(0.0, 0.0, w, vp.y),
            Rect::from_ltrb(0.0, vp.y + vp.h, w, h),
            Rect::from_ltrb(0.0, vp.y, vp.x, vp.y + vp.h),
            Rect::from_ltrb(vp.x + vp.w, vp.y, w, vp.y + vp.h),
        ];
        let mut paint = tiny_skia::Paint::default();
        paint.set_color(sk_color(self.options.letterbox));
        paint.blend_mode = tiny_skia::BlendMode::Source;
        for bar in bars.into_iter().flatten() {
            pm.fill_rect(bar, &paint, Transform::identity(), None);
        }
    }

    fn clip(&self, (l, t, r, b): Bounds) -> Option<IntRect> {
        let l = l.floor().max(0.0);
        let t = t.floor().max(0.0);
        let r = r.ceil().min(self.width as f32);
        let b = b.ceil().min(self.height as f32);
        if r <= l || b <= t {
            return None;
        }
        IntRect::from_ltrb(l as i32, t as i32, r as i32, b as i32)
    }
}

fn union(a: IntRect, b: IntRect) -> IntRect {
    IntRect::from_ltrb(
        a.left().min(b.left()),
        a.top().min(b.top()),
        a.right().max(b.right()),
        a.bottom().max(b.bottom()),
    )
    .expect("the union of two non-empty rects is non-empty")
}

fn sk_color(c: Color) -> SkColor {
    SkColor::from_rgba8(c.r, c.g, c.b, c.a)
}
