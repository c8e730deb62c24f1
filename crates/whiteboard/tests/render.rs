//! Renderer configuration, image decoding and batch rendering.

mod common;

use common::*;
use whiteboard::Color;
use whiteboard::render::{
    InitParamsError, NoImages, Ratio, RenderOptions, Renderer, decode_png, encode_png, render_marks_parallel,
};
use whiteboard::replay::{SnapshotMode, snapshots};

#[test]
fn init_params_read_ratio_and_background() {
    let o = RenderOptions::from_init_params(r##"{"ratio":"4:3","globalBackgroundColor":"#102030","id":"x"}"##).unwrap();
    assert_eq!(o.ratio, Ratio { width: 4.0, height: 3.0 });
    assert_eq!(o.background, Color::rgb(0x10, 0x20, 0x30));
}

#[test]
fn empty_init_params_mean_16_9_on_white() {
    let o = RenderOptions::from_init_params("").unwrap();
    assert_eq!((o.ratio, o.background), (Ratio { width: 16.0, height: 9.0 }, Color::WHITE));
}

#[test]
fn bad_init_params_name_the_key() {
    let err = RenderOptions::from_init_params(r#"{"ratio":"wide"}"#).unwrap_err();
    assert!(matches!(err, InitParamsError::Ratio(_)));
    assert!(err.to_string().starts_with("InitParams.ratio: invalid ratio \"wide\""), "{err}");
    let err = RenderOptions::from_init_params(r#"{"globalBackgroundColor":"white"}"#).unwrap_err();
    assert!(err.to_string().starts_with("InitParams.globalBackgroundColor:"), "{err}");
    assert!(matches!(RenderOptions::from_init_params("[1]"), Err(InitParamsError::Json(_))));
}

#[test]
fn zero_size_output_is_an_error() {
    assert!(Renderer::new(0, 720, RenderOptions::default()).is_err());
}

#[test]
fn board_fills_output_of_same_ratio_and_any_size_renders() {
    let mut log = Log::new();
    log.push("u", stroke("s", &[(0.0, 0.5), (1.0, 0.5)], "#000000", 0.1));
    let page = whiteboard::replay::Board::replay(&log.ops).current_page().clone();
    for (w, h) in [(1, 1), (7, 3), (1280, 720), (33, 400)] {
        let frame = Renderer::new(w, h, RenderOptions::default()).unwrap().render(&page, &NoImages);
        assert_eq!((frame.width(), frame.height()), (w, h));
    }
    // 16:9 in 16:9: no letterbox, the corner pixel is board background.
    let frame = Renderer::new(160, 90, RenderOptions::default()).unwrap().render(&page, &NoImages);
    assert_eq!(frame.pixel(0, 0).unwrap().red(), 0xff);
}

#[test]
fn png_round_trips_through_decoder() {
    let mut log = Log::new();
    log.push("u", stroke("s", &[(0.1, 0.1), (0.9, 0.9)], "#D02020", 0.05));
    let page = whiteboard::replay::Board::replay(&log.ops).current_page().clone();
    let frame = Renderer::new(64, 36, RenderOptions::default()).unwrap().render(&page, &NoImages);
    let decoded = decode_png(&encode_png(&frame).unwrap()).unwrap();
    assert_eq!(decoded.data(), frame.data());
}

#[test]
fn garbage_is_not_a_png() {
    assert!(decode_png(b"not a png").is_err());
}

#[test]
fn parallel_batch_matches_serial_rendering_in_order() {
    let mut log = Log::new();
    for i in 0..6 {
        let y = 0.1 + i as f32 * 0.15;
        log.push("u", stroke(&format!("s{i}"), &[(0.1, y), (0.9, y)], "#000000", 0.02));
        log.push("u", whiteboard::op::OpKind::Mark);
    }
    let shots = snapshots(&log.ops, SnapshotMode::AllMarks);
    let renderer = Renderer::new(160, 90, RenderOptions::default()).unwrap();
    let batch = render_marks_parallel(&renderer, &shots, &NoImages, 2, &std::sync::atomic::AtomicBool::new(false));
    assert_eq!(batch.len(), 6);
    for (shot, png) in shots.iter().zip(batch) {
        assert_eq!(png.unwrap(), renderer.render_png(&shot.page, &NoImages).unwrap());
    }
}
