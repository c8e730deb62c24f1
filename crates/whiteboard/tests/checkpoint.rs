//! Checkpoints: a board read back from its checkpoint text behaves as the board it was taken
//! from, so a replay resumed from any checkpoint gives what a replay from the start gives.

mod common;

use std::sync::atomic::AtomicBool;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Log, background, erase, page, stroke, text};
use proptest::prelude::*;
use whiteboard::op::{ElementId, LoggedOp, OpKind, PageAction};
use whiteboard::replay::{Board, CheckpointError, SnapshotMode, UNDO_LIMIT, snapshots, snapshots_from};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_replay_resumed_from_any_checkpoint_equals_the_replay_from_the_start(
        log in common::logs::log(120),
        first in 0usize..6,
        limit in prop_oneof![Just(UNDO_LIMIT), 1usize..4],
    ) {
        // Every sixth cut, each case from a different first one, keeps a case fast.
        for cut in (first..=log.len()).step_by(6) {
            let mut from_start = Board::with_undo_limit(limit);
            for op in &log[..cut] {
                from_start.apply(op);
            }
            let mut resumed = Board::from_checkpoint_text(&from_start.checkpoint_text()).unwrap();
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
            for op in &log[cut..] {
                if let OpKind::Mark = op.op.kind {
                    let page = from_start.marked_page_id(op);
                    prop_assert_eq!(resumed.marked_page_id(op), page.clone());
                    prop_assert_eq!(resumed.page(&page), from_start.page(&page), "mark {} after cut {}", op.seq, cut);
                }
                prop_assert_eq!(resumed.apply(op), from_start.apply(op));
            }
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
        }
    }

    #[test]
    fn snapshots_resumed_from_a_checkpoint_are_the_later_marks_of_the_whole_replay(
        log in common::logs::log(120),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(log.len() + 1);
        for mode in [SnapshotMode::AllMarks, SnapshotMode::LatestMarksOnly] {
            let resumed = Board::from_checkpoint_text(&Board::replay(&log[..cut]).checkpoint_text()).unwrap();
            let tail = snapshots_from(resumed, &log[cut..], mode, usize::MAX, &AtomicBool::new(false)).unwrap();
            let whole = snapshots(&log, mode);
            if mode == SnapshotMode::AllMarks || !log[..cut].iter().any(|op| matches!(op.op.kind, OpKind::Mark)) {
                let later: Vec<_> = whole.into_iter().filter(|shot| shot.seq as usize > cut).collect();
                prop_assert_eq!(tail, later);
            }
        }
    }
}

