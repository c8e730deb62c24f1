//! The checkpoint's binary encoding of elements and its primitives: LEB128 varints for lengths
//! and indices, little-endian `f32` for coordinates and widths, four bytes for a colour. The
//! block of elements a `clear` removed ([`EncodedElements`]) lives here, encoded, until an
//! `undo` needs it; `checkpoint` writes and reads the rest of a board with these primitives.

use std::sync::Arc;

use thiserror::Error;

use super::element::Element;
use crate::color::Color;
use crate::op::{Background, ElementId, Image, Point, Rect, Shape, ShapeKind, Stroke, Text, Tool};

/// Why a checkpoint text gives no board.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not base64 text of its format, or it ends early")]
    Syntax,
    #[error("the checkpoint is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// Elements, bottom to top, in the checkpoint's element encoding: the undo of a `clear` as a
/// checkpoint holds it. Read back only after the whole block was checked, so decoding it later
/// cannot fail.
#[derive(Debug, Clone)]
pub(super) struct EncodedElements {
    len: usize,
    bytes: Arc<[u8]>,
}

impl EncodedElements {
    pub(super) fn encode(elements: &[Arc<Element>]) -> Self {
        let mut out = Writer::default();
        for element in elements {
            out.element(element);
        }
        EncodedElements { len: elements.len(), bytes: out.0.into() }
    }

    /// How many elements it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn decode(&self) -> Vec<Arc<Element>> {
        let mut input = Reader(&self.bytes);
        (0..self.len)
            .map(|_| Arc::new(input.element().expect("the block was checked when its checkpoint was read")))
            .collect()
    }
}

/// Element tags of the encoding.
const STROKE: u8 = 0;
const SHAPE: u8 = 1;
const TEXT: u8 = 2;
const IMAGE: u8 = 3;

#[derive(Default)]
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    pub(super) fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    pub(super) fn len(&mut self, n: usize) {
        self.varint(n as u64);
    }

    pub(super) fn f32(&mut self, x: f32) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }

    pub(super) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(super) fn point(&mut self, p: Point) {
        self.f32(p.x);
        self.f32(p.y);
    }

    pub(super) fn color(&mut self, c: Color) {
        self.0.extend_from_slice(&[c.r, c.g, c.b, c.a]);
    }

    pub(super) fn background(&mut self, bg: &Option<Background>) {
        match bg {
            None => self.byte(0),
            Some(Background::Color(c)) => {
                self.byte(1);
                self.color(*c);
            }
            Some(Background::Image(url)) => {
                self.byte(2);
                self.str(url);
            }
        }
    }

    pub(super) fn element(&mut self, element: &Element) {
        match element {
            Element::Stroke(s) => {
                self.byte(STROKE);
                self.str(s.id.as_str());
                self.len(s.points.len());
                for &p in &s.points {
                    self.point(p);
                }
                self.color(s.color);
                self.f32(s.width);
                self.byte(match s.tool {
                    Tool::Pen => 0,
                    Tool::Highlighter => 1,
                });
            }
            Element::Shape(s) => {
                self.byte(SHAPE);
                self.str(s.id.as_str());
                self.byte(match s.kind {
                    ShapeKind::Line => 0,
                    ShapeKind::Arrow => 1,
                    ShapeKind::Rect => 2,
                    ShapeKind::Ellipse => 3,
                });
                self.point(s.from);
                self.point(s.to);
                self.color(s.color);
                self.f32(s.width);
                match s.fill {
                    None => self.byte(0),
                    Some(c) => {
                        self.byte(1);
                        self.color(c);
                    }
                }
            }
            Element::Text(t) => {
                self.byte(TEXT);
                self.str(t.id.as_str());
                self.point(t.at);
                self.str(&t.text);
                self.f32(t.size);
                self.color(t.color);
            }
            Element::Image(i) => {
                self.byte(IMAGE);
                self.str(i.id.as_str());
                self.str(&i.url);
                for x in [i.rect.x, i.rect.y, i.rect.w, i.rect.h] {
                    self.f32(x);
                }
            }
        }
    }

    /// A block as [`Reader::encoded_elements`] reads it: its length, its byte length, its bytes.
    pub(super) fn encoded_elements(&mut self, elements: &EncodedElements) {
        self.len(elements.len);
        self.len(elements.bytes.len());
        self.0.extend_from_slice(&elements.bytes);
    }
}

pub(super) struct Reader<'a>(pub(super) &'a [u8]);

