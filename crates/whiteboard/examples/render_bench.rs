//! Throughput of snapshot rendering: `bench/render.sh` builds and runs it in release mode.
//!
//! Scene: a 1280×720 page with 200 freehand strokes, 20 shapes and a paragraph of text.
//! * pipeline: replay the log, render the marked page, encode PNG (what a snapshot task does);
//! * baseline: the same geometry as ready-made tiny-skia paths, rasterised and encoded with
//!   `png`'s `Compression::Fast` — the floor that the pipeline's own work is measured against;
//! * parallel: the pipeline over many marks with `render_marks_parallel` on 1 and 2 threads.

use std::hint::black_box;
use std::time::{Duration, Instant};

use whiteboard::Color;
use whiteboard::op::{ElementId, LoggedOp, Op, OpKind, Point, Shape, ShapeKind, Stroke, Text, Tool};
use whiteboard::render::{NoImages, RenderOptions, Renderer, render_marks_parallel};
use whiteboard::replay::{SnapshotMode, snapshots};
use whiteboard::tiny_skia::{
    BlendMode, FillRule, LineCap, LineJoin, Paint, Path, PathBuilder, Pixmap, Rect, Transform,
};

const W: u32 = 1280;
const H: u32 = 720;
const PARAGRAPH: &str = "Whiteboard snapshots replay the room's operation log up to each mark,\n\
render the marked page with anti-aliased strokes, shapes and shaped text,\n\
and encode it as PNG. This paragraph stands in for the notes a teacher\n\
types during a lesson: a few lines, some punctuation, numbers 0123456789.";

/// Deterministic pseudo-random numbers in 0..1 (xorshift), so every run draws the same scene.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn scene() -> Vec<LoggedOp> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut kinds = Vec::new();
    for i in 0..200 {
        let (mut x, mut y) = (rng.next(), rng.next());
        let points = (0..40)
            .map(|_| {
                x = (x + (rng.next() - 0.5) * 0.03).clamp(0.0, 1.0);
                y = (y + (rng.next() - 0.5) * 0.05).clamp(0.0, 1.0);
                Point::new(x, y)
            })
            .collect();
        let color = Color::rgb((rng.next() * 200.0) as u8, (rng.next() * 200.0) as u8, 120);
        kinds.push(OpKind::Stroke(Stroke {
            id: ElementId::new(format!("s{i}")),
            points,
            color,
            width: 0.003 + rng.next() * 0.006,
            tool: if i % 10 == 0 { Tool::Highlighter } else { Tool::Pen },
        }));
    }
    let shape_kinds = [ShapeKind::Line, ShapeKind::Arrow, ShapeKind::Rect, ShapeKind::Ellipse];
    for i in 0..20 {
        let from = Point::new(rng.next() * 0.8, rng.next() * 0.8);
        let to = Point::new(from.x + 0.05 + rng.next() * 0.15, from.y + 0.05 + rng.next() * 0.15);
        kinds.push(OpKind::Shape(Shape {
            id: ElementId::new(format!("p{i}")),
            kind: shape_kinds[i % 4],
            from,
            to,
            color: Color::rgb(30, 60, 150),
            width: 0.004,
            fill: (i % 3 == 0).then_some(Color::rgba(240, 170, 40, 128)),
        }));
    }
    kinds.push(OpKind::Text(Text {
        id: ElementId::new("para"),
        at: Point::new(0.05, 0.05),
        text: PARAGRAPH.to_owned(),
        size: 0.03,
        color: Color::rgb(20, 20, 20),
    }));
    kinds.push(OpKind::Mark);
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| LoggedOp {
            seq: i as u64 + 1,
            user_id: "bench".to_owned(),
            received_at_ms: 0,
            op: Op::new(kind),
        })
        .collect()
}

/// Runs `f` repeatedly for about `budget` (at least 5 times); returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while n < 5 || start.elapsed() < budget {
        f();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// The baseline's scene: pixel-space paths with their paint, built once outside the timing.
