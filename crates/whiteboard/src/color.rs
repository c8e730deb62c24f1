//! `#RRGGBB` / `#RRGGBBAA` colours as they travel on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// An sRGB colour with straight (not premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

/// A colour string that is not `#RRGGBB` or `#RRGGBBAA`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid colour {input:?}: expected #RRGGBB or #RRGGBBAA (hex digits)")]
pub struct ColorError {
    pub input: String,
}

impl Color {
    pub const WHITE: Color = Color::rgb(0xff, 0xff, 0xff);
    pub const BLACK: Color = Color::rgb(0, 0, 0);

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b, a: 0xff }
    }

    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Color { r, g, b, a }
    }

    /// The same colour with its alpha multiplied by `factor` (0..=1).
    pub fn fade(self, factor: f32) -> Self {
        let a = (f32::from(self.a) * factor.clamp(0.0, 1.0)).round() as u8;
        Color { a, ..self }
    }
}

impl FromStr for Color {
    type Err = ColorError;

    fn from_str(s: &str) -> Result<Self, ColorError> {
        let err = || ColorError { input: s.to_owned() };
        let hex = s.strip_prefix('#').ok_or_else(err)?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        // Every byte is an ASCII hex digit, so slicing at even offsets is on char boundaries.
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| err());
        Ok(Color { r: byte(0)?, g: byte(2)?, b: byte(4)?, a: if hex.len() == 8 { byte(6)? } else { 0xff } })
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02X}{:02X}{:02X}", self.r, self.g, self.b)?;
        if self.a != 0xff {
            write!(f, "{:02X}", self.a)?;
        }
        Ok(())
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rgb_and_rgba() {
        assert_eq!("#ff8000".parse(), Ok(Color::rgb(255, 128, 0)));
        assert_eq!("#FF800040".parse(), Ok(Color::rgba(255, 128, 0, 64)));
    }

    #[test]
    fn rejects_malformed_colours() {
        for bad in ["", "ff8000", "#ff80", "#ff80000", "#gg8000", "#ff8000+1", "#ÿÿÿ"] {
            let err = bad.parse::<Color>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["#FF8000", "#FF800040"] {
            assert_eq!(s.parse::<Color>().unwrap().to_string(), s);
        }
    }
}
