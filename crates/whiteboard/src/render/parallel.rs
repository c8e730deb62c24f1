//! Renders many snapshots to PNG on several threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ImageSource, RenderError, Renderer};
use crate::replay::Snapshot;

/// Renders and encodes every snapshot on `threads` threads (at least one), returning the
/// results in the order of `shots`. Work is handed out one snapshot at a time, so a few heavy
/// pages do not leave the other threads idle. Plain scoped threads: a task renders one batch,
/// and a thread pool would be a dependency for nothing.
pub fn render_marks_parallel(
    renderer: &Renderer,
    shots: &[Snapshot],
    images: &(dyn ImageSource + Sync),
    threads: usize,
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
                        mine.push((i, renderer.render_png(&shot.page, images)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, png)| png).collect()
}
