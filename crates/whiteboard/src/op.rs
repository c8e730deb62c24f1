//! The room operation model: the JSON a client sends, typed, plus its validation.
//!
//! Wire format: one JSON object per operation, tagged by `op`, e.g.
//! `{"op":"stroke","id":"s1","points":[[0.1,0.2],[0.3,0.4]],"color":"#FF0000","width":0.005,"tool":"pen","page":"#DEFAULT","ts":1700000000000}`.
//! Unknown fields are ignored so newer clients can add some without breaking older servers.
//!
//! Parsing ([`Op::from_json`], [`parse_ops`]) checks types; [`Op::validate`] checks values and
//! names the offending field (`points[3][1]`, `width`, …) so a server can answer
//! `InvalidParameterValue` with a message a client developer can act on.

use std::fmt;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use thiserror::Error;

use crate::color::Color;

/// The page an operation lands on when it names none.
pub const DEFAULT_PAGE: &str = "#DEFAULT";
/// Longest element, page or user-chosen id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Most points in one stroke.
pub const MAX_POINTS: usize = 10_000;
/// Longest text element, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Longest image or background URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Most ids in one `erase`.
pub const MAX_ERASE_IDS: usize = 10_000;

/// A page name, e.g. `#DEFAULT` or a client-chosen id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageId(String);

impl PageId {
    pub fn new(id: impl Into<String>) -> Self {
        PageId(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for PageId {
    fn default() -> Self {
        PageId(DEFAULT_PAGE.to_owned())
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen element id, unique within its page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ElementId(SmolStr);

impl ElementId {
    pub fn new(id: impl AsRef<str>) -> Self {
        ElementId(SmolStr::new(id))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position on the board: `x` in 0..=1 of its width, `y` in 0..=1 of its height.
/// On the wire: `[x, y]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 2]", into = "[f32; 2]")]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }
}

impl From<[f32; 2]> for Point {
    fn from([x, y]: [f32; 2]) -> Self {
        Point { x, y }
    }
}

impl From<Point> for [f32; 2] {
    fn from(p: Point) -> Self {
        [p.x, p.y]
    }
}

/// An axis-aligned box in board coordinates (`x`,`w` of the width; `y`,`h` of the height).
/// On the wire: `[x, y, w, h]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl From<[f32; 4]> for Rect {
    fn from([x, y, w, h]: [f32; 4]) -> Self {
        Rect { x, y, w, h }
    }
}

impl From<Rect> for [f32; 4] {
    fn from(r: Rect) -> Self {
        [r.x, r.y, r.w, r.h]
    }
}

/// How a freehand stroke is inked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    #[default]
    Pen,
    /// Translucent ink that tints what is below it instead of covering it.
    Highlighter,
}

/// `stroke`: a freehand line through `points`, drawn smoothed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stroke {
    pub id: ElementId,
    pub points: Vec<Point>,
    pub color: Color,
    /// Line width as a fraction of the board height.
    pub width: f32,
    /// Absent means `pen`.
    #[serde(default)]
    pub tool: Tool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Line,
    /// A line from `from` with a head at `to`.
    Arrow,
    Rect,
    /// The ellipse inscribed in the box spanned by `from` and `to`.
    Ellipse,
}

/// `shape`: a geometric figure spanned by `from` and `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub id: ElementId,
    pub kind: ShapeKind,
    pub from: Point,
    pub to: Point,
    pub color: Color,
    /// Outline width as a fraction of the board height.
    pub width: f32,
    /// Interior colour of `rect` and `ellipse` (absent or `null`: hollow); lines and arrows
    /// have no interior.
    #[serde(default)]
    pub fill: Option<Color>,
}

/// `text`: lines of text whose first line's top-left corner is at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub id: ElementId,
    pub at: Point,
    /// May hold `\n` line breaks and any Unicode.
    pub text: String,
    /// Font size (em) as a fraction of the board height.
    pub size: f32,
    pub color: Color,
}

/// `image`: a picture stretched into `rect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: ElementId,
    pub url: String,
    pub rect: Rect,
}