#[test]
fn an_undo_after_resuming_restores_what_the_checkpointed_erase_removed() {
    let mut log = Log::new();
    log.push("u", stroke("a", &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01))
        .push("u", stroke("b", &[(0.3, 0.3), (0.4, 0.4)], "#FF0000", 0.01))
        .push("u", erase(&["a"]));
    let mut resumed = Board::from_checkpoint_text(&Board::replay(&log.ops).checkpoint_text()).unwrap();
    log.push("u", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(common::ids(resumed.current_page()), ["a", "b"]);
}

#[test]
fn what_only_a_forgotten_edit_could_restore_leaves_the_board_and_its_checkpoint() {
    let mut log = Log::new();
    log.push("u", stroke("old", &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01)).push("u", OpKind::Clear);
    // An id is written as its length and its bytes.
    let holds_old = |board: &Board| BASE64.decode(board.checkpoint_text()).unwrap().windows(4).any(|w| w == b"\x03old");
    assert!(holds_old(&Board::replay(&log.ops)), "an undo of the clear could bring it back");
    for i in 0..UNDO_LIMIT {
        log.push("u", stroke(&format!("n{i}"), &[(0.5, 0.5)], "#0050C8", 0.01));
    }
    assert!(!holds_old(&Board::replay(&log.ops)), "the clear fell off the undo stack");
}

#[test]
fn a_checkpoint_text_that_does_not_fit_together_is_an_error() {
    let text = Board::replay(&Log::new().push("u", stroke("a", &[(0.1, 0.1)], "#FF0000", 0.01)).ops).checkpoint_text();
    assert!(matches!(Board::from_checkpoint_text("{}"), Err(CheckpointError::Syntax)));
    let bytes = BASE64.decode(&text).unwrap();
    // The page: its id, no background, serial 0, one element (index 0); then the current page.
    let page = b"\x08#DEFAULT\x00\x00\x01\x00\x00";
    let at = bytes.windows(page.len()).position(|w| w == page).expect("the page's bytes");
    let mut dangling = bytes.clone();
    dangling[at + page.len() - 2] = 7;
    assert!(matches!(Board::from_checkpoint_text(&BASE64.encode(dangling)), Err(CheckpointError::Inconsistent(_))));
    let mut lost = bytes.clone();
    lost[at + page.len() - 1] = 3;
    assert!(matches!(Board::from_checkpoint_text(&BASE64.encode(lost)), Err(CheckpointError::Inconsistent(_))));
}

#[test]
fn a_damaged_checkpoint_is_an_error_or_a_board_never_a_panic() {
    let mut log = Log::new();
    log.push("u", stroke("a", &[(0.1, 0.1), (0.2, 0.3)], "#FF0000", 0.01)).push("v", background("#102030"));
    log.push("u", erase(&["a"])).push("v", text("t", (0.5, 0.5), "Aa", 0.05)).on(
        "u",
        "p2",
        stroke("b", &[(0.4, 0.4)], "#0050C8", 0.02),
    );
    log.push("u", OpKind::Undo).on("v", "p2", OpKind::Clear);
    let bytes = BASE64.decode(Board::replay(&log.ops).checkpoint_text()).unwrap();
    for end in 0..bytes.len() {
        assert!(Board::from_checkpoint_text(&BASE64.encode(&bytes[..end])).is_err(), "cut at {end}");
    }
    // What a damaged text's board does next, up to putting back what the clear removed.
    let mut after = Log::new();
    after.push("v", OpKind::Undo).push("v", OpKind::Redo).push("v", OpKind::Undo).push("u", OpKind::Undo);
    for at in 0..bytes.len() {
        for value in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            if let Ok(mut board) = Board::from_checkpoint_text(&BASE64.encode(damaged)) {
                for op in &after.ops {
                    board.apply(op);
                }
            }
        }
    }
}

