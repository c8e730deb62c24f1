//! What a page holds: the elements drawn on it. Its own module so the checkpoint encoding can
//! use it without the replay that keeps elements on pages.

use serde::{Deserialize, Serialize};

use crate::op::{ElementId, Image, Shape, Stroke, Text};

/// Something drawn on a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Element {
    Stroke(Stroke),
    Shape(Shape),
    Text(Text),
    Image(Image),
}

impl Element {
    pub fn id(&self) -> &ElementId {
        match self {
            Element::Stroke(s) => &s.id,
            Element::Shape(s) => &s.id,
            Element::Text(t) => &t.id,
            Element::Image(i) => &i.id,
        }
    }
}