/// `background`: what a page shows below its elements.
/// On the wire exactly one of `color` or `image` (a URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BackgroundWire", into = "BackgroundWire")]
pub enum Background {
    Color(Color),
    Image(String),
}

#[derive(Serialize, Deserialize)]
struct BackgroundWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<Color>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
}

#[derive(Debug, Error)]
#[error("background needs exactly one of `color` or `image`")]
pub struct BackgroundFieldsError;

impl TryFrom<BackgroundWire> for Background {
    type Error = BackgroundFieldsError;
    fn try_from(w: BackgroundWire) -> Result<Self, Self::Error> {
        match (w.color, w.image) {
            (Some(c), None) => Ok(Background::Color(c)),
            (None, Some(url)) => Ok(Background::Image(url)),
            _ => Err(BackgroundFieldsError),
        }
    }
}

impl From<Background> for BackgroundWire {
    fn from(b: Background) -> Self {
        match b {
            Background::Color(c) => BackgroundWire { color: Some(c), image: None },
            Background::Image(url) => BackgroundWire { color: None, image: Some(url) },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAction {
    Add,
    Switch,
    Delete,
}

/// `page`: page management.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageOp {
    pub action: PageAction,
    pub target: PageId,
}

/// What an operation does; the `op` field on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    Stroke(Stroke),
    Shape(Shape),
    Text(Text),
    Image(Image),
    /// Remove the listed elements of the page.
    Erase {
        ids: Vec<ElementId>,
    },
    /// Remove every element of the page (its background stays).
    Clear,
    Background(Background),
    Page(PageOp),
    /// `addSnapshotMark`: snapshot the page as it is at this point of the log.
    Mark,
    Undo,
    Redo,
}

/// One operation as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The page the operation applies to. Absent means [`DEFAULT_PAGE`], except for `mark`,
    /// where it means the board's current page (see [`crate::replay`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageId>,
    /// Client clock, milliseconds; informational only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    #[serde(flatten)]
    pub kind: OpKind,
}

/// An operation as stored in a room's log, stamped by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedOp {
    /// Position in the room's log, strictly increasing.
    pub seq: u64,
    /// The authenticated sender; undo/redo act on this user's own operations.
    pub user_id: String,
    /// Server clock when the operation arrived, milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    #[serde(flatten)]
    pub op: Op,
}

/// A field whose value breaks a rule of the operation model.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field}: {problem}")]
pub struct InvalidOp {
    /// Path of the field in the operation's JSON, e.g. `points[3][1]`; prefixed with `[i].`
    /// by [`parse_ops`] for the i-th operation of an array.
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum Problem {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("must hold at most {max} items")]
    TooMany { max: usize },
    #[error("must be within {range}, got {value}")]
    OutOfRange { value: f32, range: &'static str },
}

/// Why a client's JSON is not a valid operation.
#[derive(Debug, Error)]
pub enum OpError {
    #[error("invalid operation JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] InvalidOp),
}

impl Op {
    pub fn new(kind: OpKind) -> Self {
        Op { page: None, ts: None, kind }
    }

    /// The same operation addressed to `page`.
    pub fn on(self, page: impl Into<String>) -> Self {
        Op { page: Some(PageId::new(page)), ..self }
    }

    /// The page this operation addresses, [`DEFAULT_PAGE`] when it names none.
    pub fn page_or_default(&self) -> PageId {
        self.page.clone().unwrap_or_default()
    }

    /// Parses one operation and validates it.
    pub fn from_json(json: &str) -> Result<Op, OpError> {
        let op: Op = serde_json::from_str(json)?;
        op.validate()?;
        Ok(op)
    }