#[test]
fn an_undo_after_resuming_puts_back_what_the_checkpointed_clear_removed() {
    let mut log = Log::new();
    for i in 0..50 {
        log.push("u", stroke(&format!("s{i}"), &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01));
    }
    log.push("v", text("t", (0.5, 0.5), "Aa", 0.05)).push("t", OpKind::Clear);
    log.push("u", stroke("after", &[(0.3, 0.3)], "#0050C8", 0.02));
    let mut resumed = Board::from_checkpoint_text(&Board::replay(&log.ops).checkpoint_text()).unwrap();
    log.push("t", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(resumed.current_page(), Board::replay(&log.ops).current_page());
    assert_eq!(resumed.current_page().len(), 52);
}

#[test]
fn a_checkpoint_whose_next_page_serial_would_overflow_is_an_error() {
    // An empty board: no elements, the default page, current page 0, next serial 1, the undo
    // limit, no histories.
    let bytes = BASE64.decode(Board::new().checkpoint_text()).unwrap();
    let tail = [1, UNDO_LIMIT as u8, 0];
    assert_eq!(bytes[bytes.len() - 3..], tail);
    let with_next_serial = |serial: u64| {
        let mut crafted = bytes[..bytes.len() - 3].to_vec();
        varint(&mut crafted, serial);
        crafted.extend_from_slice(&tail[1..]);
        BASE64.encode(crafted)
    };
    assert!(Board::from_checkpoint_text(&with_next_serial(1)).is_ok());
    // Adding pages to such a board overflowed the serial (a panic in debug builds).
    assert!(matches!(Board::from_checkpoint_text(&with_next_serial(u64::MAX)), Err(CheckpointError::Inconsistent(_))));
    let mut board = Board::from_checkpoint_text(&with_next_serial(u64::MAX / 2)).unwrap();
    let mut log = Log::new();
    log.push("u", page(PageAction::Add, "p2")).push("u", page(PageAction::Add, "p3"));
    for op in &log.ops {
        board.apply(op);
    }
    assert_eq!(board.pages().count(), 3);
}

/// Appends `n` as the checkpoint encoding's LEB128 varint.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Where a `PUT_ALL` step (the undo of a `clear`) sits in checkpoint bytes: offsets of its tag,
/// its element count, its byte length and its elements' bytes, and that length.
#[derive(Debug, Clone)]
struct PutAllBlock {
    tag: usize,
    count: usize,
    len: usize,
    bytes: usize,
    n: usize,
    /// Where each element ends, from `bytes`.
    ends: Vec<usize>,
}

/// The `PUT_ALL` blocks of a well-formed checkpoint, found by walking its encoding (see
/// `replay/checkpoint.rs`): elements, pages, current page, next serial, undo limit, histories.
fn put_all_blocks(bytes: &[u8]) -> Vec<PutAllBlock> {
    struct Walk<'a>(&'a [u8], usize);
    impl Walk<'_> {
        fn byte(&mut self) -> u8 {
            self.1 += 1;
            self.0[self.1 - 1]
        }
        fn varint(&mut self) -> usize {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let b = self.byte();
                n |= usize::from(b & 0x7f) << shift;
                if b < 0x80 {
                    return n;
                }
                shift += 7;
            }
        }
        fn skip(&mut self, n: usize) {
            self.1 += n;
        }
        fn str(&mut self) {
            let n = self.varint();
            self.skip(n);
        }
        fn background(&mut self) {
            match self.byte() {
                0 => {}
                1 => self.skip(4),
                _ => self.str(),
            }
        }
        fn element(&mut self) {
            let tag = self.byte();
            self.str();
            match tag {
                0 => {
                    let n = self.varint();
                    self.skip(8 * n + 9);
                }
                1 => {
                    self.skip(1 + 16 + 8);
                    if self.byte() == 1 {
                        self.skip(4);
                    }
                }
                2 => {
                    self.skip(8);
                    self.str();
                    self.skip(8);
                }
                _ => {
                    self.str();
                    self.skip(16);
                }
            }
        }
    }
    let mut walk = Walk(bytes, 0);
    let mut blocks = Vec::new();
    for _ in 0..walk.varint() {
        walk.element();
    }
    for _ in 0..walk.varint() {
        walk.str();
        walk.background();
        walk.varint();
        for _ in 0..walk.varint() {
            walk.varint();
        }
    }
    // The current page, the next serial, the undo limit.
    for _ in 0..3 {
        walk.varint();
    }
    for _ in 0..walk.varint() {
        walk.str();
        for _stack in 0..2 {
            for _ in 0..walk.varint() {
                walk.str();
                walk.varint();
                for _ in 0..walk.varint() {
                    let tag = walk.1;
                    match walk.byte() {
                        0 => walk.str(),
                        1 => {
                            walk.varint();
                            walk.varint();
                        }
                        2 => walk.background(),
                        _ => {
                            let count = walk.1;
                            walk.varint();
                            let len = walk.1;
                            let n = walk.varint();
                            let bytes = walk.1;
                            let mut ends = Vec::new();
                            while walk.1 < bytes + n {
                                walk.element();
                                ends.push(walk.1 - bytes);
                            }
                            blocks.push(PutAllBlock { tag, count, len, bytes, n, ends });
                        }
                    }
                }
            }
        }
    }
    assert_eq!(walk.1, bytes.len(), "the walk reads the whole checkpoint");
    blocks
}

/// `bytes` with `bytes[at..end]` replaced by `with`.
fn splice(bytes: &[u8], at: usize, end: usize, with: &[u8]) -> Vec<u8> {
    [&bytes[..at], with, &bytes[end..]].concat()
}

