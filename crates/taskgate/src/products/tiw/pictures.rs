//! Pictures a board shows (`image` elements, image backgrounds), fetched through the URL guard
//! and decoded once each for the renderer, within a [`PictureBudget`].

use crate::config::TiwConfig;
use std::collections::{BTreeSet, HashMap};
use taskgate_engine::url_guard::GuardedClient;
use whiteboard::op::Background;
use whiteboard::render::{ImageError, decode_png_within};
use whiteboard::replay::{Element, Page};
use whiteboard::tiny_skia::Pixmap;

/// Largest picture fetched for a board; a bigger one renders as a placeholder.
const MAX_IMAGE_BYTES: usize = 16 << 20;

/// What one render (a snapshot task, or a push over its life) may spend on pictures (the
/// `[tiw]` `picture_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct PictureLimits {
    /// Most distinct pictures fetched.
    pub max_count: usize,
    /// Most pixels of one picture.
    pub max_pixels: u64,
    /// Most decoded bytes (4 per pixel) of all pictures together.
    pub max_total_bytes: u64,
}

impl PictureLimits {
    pub fn from_config(tiw: &TiwConfig) -> Self {
        Self {
            max_count: tiw.picture_max_count,
            max_pixels: tiw.picture_max_pixels,
            max_total_bytes: tiw.picture_max_total_bytes,
        }
    }
}

/// What is left of a render's [`PictureLimits`]; pictures beyond it draw as placeholders.
#[derive(Debug)]
pub struct PictureBudget {
    limits: PictureLimits,
    fetched: usize,
    decoded_bytes: u64,
    /// URLs already tried, so a URL repeated in a later batch is neither fetched nor counted
    /// again.
    tried: BTreeSet<String>,
}

impl PictureBudget {
    pub fn new(limits: PictureLimits) -> Self {
        Self { limits, fetched: 0, decoded_bytes: 0, tried: BTreeSet::new() }
    }

    /// The most pixels the next picture may have: its own cap or what the total has left.
    fn pixels_left(&self) -> u64 {
        self.limits.max_pixels.min(self.limits.max_total_bytes.saturating_sub(self.decoded_bytes) / 4)
    }
}

/// The URLs of the pictures `page` shows.
pub fn picture_urls(page: &Page) -> impl Iterator<Item = &str> {
    let elements = page.elements().filter_map(|e| match e.as_ref() {
        Element::Image(image) => Some(image.url.as_str()),
        _ => None,
    });
    let background = match &page.background {
        Some(Background::Image(url)) => Some(url.as_str()),
        _ => None,
    };
    elements.chain(background)
}

/// Fetches each distinct URL not tried before once, within `budget`. One that cannot be
/// fetched or decoded, or does not fit the budget, is left out, so it renders as a placeholder
/// rather than failing the task: the rest of the board is still worth having. Each one left
/// out is logged with `task` (the task id).
pub async fn fetch_pictures<'a>(
    client: &GuardedClient,
    urls: impl IntoIterator<Item = &'a str>,
    budget: &mut PictureBudget,
    task: &str,
) -> HashMap<String, Pixmap> {
    let urls: BTreeSet<&str> = urls.into_iter().filter(|url| !budget.tried.contains(*url)).collect();
    let mut images = HashMap::new();
    for url in urls {
        budget.tried.insert(url.to_owned());
        if budget.fetched >= budget.limits.max_count {
            tracing::warn!(
                task,
                url,
                max = budget.limits.max_count,
                "a board picture renders as a placeholder: too many pictures (tiw.picture_max_count)"
            );
            continue;
        }
        budget.fetched += 1;
        match fetch_picture(client, url, budget.pixels_left()).await {
            Ok(pixmap) => {
                budget.decoded_bytes += u64::from(pixmap.width()) * u64::from(pixmap.height()) * 4;
                images.insert(url.to_owned(), pixmap);
            }
            Err(reason) => tracing::warn!(task, url, reason, "a board picture renders as a placeholder"),
        }
    }
    images
}

async fn fetch_picture(client: &GuardedClient, url: &str, max_pixels: u64) -> Result<Pixmap, String> {
    let mut response = client
        .request(reqwest::Method::GET, url)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| e.to_string())?
        .error_for_status()
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
            return Err(format!("larger than {MAX_IMAGE_BYTES} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let decoded =
        tokio::task::spawn_blocking(move || decode_png_within(&bytes, max_pixels)).await.map_err(|e| e.to_string())?;
    decoded.map_err(|e| match e {
        ImageError::TooLarge { width, height, max_pixels } => format!(
            "{width}x{height} pixels exceed the {max_pixels} pixels left for it (tiw.picture_max_pixels, tiw.picture_max_total_bytes)"
        ),
        other => other.to_string(),
    })
}