    /// Checks every value against the model's rules; the error names the first bad field.
    pub fn validate(&self) -> Result<(), InvalidOp> {
        if let Some(page) = &self.page {
            check_id("page", page.as_str())?;
        }
        match &self.kind {
            OpKind::Stroke(s) => {
                check_id("id", s.id.as_str())?;
                if s.points.is_empty() {
                    return Err(invalid("points", Problem::Empty));
                }
                if s.points.len() > MAX_POINTS {
                    return Err(invalid("points", Problem::TooMany { max: MAX_POINTS }));
                }
                for (i, p) in s.points.iter().enumerate() {
                    check_point(&format!("points[{i}]"), *p)?;
                }
                check_length("width", s.width)
            }
            OpKind::Shape(s) => {
                check_id("id", s.id.as_str())?;
                check_point("from", s.from)?;
                check_point("to", s.to)?;
                check_length("width", s.width)
            }
            OpKind::Text(t) => {
                check_id("id", t.id.as_str())?;
                check_point("at", t.at)?;
                check_text("text", &t.text, MAX_TEXT_CHARS)?;
                check_length("size", t.size)
            }
            OpKind::Image(img) => {
                check_id("id", img.id.as_str())?;
                check_text("url", &img.url, MAX_URL_CHARS)?;
                let r = img.rect;
                check_unit("rect[0]", r.x)?;
                check_unit("rect[1]", r.y)?;
                check_length("rect[2]", r.w)?;
                check_length("rect[3]", r.h)
            }
            OpKind::Erase { ids } => {
                if ids.is_empty() {
                    return Err(invalid("ids", Problem::Empty));
                }
                if ids.len() > MAX_ERASE_IDS {
                    return Err(invalid("ids", Problem::TooMany { max: MAX_ERASE_IDS }));
                }
                for (i, id) in ids.iter().enumerate() {
                    check_id(&format!("ids[{i}]"), id.as_str())?;
                }
                Ok(())
            }
            OpKind::Background(Background::Image(url)) => check_text("image", url, MAX_URL_CHARS),
            OpKind::Page(p) => check_id("target", p.target.as_str()),
            OpKind::Background(Background::Color(_)) | OpKind::Clear | OpKind::Mark | OpKind::Undo | OpKind::Redo => {
                Ok(())
            }
        }
    }
}

/// Parses what a client sends in one message — one operation object or an array of them —
/// and validates each. Errors in an array name the operation: `[2].points[0][1]: …`.
pub fn parse_ops(json: &str) -> Result<Vec<Op>, OpError> {
    // Dispatch on the first character rather than an untagged enum, whose failure would hide
    // serde's message about the actual bad field.
    let many = json.trim_start().starts_with('[');
    let ops = if many { serde_json::from_str::<Vec<Op>>(json)? } else { vec![serde_json::from_str::<Op>(json)?] };
    for (i, op) in ops.iter().enumerate() {
        op.validate().map_err(|mut e| {
            if many {
                e.field = format!("[{i}].{}", e.field);
            }
            e
        })?;
    }
    Ok(ops)
}

fn invalid(field: &str, problem: Problem) -> InvalidOp {
    InvalidOp { field: field.to_owned(), problem }
}

fn check_id(field: &str, id: &str) -> Result<(), InvalidOp> {
    check_text(field, id, MAX_ID_CHARS)
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), InvalidOp> {
    if s.is_empty() {
        return Err(invalid(field, Problem::Empty));
    }
    if s.chars().count() > max {
        return Err(invalid(field, Problem::TooLong { max }));
    }
    Ok(())
}

fn check_point(field: &str, p: Point) -> Result<(), InvalidOp> {
    check_unit(&format!("{field}[0]"), p.x)?;
    check_unit(&format!("{field}[1]"), p.y)
}

/// A coordinate: 0..=1 of the board.
fn check_unit(field: &str, v: f32) -> Result<(), InvalidOp> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, Problem::OutOfRange { value: v, range: "0..=1" }))
    }
}

/// A length: a positive fraction of the board height, at most all of it.
fn check_length(field: &str, v: f32) -> Result<(), InvalidOp> {
    if v > 0.0 && v <= 1.0 { Ok(()) } else { Err(invalid(field, Problem::OutOfRange { value: v, range: "(0, 1]" })) }
}