enum Draw {
    Stroke(Path, Paint<'static>, f32),
    Fill(Path, Paint<'static>),
}

fn baseline_paths(log: &[LoggedOp]) -> Vec<Draw> {
    let at = |p: Point| (p.x * W as f32, p.y * H as f32);
    let paint = |c: Color| {
        let mut p = Paint::default();
        p.set_color_rgba8(c.r, c.g, c.b, c.a);
        p
    };
    let mut draws = Vec::new();
    for op in log {
        match &op.op.kind {
            OpKind::Stroke(s) => {
                let pts: Vec<(f32, f32)> = s.points.iter().map(|p| at(*p)).collect();
                let mut pb = PathBuilder::new();
                pb.move_to(pts[0].0, pts[0].1);
                for w in pts.windows(2) {
                    let m = ((w[0].0 + w[1].0) / 2.0, (w[0].1 + w[1].1) / 2.0);
                    pb.quad_to(w[0].0, w[0].1, m.0, m.1);
                }
                let mut ink = paint(s.color);
                if s.tool == Tool::Highlighter {
                    ink = paint(s.color.fade(0.4));
                    ink.blend_mode = BlendMode::Multiply;
                }
                draws.push(Draw::Stroke(pb.finish().unwrap(), ink, s.width * H as f32));
            }
            OpKind::Shape(s) => {
                let (a, b) = (at(s.from), at(s.to));
                let rect = Rect::from_ltrb(a.0, a.1, b.0, b.1).unwrap();
                let path = match s.kind {
                    ShapeKind::Rect => PathBuilder::from_rect(rect),
                    ShapeKind::Ellipse => PathBuilder::from_oval(rect).unwrap(),
                    ShapeKind::Line | ShapeKind::Arrow => {
                        let mut pb = PathBuilder::new();
                        pb.move_to(a.0, a.1);
                        pb.line_to(b.0, b.1);
                        pb.finish().unwrap()
                    }
                };
                if let Some(fill) = s.fill {
                    draws.push(Draw::Fill(path.clone(), paint(fill)));
                }
                draws.push(Draw::Stroke(path, paint(s.color), s.width * H as f32));
            }
            OpKind::Text(t) => draws.push(Draw::Fill(glyph_paths(t), paint(t.color))),
            _ => {}
        }
    }
    draws
}

/// The paragraph's glyph outlines straight from the font, without shaping.
fn glyph_paths(t: &Text) -> Path {
    use rustybuzz::ttf_parser::{Face, GlyphId, OutlineBuilder};
    struct B(PathBuilder, f32, f32, f32);
    impl OutlineBuilder for B {
        fn move_to(&mut self, x: f32, y: f32) {
            self.0.move_to(self.1 + x * self.3, self.2 - y * self.3)
        }
        fn line_to(&mut self, x: f32, y: f32) {
            self.0.line_to(self.1 + x * self.3, self.2 - y * self.3)
        }
        fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
            self.0.quad_to(self.1 + x1 * self.3, self.2 - y1 * self.3, self.1 + x * self.3, self.2 - y * self.3)
        }
        fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
            let s = self.3;
            self.0.cubic_to(
                self.1 + x1 * s,
                self.2 - y1 * s,
                self.1 + x2 * s,
                self.2 - y2 * s,
                self.1 + x * s,
                self.2 - y * s,
            )
        }
        fn close(&mut self) {
            self.0.close()
        }
    }
    let face = Face::parse(include_bytes!("../assets/DejaVuSans.ttf"), 0).unwrap();
    let scale = t.size * H as f32 / f32::from(face.units_per_em());
    let line_height = f32::from(face.ascender() - face.descender()) * scale;
    let mut b = B(PathBuilder::new(), 0.0, 0.0, scale);
    for (i, line) in t.text.lines().enumerate() {
        let mut x = t.at.x * W as f32;
        let baseline = t.at.y * H as f32 + f32::from(face.ascender()) * scale + i as f32 * line_height;
        for ch in line.chars() {
            let g = face.glyph_index(ch).unwrap_or(GlyphId(0));
            (b.1, b.2) = (x, baseline);
            face.outline_glyph(g, &mut b);
            x += f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale;
        }
    }
    b.0.finish().unwrap()
}

fn baseline_frame(draws: &[Draw]) -> Vec<u8> {
    let mut pixmap = Pixmap::new(W, H).unwrap();
    pixmap.fill(whiteboard::tiny_skia::Color::WHITE);
    for d in draws {
        match d {
            Draw::Stroke(path, paint, width) => {
                let stroke = whiteboard::tiny_skia::Stroke {
                    width: *width,
                    line_cap: LineCap::Round,
                    line_join: LineJoin::Round,
                    ..Default::default()
                };
                pixmap.stroke_path(path, paint, &stroke, Transform::identity(), None);
            }
            Draw::Fill(path, paint) => pixmap.fill_path(path, paint, FillRule::Winding, Transform::identity(), None),
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, W, H);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(pixmap.data()).unwrap();
    writer.finish().unwrap();
    out
}

fn main() {
    let budget = Duration::from_millis(std::env::var("BENCH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000));
    let log = scene();
    let renderer = Renderer::new(W, H, RenderOptions::default()).unwrap();

    let png = {
        let shots = snapshots(&log, SnapshotMode::AllMarks);
        renderer.render_png(&shots[0].page, &NoImages).unwrap()
    };
    if let Ok(path) = std::env::var("BENCH_PNG") {
        std::fs::write(&path, &png).expect("write BENCH_PNG");
    }
    let shots = snapshots(&log, SnapshotMode::AllMarks);
    let pipeline = rate(budget, || {
        let shots = snapshots(black_box(&log), SnapshotMode::AllMarks);
        black_box(renderer.render_png(&shots[0].page, &NoImages).unwrap());
    });
    let frame = renderer.render(&shots[0].page, &NoImages);
    let render_only = rate(budget, || {
        black_box(renderer.render(black_box(&shots[0].page), &NoImages));
    });
    let encode_only = rate(budget, || {
        black_box(whiteboard::render::encode_png(black_box(&frame)).unwrap());
    });
    let draws = baseline_paths(&log);
    let base_png = baseline_frame(&draws);
    let baseline = rate(budget, || {
        black_box(baseline_frame(black_box(&draws)));
    });
    println!("scene: {W}x{H}, 200 strokes, 20 shapes, {} chars of text", PARAGRAPH.len());
    println!(
        "pipeline (replay+render+encode): {pipeline:7.1} PNG/s  ({:.1} ms, {} KiB)",
        1e3 / pipeline,
        png.len() / 1024
    );
    println!(
        "baseline (raster+encode only):   {baseline:7.1} PNG/s  ({:.1} ms, {} KiB)",
        1e3 / baseline,
        base_png.len() / 1024
    );
    println!("ratio baseline/pipeline:         {:7.2}x", baseline / pipeline);
    println!("  of which render {:.1} ms, PNG encode {:.1} ms", 1e3 / render_only, 1e3 / encode_only);

    let marks: Vec<_> = (0..16).map(|_| shots[0].clone()).collect();
    for threads in [1, 2] {
        let batches = rate(budget, || {
            black_box(render_marks_parallel(
                &renderer,
                &marks,
                &NoImages,
                threads,
                &std::sync::atomic::AtomicBool::new(false),
            ));
        });
        println!("parallel, {threads} thread(s):           {:7.1} PNG/s", batches * marks.len() as f64);
    }
}
