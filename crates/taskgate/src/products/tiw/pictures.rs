//! Pictures a board shows (`image` elements, image backgrounds), fetched through the URL guard
//! and decoded once each for the renderer.

use std::collections::HashMap;
use taskgate_engine::url_guard::GuardedClient;
use whiteboard::op::Background;
use whiteboard::render::decode_png;
use whiteboard::replay::{Element, Page};
use whiteboard::tiny_skia::Pixmap;

/// Largest picture fetched for a board; a bigger one renders as a placeholder.
const MAX_IMAGE_BYTES: usize = 16 << 20;

/// The URLs of the pictures `page` shows.
pub fn picture_urls(page: &Page) -> impl Iterator<Item = &str> {
    let elements = page.elements.iter().filter_map(|e| match e.as_ref() {
        Element::Image(image) => Some(image.url.as_str()),
        _ => None,
    });
    let background = match &page.background {
        Some(Background::Image(url)) => Some(url.as_str()),
        _ => None,
    };
    elements.chain(background)
}

/// Fetches each distinct URL once. One that cannot be fetched or decoded is left out, so it
/// renders as a placeholder rather than failing the task: the rest of the board is still
/// worth having.
pub async fn fetch_pictures<'a>(client: &GuardedClient, urls: impl IntoIterator<Item = &'a str>) -> HashMap<String, Pixmap> {
    let mut urls: Vec<&str> = urls.into_iter().collect();
    urls.sort_unstable();
    urls.dedup();
    let mut images = HashMap::new();
    for url in urls {
        match fetch_picture(client, url).await {
            Ok(pixmap) => {
                images.insert(url.to_owned(), pixmap);
            }
            Err(reason) => tracing::warn!(url, reason, "a board picture renders as a placeholder"),
        }
    }
    images
}

async fn fetch_picture(client: &GuardedClient, url: &str) -> Result<Pixmap, String> {
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
    tokio::task::spawn_blocking(move || decode_png(&bytes).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}