/// One way to damage a checkpoint, mostly inside a `PUT_ALL` block; numbers pick offsets and
/// values within whatever the block allows.
#[derive(Debug, Clone)]
enum Damage {
    /// A byte of the block (its tag and varints included) set to a value.
    Set(usize, u8),
    /// The text cut inside the block.
    Cut(usize),
    /// The element count replaced.
    Count(usize),
    /// The byte length changed by this much (clamped at 0).
    Length(i64),
    /// A byte of the elements removed, the length following.
    Remove(usize),
    /// A byte inserted among the elements, the length following.
    Insert(usize, u8),
    /// Any byte of the whole text flipped.
    Flip(usize, u8),
    /// Only the first elements kept, count and length following: a consistent block.
    Prefix(usize),
    /// The elements twice over, count and length following: ids twice in one block.
    Twice,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, v)| Damage::Set(at, v)),
        any::<usize>().prop_map(Damage::Cut),
        prop_oneof![0usize..8, Just(usize::MAX >> 1), Just(1 << 40)].prop_map(Damage::Count),
        prop_oneof![-3i64..4, Just(1 << 40)].prop_map(Damage::Length),
        any::<usize>().prop_map(Damage::Remove),
        (any::<usize>(), any::<u8>()).prop_map(|(at, v)| Damage::Insert(at, v)),
        (any::<usize>(), 1u8..=255).prop_map(|(at, v)| Damage::Flip(at, v)),
        any::<usize>().prop_map(Damage::Prefix),
        Just(Damage::Twice),
    ]
}

