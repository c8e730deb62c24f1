//! Replay throughput at growing log sizes: `bench/replay.sh` builds and runs it in release
//! mode. Linear replay shows as a flat cost per operation: the line for 1,000,000 operations
//! ends with the ratio of its per-operation cost to that of 10,000 (target ≤ 1.5). Each size
//! is replayed untimed for a second (at least once), then `BENCH_RUNS` times (default 5); the
//! median counts. The log is
//! generated and applied a page of the server's at a time (`room_log_page_max_ops`), as a
//! snapshot or push reads it from the store; generating it is not timed.
//!
//! Log: 30 users on 3 pages; 70 % new strokes, 8 % erases of one to three earlier ids, 5 %
//! re-sent strokes (replacements), 10 % undo, 5 % redo, 2 % page switches. Two shapes of it:
//! * **growing pages**: no `clear`, so pages grow to hundreds of thousands of elements: the
//!   cost of a board that large, which no `clear` hides;
//! * **classroom**: the same, and every 2,000th operation the teacher clears the page the class
//!   writes on, so the board stays the size of a lesson's page while the log grows: replay's
//!   cost per operation of the log alone.
//!
//! Also prints the checkpoint of the final board: its size and the time to write and read it
//! back.

use std::hint::black_box;
use std::time::{Duration, Instant};

use whiteboard::Color;
use whiteboard::op::{ElementId, LoggedOp, Op, OpKind, PageAction, PageId, PageOp, Point, Stroke, Tool};
use whiteboard::replay::Board;

/// Deterministic pseudo-random numbers (xorshift), so every run replays the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn stroke(rng: &mut Rng, id: u64) -> OpKind {
    let (x, y) = (rng.unit(), rng.unit());
    let points = (0..4).map(|i| Point::new((x + i as f32 * 0.01).min(1.0), y)).collect();
    OpKind::Stroke(Stroke {
        id: ElementId::new(format!("s{id}")),
        points,
        color: Color::rgb(20, 80, 200),
        width: 0.005,
        tool: Tool::Pen,
    })
}

/// A room's log, generated as the server reads it back: in pages of [`PAGE_OPS`], each applied
/// while it is fresh in memory, so the measurement is of the replay and not of streaming a
/// whole log the server never holds at once.
struct LogSource {
    rng: Rng,
    seq: u64,
    next_id: u64,
    /// With `Some(k)`, every `k`-th operation is the teacher's `clear` of the page the class
    /// writes on.
    clear_every: Option<u64>,
}

/// The server's `room_log_page_max_ops` default.
const PAGE_OPS: u64 = 5_000;

impl LogSource {
    fn new(clear_every: Option<u64>) -> Self {
        LogSource { rng: Rng(0x9E37_79B9_7F4A_7C15), seq: 0, next_id: 0, clear_every }
    }

    /// The next `n` operations.
    fn page(&mut self, n: u64) -> Vec<LoggedOp> {
        (0..n).map(|_| self.next_op()).collect()
    }

    fn next_op(&mut self) -> LoggedOp {
        const PAGES: [&str; 3] = ["#DEFAULT", "p2", "p3"];
        self.seq += 1;
        let (seq, rng) = (self.seq, &mut self.rng);
        let roll = rng.below(100);
        let clear = self.clear_every.is_some_and(|every| seq % every == 0);
        let kind = match roll {
            _ if clear => OpKind::Clear,
            0..70 => {
                self.next_id += 1;
                stroke(rng, self.next_id)
            }
            70..78 => OpKind::Erase {
                ids: (0..1 + rng.below(3))
                    .map(|_| ElementId::new(format!("s{}", rng.below(self.next_id + 1))))
                    .collect(),
            },
            78..83 => {
                let id = rng.below(self.next_id + 1);
                stroke(rng, id)
            }
            83..93 => OpKind::Undo,
            93..98 => OpKind::Redo,
            _ => OpKind::Page(PageOp { action: PageAction::Switch, target: PageId::new(PAGES[rng.below(3) as usize]) }),
        };
        // Element operations land on the current page, as a client sends them.
        let page = PAGES[(seq / 5_000 % 3) as usize];
        let op = match kind {
            OpKind::Page(_) | OpKind::Undo | OpKind::Redo => Op::new(kind),
            kind => Op::new(kind).on(page),
        };
        let user = if clear { 0 } else { rng.below(30) };
        LoggedOp { seq, user_id: format!("u{user}"), received_at_ms: seq as i64, op }
    }
}

