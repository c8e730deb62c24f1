//! Bounds on the work and memory a room's content can make: marks, stop flags, picture
//! headers, and what parsing keeps of a client's JSON.

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use whiteboard::op::parse_ops;
use whiteboard::render::{
    ImageError, NoImages, RenderError, RenderOptions, Renderer, decode_png_within, encode_png, render_marks_parallel,
};
use whiteboard::replay::{SnapshotMode, SnapshotsError, snapshots, snapshots_within};
use whiteboard::tiny_skia::Pixmap;

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

fn marks(n: usize) -> Log {
    let mut log = Log::new();
    for i in 0..n {
        log.push("u", stroke(&format!("s{i}"), &[(0.1, 0.1), (0.9, 0.9)], "#000000", 0.01));
        log.push("u", whiteboard::op::OpKind::Mark);
    }
    log
}

#[test]
fn more_marks_than_allowed_are_refused() {
    let log = marks(4);
    assert_eq!(
        snapshots_within(&log.ops, SnapshotMode::AllMarks, 3, &never()),
        Err(SnapshotsError::TooManyMarks { max: 3 })
    );
    assert_eq!(snapshots_within(&log.ops, SnapshotMode::AllMarks, 4, &never()).unwrap().len(), 4);
}

#[test]
fn latest_marks_only_counts_pages_not_marks() {
    let log = marks(50);
    let shots = snapshots_within(&log.ops, SnapshotMode::LatestMarksOnly, 1, &never()).unwrap();
    assert_eq!(shots, snapshots(&log.ops, SnapshotMode::LatestMarksOnly));
    assert_eq!(shots.len(), 1);
}

#[test]
fn raised_stop_flag_ends_replay() {
    let log = marks(3);
    let stop = AtomicBool::new(true);
    assert_eq!(snapshots_within(&log.ops, SnapshotMode::AllMarks, 10, &stop), Err(SnapshotsError::Stopped));
}

#[test]
fn raised_stop_flag_ends_parallel_rendering() {
    let log = marks(3);
    let shots = snapshots(&log.ops, SnapshotMode::AllMarks);
    let renderer = Renderer::new(64, 36, RenderOptions::default()).unwrap();
    let stop = AtomicBool::new(true);
    let results = render_marks_parallel(&renderer, &shots, &NoImages, 2, &stop);
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| matches!(r, Err(RenderError::Stopped))));
}

#[test]
fn oversized_png_is_refused_from_its_header() {
    let png = encode_png(&Pixmap::new(300, 200).unwrap()).unwrap();
    match decode_png_within(&png, 300 * 200 - 1) {
        Err(ImageError::TooLarge { width: 300, height: 200, max_pixels }) => assert_eq!(max_pixels, 59_999),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(decode_png_within(&png, 300 * 200).unwrap().width(), 300);
}

#[test]
fn unknown_fields_are_not_kept() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let json = format!(r#"{{"op":"clear","extra":{deep},"more":{{"a":{{"b":1}}}}}}"#);
    let ops = parse_ops(&json).unwrap();
    assert_eq!(serde_json::to_string(&ops[0]).unwrap(), r#"{"op":"clear"}"#);
}

#[test]
fn deeply_nested_values_are_refused() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let json = format!(r#"{{"op":"clear","extra":{deep}}}"#);
    let error = parse_ops(&json).unwrap_err().to_string();
    assert!(error.contains("recursion limit"), "{error}");
}
