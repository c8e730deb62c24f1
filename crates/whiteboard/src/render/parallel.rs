//! Renders many snapshots to PNG on several threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{ImageSource, RenderError, Renderer};
use crate::replay::Snapshot;

/// Renders and encodes every snapshot on `threads` threads (at least one), returning the
/// results in the order of `shots`. Work is handed out one snapshot at a time, so a few heavy
/// pages do not leave the other threads idle. Plain scoped threads: a task renders one batch,
/// and a thread pool would be a dependency for nothing.
///
/// Once `stop` is raised every snapshot not finished yet is [`RenderError::Stopped`]: the
/// flag is checked between snapshots and between the elements of one, so the call returns
/// within about one element's drawing or one PNG encoding.
pub fn render_marks_parallel(
    renderer: &Renderer,
    shots: &[Snapshot],
    images: &(dyn ImageSource + Sync),
    threads: usize,
    stop: &AtomicBool,
) -> Vec<Result<Vec<u8>, RenderError>> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Vec<u8>, RenderError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, shots.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(shot) = shots.get(i) else { break mine };
                        mine.push((i, renderer.render_png_until(&shot.page, images, stop)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, png)| png).collect()
}
