//! The live picture of a pushed room: follows the room's log, applies each new operation to
//! the board, repaints only what it changed, and publishes the latest frame as YUV 4:2:0.
//!
//! Live announcements are the fast path; the store stays the truth: a gap in the announced
//! sequence numbers, a lagging receiver, or operations appended on another node (announced
//! only there) are caught by reading the log after the last applied `seq`, at once for a gap
//! and every [`POLL_INTERVAL`] otherwise.

use crate::products::tiw::pictures::{PictureBudget, fetch_pictures, picture_urls};
use crate::products::tiw::rooms::{Resumed, RoomKey, Rooms};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use taskgate_engine::StoreError;
use taskgate_engine::url_guard::GuardedClient;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use whiteboard::op::{Background, LoggedOp, OpKind};
use whiteboard::render::{Renderer, Repaint, Yuv420};
use whiteboard::replay::Board;
use whiteboard::tiny_skia::{IntRect, Pixmap};

/// How often the log is read for operations other nodes appended.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// New operations and the pictures they need that were not fetched yet.
struct Batch {
    ops: Vec<LoggedOp>,
    pictures: HashMap<String, Pixmap>,
}

/// A running feed; it stops when `stop` fires or it is dropped.
pub struct BoardFeed {
    /// The latest frame; changes only when the board's shown pixels do.
    pub frames: watch::Receiver<Arc<Yuv420>>,
    /// Receive time (Unix ms) of the room's newest operation, 0 for an empty room.
    pub last_operation_ms: Arc<AtomicI64>,
    stop: CancellationToken,
}

impl Drop for BoardFeed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Replays the room from its newest checkpoint page by page, renders its current page and
/// follows it from there. Its
/// pictures, over the feed's whole life, stay within `budget`; `task` names the push in logs.
pub async fn start(
    rooms: Rooms,
    pictures: GuardedClient,
    mut budget: PictureBudget,
    task: &str,
    room: RoomKey,
    renderer: Renderer,
) -> Result<BoardFeed, StoreError> {
    // Subscribing before reading the log: nothing appended in between can be missed.
    let live = rooms.subscribe(room);
    let Resumed { board, seq: last_seq, received_at_ms: last_ms, .. } = rooms.board_now(room).await?;
    let last_operation_ms = Arc::new(AtomicI64::new(last_ms));
    let images = fetch_pictures(&pictures, board.pages().flat_map(picture_urls), &mut budget, task).await;
    let (frame_tx, frames) = watch::channel(Arc::new(blank_frame(&renderer)));
    let (batch_tx, batch_rx) = mpsc::channel();
    let painter = Painter { renderer, board, images, frame: Pixmap::new(1, 1).expect("1x1 is drawable"), yuv: None };
    std::thread::Builder::new()
        .name(format!("push-{}-{}", room.sdk_app_id(), room.room_id()))
        .spawn(move || painter.run(&batch_rx, &frame_tx))
        .map_err(|e| StoreError::Corrupt { what: "push render thread", detail: e.to_string() })?;
    let stop = CancellationToken::new();
    let follower = Follower {
        rooms,
        pictures,
        budget,
        task: task.to_owned(),
        room,
        last_seq,
        last_operation_ms: last_operation_ms.clone(),
        batches: batch_tx,
    };
    tokio::spawn(follower.run(live, stop.clone()));
    Ok(BoardFeed { frames, last_operation_ms, stop })
}

/// Until the painter's first frame: the letterbox colour everywhere is a valid picture.
fn blank_frame(renderer: &Renderer) -> Yuv420 {
    let mut pixmap = Pixmap::new(renderer.width(), renderer.height()).expect("renderer sizes are drawable");
    let c = renderer.options().letterbox;
    pixmap.fill(whiteboard::tiny_skia::Color::from_rgba8(c.r, c.g, c.b, 255));
    Yuv420::from_pixmap(&pixmap).expect("push sizes are even")
}

/// Operations read for the painter, and whether the log has more right after them.
struct Read {
    ops: Vec<LoggedOp>,
    more: bool,
}

/// Reads new operations (announced or from the store) and hands them to the painter.
struct Follower {
    rooms: Rooms,
    pictures: GuardedClient,
    budget: PictureBudget,
    task: String,
    room: RoomKey,
    last_seq: u64,
    last_operation_ms: Arc<AtomicI64>,
    batches: mpsc::Sender<Batch>,
}

