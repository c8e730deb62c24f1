//! Replay throughput at growing log sizes: `bench/replay.sh` builds and runs it in release
//! mode. Linear replay shows as a flat cost per operation: the line for 1,000,000 operations
//! ends with the ratio of its per-operation cost to that of 10,000 (target ≤ 1.5).
//!
//! Log: 30 users on 3 pages; 70 % new strokes (so pages grow to hundreds of thousands of
//! elements), 8 % erases of one to three earlier ids, 5 % re-sent strokes (replacements),
//! 10 % undo, 5 % redo, 2 % page switches. No `clear`: it would keep pages small and hide a
//! cost that grows with them. Also prints the checkpoint of the final board: its size and the
//! time to write and read it back.

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

fn log(n: u64) -> Vec<LoggedOp> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let pages = ["#DEFAULT", "p2", "p3"];
    let mut next_id = 0u64;
    (1..=n)
        .map(|seq| {
            let roll = rng.below(100);
            let kind = match roll {
                0..70 => {
                    next_id += 1;
                    stroke(&mut rng, next_id)
                }
                70..78 => OpKind::Erase {
                    ids: (0..1 + rng.below(3))
                        .map(|_| ElementId::new(format!("s{}", rng.below(next_id + 1))))
                        .collect(),
                },
                78..83 => {
                    let id = rng.below(next_id + 1);
                    stroke(&mut rng, id)
                }
                83..93 => OpKind::Undo,
                93..98 => OpKind::Redo,
                _ => OpKind::Page(PageOp {
                    action: PageAction::Switch,
                    target: PageId::new(pages[rng.below(3) as usize]),
                }),
            };
            // Element operations land on the current page, as a client sends them.
            let page = pages[(seq / 5_000 % 3) as usize];
            let op = match kind {
                OpKind::Page(_) | OpKind::Undo | OpKind::Redo => Op::new(kind),
                kind => Op::new(kind).on(page),
            };
            LoggedOp { seq, user_id: format!("u{}", rng.below(30)), received_at_ms: seq as i64, op }
        })
        .collect()
}

/// Best time of whole replays within `budget` (at least one).
fn best_replay(log: &[LoggedOp], budget: Duration) -> (Duration, Board) {
    let started = Instant::now();
    let mut best = Duration::MAX;
    let mut board = Board::new();
    while best == Duration::MAX || started.elapsed() < budget {
        let t = Instant::now();
        let replayed = black_box(Board::replay(black_box(log)));
        best = best.min(t.elapsed());
        // The previous board is dropped outside the measurement.
        board = replayed;
    }
    (best, board)
}

fn main() {
    let budget = Duration::from_millis(std::env::var("BENCH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000));
    println!(
        "| operations | replay | ops/s | ns/op | ratio to 10,000 | elements at the end | checkpoint | write | read |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut first_ns = None;
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .map(|v| v.split(',').map(|n| n.parse().expect("BENCH_SIZES: numbers")).collect())
        .unwrap_or_else(|_| vec![10_000, 100_000, 1_000_000]);
    for n in sizes {
        let log = log(n);
        let (took, board) = best_replay(&log, budget);
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