fn apply_damage(bytes: &[u8], block: &PutAllBlock, damage: &Damage) -> Vec<u8> {
    let end = block.bytes + block.n;
    let length = |n: u64| {
        let mut v = Vec::new();
        varint(&mut v, n);
        v
    };
    match *damage {
        Damage::Set(at, value) => {
            let mut out = bytes.to_vec();
            out[block.tag + at % (end - block.tag)] = value;
            out
        }
        Damage::Cut(at) => bytes[..block.tag + at % (end - block.tag)].to_vec(),
        Damage::Count(count) => splice(bytes, block.count, block.len, &length(count as u64)),
        Damage::Length(by) => splice(bytes, block.len, block.bytes, &length((block.n as i64 + by).max(0) as u64)),
        Damage::Remove(at) => {
            let at = block.bytes + at % block.n;
            let out = splice(bytes, at, at + 1, &[]);
            splice(&out, block.len, block.bytes, &length(block.n as u64 - 1))
        }
        Damage::Insert(at, value) => {
            let at = block.bytes + at % (block.n + 1);
            let out = splice(bytes, at, at, &[value]);
            splice(&out, block.len, block.bytes, &length(block.n as u64 + 1))
        }
        Damage::Flip(at, bits) => {
            let mut out = bytes.to_vec();
            out[at % bytes.len()] ^= bits;
            out
        }
        Damage::Prefix(k) => {
            let k = k % block.ends.len();
            let n = if k == 0 { 0 } else { block.ends[k - 1] };
            let mut head = length(k as u64);
            head.extend(length(n as u64));
            head.extend_from_slice(&bytes[block.bytes..block.bytes + n]);
            splice(bytes, block.count, end, &head)
        }
        Damage::Twice => {
            let mut head = length(2 * block.ends.len() as u64);
            head.extend(length(2 * block.n as u64));
            head.extend_from_slice(&bytes[block.bytes..end]);
            head.extend_from_slice(&bytes[block.bytes..end]);
            splice(bytes, block.count, end, &head)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A damaged checkpoint of a log with a `clear` in its undo history (the `PUT_ALL` block,
    /// checked when read and decoded only when an undo applies it) gives an error or a board;
    /// such a board survives undo and redo by every user, and its own checkpoint reads back as a
    /// board that acts the same.
    #[test]
    fn a_damaged_put_all_block_is_an_error_or_a_board_that_undo_and_redo_cannot_break(
        log in common::logs::log(60),
        which in any::<prop::sample::Index>(),
        damage in damage(),
        after in proptest::collection::vec((0usize..4, any::<bool>()), 1..24),
    ) {
        let mut log_with_clear = Log { ops: log };
        // Two strokes on p2 then a clear of it by cho: an undo of a clear is in the history.
        log_with_clear
            .on("ann", "p2", stroke("e1", &[(0.1, 0.1)], "#FF0000", 0.01))
            .on("bob", "p2", text("e2", (0.2, 0.2), "Aa", 0.05))
            .on("cho", "p2", OpKind::Clear);
        let bytes = BASE64.decode(Board::replay(&log_with_clear.ops).checkpoint_text()).unwrap();
        let blocks = put_all_blocks(&bytes);
        prop_assert!(!blocks.is_empty());
        let damaged = apply_damage(&bytes, &blocks[which.index(blocks.len())], &damage);
        let r = Board::from_checkpoint_text(&BASE64.encode(&damaged));

        let Ok(mut board) = r else {
            return Ok(());
        };
        let text = board.checkpoint_text();
        let mut again = Board::from_checkpoint_text(&text).expect("a board's own checkpoint reads back");
        prop_assert_eq!(again.checkpoint_text(), text.clone());
        let mut ops = Log::new();
        for (user, undo) in after {
            let user = ["ann", "bob", "cho", "nobody"][user];
            ops.push(user, if undo { OpKind::Undo } else { OpKind::Redo });
        }
        ops.on("ann", "p2", stroke("e1", &[(0.3, 0.3)], "#0050C8", 0.01)).push("bob", OpKind::Undo);
        for op in &ops.ops {
            prop_assert_eq!(board.apply(op), again.apply(op));
        }
        prop_assert_eq!(board.checkpoint_text(), again.checkpoint_text());
    }
}

/// `op` with each element id `e{n}` replaced by the `n`th of [`common::edge_ids`] (cyclically).
fn with_edge_ids(mut op: LoggedOp, ids: &[String]) -> LoggedOp {
    let edge = |id: &mut ElementId| {
        let n: usize = id.as_str()[1..].parse().expect("an id of the random logs");
        *id = ElementId::new(&ids[n % ids.len()]);
    };
    match &mut op.op.kind {
        OpKind::Stroke(s) => edge(&mut s.id),
        OpKind::Shape(s) => edge(&mut s.id),
        OpKind::Text(t) => edge(&mut t.id),
        OpKind::Image(i) => edge(&mut i.id),
        OpKind::Erase { ids } => ids.iter_mut().for_each(edge),
        _ => {}
    }
    op
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Ids of 0, 23, 24, 255 bytes and non-ASCII ones, through checkpoints taken anywhere in a
    /// log (clears, erases, undo and redo): the resumed replay is the replay from the start.
    #[test]
    fn edge_ids_survive_checkpoints_anywhere_in_a_log(log in common::logs::log(100), first in 0usize..5) {
        let ids = common::edge_ids();
        let log: Vec<LoggedOp> = log.into_iter().map(|op| with_edge_ids(op, &ids)).collect();
        for cut in (first..=log.len()).step_by(5) {
            let mut from_start = Board::replay(&log[..cut]);
            let mut resumed = Board::from_checkpoint_text(&from_start.checkpoint_text()).unwrap();
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
            for op in &log[cut..] {
                prop_assert_eq!(resumed.apply(op), from_start.apply(op), "op {} after cut {}", op.seq, cut);
            }
            prop_assert_eq!(resumed.pages().collect::<Vec<_>>(), from_start.pages().collect::<Vec<_>>());
            prop_assert_eq!(resumed.checkpoint_text(), from_start.checkpoint_text());
        }
    }
}

#[test]
fn edge_ids_come_back_from_a_checkpointed_clear() {
    let ids = common::edge_ids();
    let mut log = Log::new();
    for id in &ids {
        log.push("u", stroke(id, &[(0.1, 0.1), (0.2, 0.2)], "#FF0000", 0.01));
    }
    log.push("t", OpKind::Clear);
    let mut resumed = Board::from_checkpoint_text(&Board::replay(&log.ops).checkpoint_text()).unwrap();
    assert!(resumed.current_page().is_empty());
    log.push("t", OpKind::Undo);
    resumed.apply(log.ops.last().unwrap());
    assert_eq!(common::ids(resumed.current_page()), ids);
    // Each by its id: erasing them all, one id at a time, from the board resumed again.
    let mut again = Board::from_checkpoint_text(&resumed.checkpoint_text()).unwrap();
    for id in &ids {
        log.push("u", erase(&[id]));
        again.apply(log.ops.last().unwrap());
    }
    assert!(again.current_page().is_empty());
}