pub(super) type Read<T> = Result<T, CheckpointError>;

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        if n > self.0.len() {
            return Err(CheckpointError::Syntax);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(super) fn byte(&mut self) -> Read<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn varint(&mut self) -> Read<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(CheckpointError::Syntax)
    }

    pub(super) fn len(&mut self) -> Read<usize> {
        usize::try_from(self.varint()?).map_err(|_| CheckpointError::Syntax)
    }

    /// A count of items each at least `min_bytes` long: one the rest cannot hold is an error,
    /// so a damaged count never reserves a huge vector.
    pub(super) fn count(&mut self, min_bytes: usize) -> Read<usize> {
        let n = self.len()?;
        if n.saturating_mul(min_bytes) > self.0.len() {
            return Err(CheckpointError::Syntax);
        }
        Ok(n)
    }

    pub(super) fn f32(&mut self) -> Read<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn str(&mut self) -> Read<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| CheckpointError::Syntax)
    }

    pub(super) fn string(&mut self) -> Read<String> {
        Ok(self.str()?.to_owned())
    }

    pub(super) fn point(&mut self) -> Read<Point> {
        Ok(Point::new(self.f32()?, self.f32()?))
    }

    pub(super) fn color(&mut self) -> Read<Color> {
        let b = self.take(4)?;
        Ok(Color::rgba(b[0], b[1], b[2], b[3]))
    }

    pub(super) fn background(&mut self) -> Read<Option<Background>> {
        Ok(match self.byte()? {
            0 => None,
            1 => Some(Background::Color(self.color()?)),
            2 => Some(Background::Image(self.string()?)),
            _ => return Err(CheckpointError::Syntax),
        })
    }

    pub(super) fn element(&mut self) -> Read<Element> {
        self.element_if(true).map(|element| element.expect("built"))
    }

    /// Reads one element, and builds it only if `build`: checking a block of them allocates
    /// nothing, and reads exactly what building it does.
    pub(super) fn element_if(&mut self, build: bool) -> Read<Option<Element>> {
        let tag = self.byte()?;
        let id = self.str()?;
        let id = || ElementId::new(id);
        Ok(match tag {
            STROKE => {
                let n = self.count(8)?;
                let points = self.take(8 * n)?;
                let (color, width) = (self.color()?, self.f32()?);
                let tool = match self.byte()? {
                    0 => Tool::Pen,
                    1 => Tool::Highlighter,
                    _ => return Err(CheckpointError::Syntax),
                };
                build.then(|| {
                    let points = points.chunks_exact(8).map(|p| Reader(p).point().expect("8 bytes")).collect();
                    Element::Stroke(Stroke { id: id(), points, color, width, tool })
                })
            }
            SHAPE => {
                let kind = match self.byte()? {
                    0 => ShapeKind::Line,
                    1 => ShapeKind::Arrow,
                    2 => ShapeKind::Rect,
                    3 => ShapeKind::Ellipse,
                    _ => return Err(CheckpointError::Syntax),
                };
                let (from, to, color, width) = (self.point()?, self.point()?, self.color()?, self.f32()?);
                let fill = match self.byte()? {
                    0 => None,
                    1 => Some(self.color()?),
                    _ => return Err(CheckpointError::Syntax),
                };
                build.then(|| Element::Shape(Shape { id: id(), kind, from, to, color, width, fill }))
            }
            TEXT => {
                let (at, text, size, color) = (self.point()?, self.str()?, self.f32()?, self.color()?);
                build.then(|| Element::Text(Text { id: id(), at, text: text.to_owned(), size, color }))
            }
            IMAGE => {
                let url = self.str()?;
                let rect = Rect { x: self.f32()?, y: self.f32()?, w: self.f32()?, h: self.f32()? };
                build.then(|| Element::Image(Image { id: id(), url: url.to_owned(), rect }))
            }
            _ => return Err(CheckpointError::Syntax),
        })
    }

    /// A block of `len` elements that fills `bytes` exactly.
    pub(super) fn encoded_elements(&mut self) -> Read<EncodedElements> {
        let len = self.count(2)?;
        let n = self.len()?;
        let bytes = self.take(n)?;
        let mut block = Reader(bytes);
        for _ in 0..len {
            block.element_if(false)?;
        }
        if !block.0.is_empty() {
            return Err(CheckpointError::Syntax);
        }
        Ok(EncodedElements { len, bytes: bytes.into() })
    }
}