impl Follower {
    async fn run(
        mut self,
        mut live: broadcast::Receiver<crate::products::tiw::rooms::Announcement>,
        stop: CancellationToken,
    ) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Set when the last read left operations for the next page: read on at once.
        let mut backlog = false;
        loop {
            if stop.is_cancelled() {
                return;
            }
            let ops = if backlog {
                self.read_log().await
            } else {
                tokio::select! {
                    () = stop.cancelled() => return,
                    announced = live.recv() => match announced {
                        Ok(ops) if ops.first().is_some_and(|op| op.seq == self.last_seq + 1) => Read { ops: ops.to_vec(), more: false },
                        Ok(ops) if ops.last().is_some_and(|op| op.seq <= self.last_seq) => continue,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.read_log().await,
                        Err(broadcast::error::RecvError::Closed) => {
                            live = self.rooms.subscribe(self.room);
                            self.read_log().await
                        }
                    },
                    _ = poll.tick() => self.read_log().await,
                }
            };
            backlog = ops.more;
            let ops = ops.ops;
            if ops.is_empty() {
                continue;
            }
            if !self.forward(ops).await {
                return;
            }
        }
    }

    /// The next page of the log after the last applied operation.
    async fn read_log(&self) -> Read {
        match self.rooms.log_page(self.room, self.last_seq, None, None).await {
            Ok(page) => Read { ops: page.ops, more: page.more },
            Err(error) => {
                tracing::warn!(%error, room = self.room.room_id(), "reading the room log for a push failed; retrying");
                Read { ops: Vec::new(), more: false }
            }
        }
    }

    /// Returns false once the painter is gone.
    async fn forward(&mut self, ops: Vec<LoggedOp>) -> bool {
        let urls = ops.iter().filter_map(|logged| match &logged.op.kind {
            OpKind::Image(image) => Some(image.url.as_str()),
            OpKind::Background(Background::Image(url)) => Some(url.as_str()),
            _ => None,
        });
        let pictures = fetch_pictures(&self.pictures, urls, &mut self.budget, &self.task).await;
        if let Some(last) = ops.last() {
            self.last_seq = last.seq;
            self.last_operation_ms.fetch_max(last.received_at_ms, Ordering::Relaxed);
        }
        self.batches.send(Batch { ops, pictures }).is_ok()
    }
}

/// Owns the board and the frame; runs on its own thread, since painting is CPU work.
struct Painter {
    renderer: Renderer,
    board: Board,
    images: HashMap<String, Pixmap>,
    frame: Pixmap,
    yuv: Option<Yuv420>,
}

impl Painter {
    fn run(mut self, batches: &mpsc::Receiver<Batch>, frames: &watch::Sender<Arc<Yuv420>>) {
        self.frame = self.renderer.render(self.board.current_page(), &self.images);
        let yuv = Yuv420::from_pixmap(&self.frame).expect("push sizes are even");
        frames.send_replace(Arc::new(yuv.clone()));
        self.yuv = Some(yuv);
        while let Ok(first) = batches.recv() {
            // Everything already queued goes into one frame: a fast pen costs one conversion.
            let mut dirty = self.apply(first);
            while let Ok(more) = batches.try_recv() {
                dirty = merge(dirty, self.apply(more));
            }
            let Some(yuv) = self.yuv.as_mut() else { return };
            match dirty {
                Repaint::None => continue,
                Repaint::Area(area) => yuv.update(&self.frame, area),
                Repaint::Full => yuv.update(&self.frame, full(&self.frame)),
            }
            if frames.send(Arc::new(yuv.clone())).is_err() {
                return;
            }
        }
    }

    fn apply(&mut self, batch: Batch) -> Repaint {
        self.images.extend(batch.pictures);
        let mut dirty = Repaint::None;
        for op in &batch.ops {
            let change = self.board.apply(op);
            dirty = merge(dirty, self.renderer.apply_change(&mut self.frame, &self.board, &change, &self.images));
        }
        dirty
    }
}

fn full(pixmap: &Pixmap) -> IntRect {
    IntRect::from_xywh(0, 0, pixmap.width(), pixmap.height()).expect("frames are not empty")
}

fn merge(a: Repaint, b: Repaint) -> Repaint {
    match (a, b) {
        (Repaint::Full, _) | (_, Repaint::Full) => Repaint::Full,
        (Repaint::None, other) | (other, Repaint::None) => other,
        (Repaint::Area(a), Repaint::Area(b)) => Repaint::Area(
            IntRect::from_ltrb(
                a.left().min(b.left()),
                a.top().min(b.top()),
                a.right().max(b.right()),
                a.bottom().max(b.bottom()),
            )
            .expect("the union of two areas is an area"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(x: i32, y: i32, w: u32, h: u32) -> Repaint {
        Repaint::Area(IntRect::from_xywh(x, y, w, h).unwrap())
    }

    #[test]
    fn merged_areas_cover_both() {
        assert_eq!(merge(area(0, 0, 2, 2), area(4, 4, 2, 2)), area(0, 0, 6, 6));
        assert_eq!(merge(Repaint::None, area(1, 1, 1, 1)), area(1, 1, 1, 1));
        assert_eq!(merge(area(1, 1, 1, 1), Repaint::Full), Repaint::Full);
    }
}