/// The time to apply a log of `n` operations, page by page (generating a page is not timed),
/// and the board it gives.
fn replay(n: u64, clear_every: Option<u64>) -> (Duration, Board) {
    let mut source = LogSource::new(clear_every);
    let mut board = Board::new();
    let mut took = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let page = source.page(left.min(PAGE_OPS));
        left -= page.len() as u64;
        let t = Instant::now();
        for op in black_box(&page) {
            board.apply(op);
        }
        took += t.elapsed();
    }
    (took, black_box(board))
}

/// The median time of `runs` replays after untimed ones (for a second, at least one), and the
/// board. Every size gets as many timed runs: a best of many short runs against a best of few
/// long ones would favour the short.
fn median_replay(n: u64, clear_every: Option<u64>, runs: usize) -> (Duration, Board) {
    let warming = Instant::now();
    let mut board = replay(n, clear_every).1;
    while warming.elapsed() < Duration::from_secs(1) {
        drop(board);
        board = replay(n, clear_every).1;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        // Dropped before the next replay, so that every replay, at every size, finds the
        // memory the previous one freed in the allocator.
        drop(board);
        let (took, replayed) = replay(n, clear_every);
        times.push(took);
        board = replayed;
    }
    times.sort_unstable();
    (times[times.len() / 2], board)
}

fn main() {
    let runs = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .map(|v| v.split(',').map(|n| n.parse().expect("BENCH_SIZES: numbers")).collect())
        .unwrap_or_else(|_| vec![10_000, 100_000, 1_000_000]);
    let shapes = std::env::var("BENCH_SHAPES").unwrap_or_else(|_| "growing pages,classroom".into());
    for (shape, clear_every) in [("growing pages", None), ("classroom", Some(2_000))] {
        if !shapes.split(',').any(|s| s == shape) {
            continue;
        }
        println!("\n{shape}\n");
        report(&sizes, clear_every, runs);
    }
}

fn report(sizes: &[u64], clear_every: Option<u64>, runs: usize) {
    println!(
        "| operations | replay (median) | ops/s | ns/op | ratio to the first | elements at the end | checkpoint | write | read |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut first_ns = None;
    for &n in sizes {
        let (took, board) = median_replay(n, clear_every, runs);
        let ns = took.as_nanos() as f64 / n as f64;
        let base = *first_ns.get_or_insert(ns);
        let elements: usize = board.pages().map(|p| p.len()).sum();
        if std::env::var("BENCH_CHECKPOINT").is_ok_and(|v| v == "0") {
            println!(
                "| {n} | {:.1} ms | {:.0} | {ns:.0} | {:.2} | {elements} | | | |",
                took.as_secs_f64() * 1e3,
                n as f64 / took.as_secs_f64(),
                ns / base
            );
            continue;
        }
        let t = Instant::now();
        let text = board.checkpoint_text();
        let write = t.elapsed();
        let t = Instant::now();
        let back = Board::from_checkpoint_text(&text).expect("a checkpoint reads back");
        let read = t.elapsed();
        assert_eq!(back.checkpoint_text(), text);
        println!(
            "| {n} | {:.1} ms | {:.0} | {ns:.0} | {:.2} | {elements} | {:.1} MiB | {:.0} ms | {:.0} ms |",
            took.as_secs_f64() * 1e3,
            n as f64 / took.as_secs_f64(),
            ns / base,
            text.len() as f64 / (1 << 20) as f64,
            write.as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
        );
    }
}
