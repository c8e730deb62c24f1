//! Whiteboard rooms without I/O: the operation model ([`op`]), replay of an operation log into
//! page state ([`replay`]), and rasterisation of a page to RGBA or PNG ([`render`]).
//!
//! ```
//! use whiteboard::{op::LoggedOp, render::{NoImages, RenderOptions, Renderer}, replay};
//!
//! let log: Vec<LoggedOp> = serde_json::from_str(r##"[
//!   {"seq":1,"user_id":"u","received_at_ms":0,"op":"stroke","id":"s1",
//!    "points":[[0.1,0.1],[0.5,0.4],[0.9,0.2]],"color":"#0050C8","width":0.01},
//!   {"seq":2,"user_id":"u","received_at_ms":0,"op":"mark"}
//! ]"##).unwrap();
//! let shots = replay::snapshots(&log, replay::SnapshotMode::AllMarks);
//! let options = RenderOptions::from_init_params(r#"{"ratio":"16:9"}"#).unwrap();
//! let renderer = Renderer::new(320, 180, options).unwrap();
//! let png = renderer.render_png(&shots[0].page, &NoImages).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//! ```

pub mod color;
pub mod op;
pub mod render;
pub mod replay;
mod sequence;

pub use color::{Color, ColorError};
/// The rasteriser whose `Pixmap`, `PixmapRef` and `IntRect` appear in [`render`]'s API.
pub use tiny_skia;
