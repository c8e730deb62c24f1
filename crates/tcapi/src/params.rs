//! Action parameters: the JSON body and the flattened form (`Filters.0.Values.0=21`) decode
//! through one deserializer into the same typed request, with errors that name the field.
//!
//! serde_json's own errors are strings; this deserializer instead records *what* went wrong
//! (missing, unknown, wrong type, bad value) and *where* (a dotted path), which is exactly
//! what the Tencent error codes distinguish.

use crate::ErrorCode;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Where the parameters came from, which decides how scalars are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A JSON body: types must match exactly.
    Json,
    /// Query or form pairs: every value is a string on the wire and is coerced to the declared
    /// type; booleans are accepted in any case because Python sends `True`.
    Flattened,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamErrorKind {
    Missing,
    Unknown,
    /// The value is not of the declared type; `input` is the value as given when it is a scalar
    /// (at most 64 characters of it), for the real service's "input value is" wording.
    InvalidType {
        input: Option<String>,
    },
    InvalidValue {
        detail: String,
    },
    /// The same parameter given twice.
    Repeated,
    /// List indices that do not run 0, 1, 2… without gaps.
    ArrayIndex,
    Malformed {
        detail: String,
    },
}

/// A parameter problem, located by the dotted path of the field (`Filters.0.Name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub kind: ParamErrorKind,
    path: Vec<String>,
}

impl ParamError {
    fn new(kind: ParamErrorKind) -> Self {
        Self { kind, path: Vec::new() }
    }

    /// A value that parsed but is not acceptable, raised by validation code for a field.
    pub fn invalid_value(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: ParamErrorKind::InvalidValue { detail: detail.into() }, path: vec![field.into()] }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self { kind: ParamErrorKind::Missing, path: vec![field.into()] }
    }

    fn within(mut self, segment: impl Into<String>) -> Self {
        self.path.insert(0, segment.into());
        self
    }

    /// The dotted path of the offending field, e.g. `Whiteboard.Width`.
    pub fn field(&self) -> String {
        self.path.join(".")
    }

    /// The real service's Chinese text for this error, where Tencent documents one: the
    /// "公共错误码" page's solutions pair each English message with its Chinese one (quoted in
    /// teco-project/teco-core `Sources/TecoCore/Errors/TCCommonError.swift`, commit 3b8b2a5):
    /// "The request is missing a required parameter XXX." / "请求缺少必传参数 XXX。" and
    /// "The value type of parameter `xxx` is not valid, input value is `yyy`." / "参数 `xxx`
    /// 取值类型错误。传入值 `yyy`。". `None` for the others: their texts carry our own detail.
    pub fn zh_cn(&self) -> Option<String> {
        let field = self.field();
        match &self.kind {
            ParamErrorKind::Missing => Some(format!("请求缺少必传参数 `{field}`。")),
            ParamErrorKind::InvalidType { input: None } => Some(format!("参数 `{field}` 取值类型错误。")),
            ParamErrorKind::InvalidType { input: Some(input) } => {
                Some(format!("参数 `{field}` 取值类型错误。传入值 `{input}`。"))
            }
            ParamErrorKind::Repeated => Some(format!("参数 `{field}` 重复输入。")),
            // Tencent's own wording, "是非法是" included.
            ParamErrorKind::ArrayIndex => {
                Some(format!("参数 `{field}` 是非法是数组格式，数组下标必须是连续的而且从0下标开始。"))
            }
            ParamErrorKind::Unknown | ParamErrorKind::InvalidValue { .. } | ParamErrorKind::Malformed { .. } => None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self.kind {
            ParamErrorKind::Missing => ErrorCode::MissingParameter,
            ParamErrorKind::Unknown => ErrorCode::UnknownParameter,
            ParamErrorKind::InvalidType { .. }
            | ParamErrorKind::Repeated
            | ParamErrorKind::ArrayIndex
            | ParamErrorKind::Malformed { .. } => ErrorCode::InvalidParameter,
            ParamErrorKind::InvalidValue { .. } => ErrorCode::InvalidParameterValue,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        match &self.kind {
            ParamErrorKind::Missing => write!(f, "The request is missing a required parameter `{field}`."),
            ParamErrorKind::Unknown => write!(f, "The parameter `{field}` is not recognized."),
            ParamErrorKind::InvalidType { input: None } => {
                write!(f, "The value type of parameter `{field}` is not valid.")
            }
            ParamErrorKind::InvalidType { input: Some(input) } => {
                write!(f, "The value type of parameter `{field}` is not valid, input value is `{input}`.")
            }
            ParamErrorKind::InvalidValue { detail } => {
                write!(f, "The value of the parameter `{field}` is invalid: {detail}.")
            }
            ParamErrorKind::Repeated => write!(f, "Parameter `{field}` input repeated."),
            ParamErrorKind::ArrayIndex => {
                write!(f, "Parameter `{field}` invalid array format, array index must be continuous and starts with 0.")
            }
            ParamErrorKind::Malformed { detail } if field.is_empty() => {
                write!(f, "The request parameters are malformed: {detail}.")
            }
            ParamErrorKind::Malformed { detail } => write!(f, "The parameter `{field}` is malformed: {detail}."),
        }
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ParamErrorKind::InvalidValue { detail: msg.to_string() })
    }

    /// The real service's wording names the value given, not the type expected.
    fn invalid_type(unexp: Unexpected<'_>, _expected: &dyn de::Expected) -> Self {
        let input = match unexp {
            Unexpected::Str(text) => Some(text.chars().take(QUOTED_KEY_CHARS).collect()),
            Unexpected::Bool(b) => Some(b.to_string()),
            Unexpected::Signed(i) => Some(i.to_string()),
            Unexpected::Unsigned(u) => Some(u.to_string()),
            Unexpected::Float(x) => Some(x.to_string()),
            _ => None,
        };
        Self::new(ParamErrorKind::InvalidType { input })
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(ParamErrorKind::InvalidValue { detail: format!("expected {exp}, got {unexp}") })
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self::new(ParamErrorKind::InvalidValue { detail: format!("expected {exp}, got {len} elements") })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(ParamErrorKind::InvalidValue { detail: format!("`{variant}` is not one of {}", expected.join(", ")) })
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        Self { kind: ParamErrorKind::Unknown, path: vec![field.to_owned()] }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::missing(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self { kind: ParamErrorKind::Repeated, path: vec![field.to_owned()] }
    }
}

/// Decodes a request from its parameter tree (a JSON object, or the result of [`unflatten`]).
pub fn decode<T: DeserializeOwned>(params: &Value, encoding: Encoding) -> Result<T, ParamError> {
    T::deserialize(ValueDeserializer { value: params, encoding })
}

/// Deepest nesting of an action's parameters, in flattened key segments (`Filters.0.Values.0`
/// is 4) or JSON levels (the body object is level 1). Tencent's deepest documented parameters
/// are 4 or 5 levels deep; every recursion over parameters is bounded by this before it starts.
pub const MAX_DEPTH: usize = 32;
/// Most pairs one flattened (query or form) request may carry.
pub const MAX_FLATTENED_PARAMS: usize = 10_000;
/// Longest flattened parameter name, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most name segments over all pairs of one flattened request: each segment can become a map
/// of the tree, so this (not pairs × depth) bounds the tree's size.
pub const MAX_FLATTENED_SEGMENTS: usize = 4 * MAX_FLATTENED_PARAMS;
/// Most values (scalars, arrays, objects) one JSON body may hold; counted on the raw bytes
/// before parsing, so a 10 MB body of `[0,0,0,…]` is refused before it becomes millions of values.
pub const MAX_JSON_VALUES: usize = 100_000;
/// How much of an offending name an error message repeats.
const QUOTED_KEY_CHARS: usize = 64;

/// Builds the parameter tree of flattened pairs: `A.B=1` nests, an all-digit segment is a list
/// index (`ImageUrls.0.ImageFile`). Values stay strings; [`decode`] coerces them.
///
/// Errors (`Malformed`, i.e. `InvalidParameter`): more than [`MAX_FLATTENED_PARAMS`] pairs, a
/// name longer than [`MAX_KEY_BYTES`] or deeper than [`MAX_DEPTH`], an empty segment, a name
/// both as a value and as a parent; `Repeated`, a name given twice; `ArrayIndex`, list indices
/// with gaps.
pub fn unflatten<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Value, ParamError> {
    let mut root = Map::new();
    let mut segments_seen = 0usize;
    for (count, (key, value)) in pairs.into_iter().enumerate() {
        if count >= MAX_FLATTENED_PARAMS {
            return Err(ParamError::new(ParamErrorKind::Malformed {
                detail: format!("a request may carry at most {MAX_FLATTENED_PARAMS} parameters"),
            }));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(malformed(key, &format!("a parameter name may be at most {MAX_KEY_BYTES} bytes long")));
        }
        // Counted before splitting, so the depth bound holds before any recursion.
        if key.bytes().filter(|&b| b == b'.').count() >= MAX_DEPTH {
            return Err(malformed(key, &format!("parameters nest at most {MAX_DEPTH} levels deep")));
        }
        segments_seen += key.bytes().filter(|&b| b == b'.').count() + 1;
        if segments_seen > MAX_FLATTENED_SEGMENTS {
            return Err(ParamError::new(ParamErrorKind::Malformed {
                detail: format!(
                    "the parameter names of a request may hold at most {MAX_FLATTENED_SEGMENTS} segments in all"
                ),
            }));
        }
        let segments: Vec<&str> = key.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(malformed(key, "empty name segment"));
        }
        insert_path(&mut root, &segments, value, key)?;
    }
    lists_from_indices(Value::Object(root), "")
}

/// Checks that a parameter tree (a parsed JSON body) nests at most [`MAX_DEPTH`] levels, without
/// recursing, so that decoding it stays within the stack. Error: `Malformed`.
pub fn check_depth(value: &Value) -> Result<(), ParamError> {
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > MAX_DEPTH {
            return Err(ParamError::new(ParamErrorKind::Malformed {
                detail: format!("parameters nest at most {MAX_DEPTH} levels deep"),
            }));
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// Refuses a JSON text of more than [`MAX_JSON_VALUES`] values before it is parsed: counts the
/// separators and openings outside strings, an upper bound of the values they delimit.
/// Error: `Malformed`.
pub fn check_json_size(text: &[u8]) -> Result<(), ParamError> {
    let (mut values, mut in_string, mut escaped) = (1usize, false, false);
    for &byte in text {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b',' | b'[' | b'{') => values += 1,
            (false, _, _) => {}
        }
        if values > MAX_JSON_VALUES {
            return Err(ParamError::new(ParamErrorKind::Malformed {
                detail: format!("a JSON body may hold at most {MAX_JSON_VALUES} values"),
            }));
        }
    }
    Ok(())
}

fn malformed(key: &str, detail: &str) -> ParamError {
    located(key, ParamErrorKind::Malformed { detail: detail.into() })
}

fn located(key: &str, kind: ParamErrorKind) -> ParamError {
    // A hostile name can be kilobytes long: the message quotes its start only.
    let quoted = match key.char_indices().nth(QUOTED_KEY_CHARS) {
        Some((cut, _)) => format!("{}…", &key[..cut]),
        None => key.to_owned(),
    };
    ParamError { kind, path: vec![quoted] }
}

fn insert_path(node: &mut Map<String, Value>, segments: &[&str], value: &str, key: &str) -> Result<(), ParamError> {
    let (first, rest) = segments.split_first().expect("split yields at least one segment");
    if rest.is_empty() {
        return match node.insert((*first).to_owned(), Value::String(value.to_owned())) {
            None => Ok(()),
            Some(Value::String(_)) => Err(located(key, ParamErrorKind::Repeated)),
            Some(_) => Err(malformed(key, "it is given both as a value and as a parent")),
        };
    }
    let child = node.entry((*first).to_owned()).or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(map) => insert_path(map, rest, value, key),
        _ => Err(malformed(key, "it is given both as a value and as a parent")),
    }
}

/// Objects whose keys are all list indices become arrays ordered by index; indices must run
/// 0..n without gaps, as every SDK emits them.
fn lists_from_indices(value: Value, path: &str) -> Result<Value, ParamError> {
    let Value::Object(map) = value else {
        return Ok(value);
    };
    let is_list = !map.is_empty() && map.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit()));
    let child_path = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
    if is_list {
        let mut items: Vec<(usize, Value)> = Vec::with_capacity(map.len());
        for (k, v) in map {
            let index = k.parse::<usize>().map_err(|_| malformed(&child_path(&k), "list index too large"))?;
            items.push((index, lists_from_indices(v, &child_path(&k))?));
        }
        items.sort_by_key(|(i, _)| *i);
        if items.iter().enumerate().any(|(pos, (i, _))| pos != *i) {
            return Err(located(path, ParamErrorKind::ArrayIndex));
        }
        return Ok(Value::Array(items.into_iter().map(|(_, v)| v).collect()));
    }
    let mut out = Map::new();
    for (k, v) in map {
        let converted = lists_from_indices(v, &child_path(&k))?;
        out.insert(k, converted);
    }
    Ok(Value::Object(out))
}

struct ValueDeserializer<'a> {
    value: &'a Value,
    encoding: Encoding,
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'a> ValueDeserializer<'a> {
    fn wrong_type<V>(&self, exp: &dyn de::Expected) -> Result<V, ParamError> {
        Err(de::Error::invalid_type(unexpected(self.value), exp))
    }

    /// A flattened scalar parsed as a JSON number, so that integer range checks happen in the
    /// primitive visitors exactly as for a JSON body.
    fn flattened_number(&self, text: &str) -> Option<Number> {
        let text = text.trim();
        if let Ok(u) = text.parse::<u64>() {
            return Some(u.into());
        }
        if let Ok(i) = text.parse::<i64>() {
            return Some(i.into());
        }
        text.parse::<f64>().ok().and_then(Number::from_f64)
    }

    fn visit_number<'de, V: Visitor<'de>>(&self, n: &Number, visitor: V) -> Result<V::Value, ParamError> {
        if let Some(u) = n.as_u64() {
            visitor.visit_u64(u)
        } else if let Some(i) = n.as_i64() {
            visitor.visit_i64(i)
        } else {
            visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    fn deserialize_number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match (self.value, self.encoding) {
            (Value::Number(n), _) => self.visit_number(n, visitor),
            (Value::String(s), Encoding::Flattened) => match self.flattened_number(s) {
                Some(n) => self.visit_number(&n, visitor),
                None => self.wrong_type(&visitor),
            },
            _ => self.wrong_type(&visitor),
        }
    }
}

macro_rules! forward_to_number {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
            self.deserialize_number(visitor)
        })*
    };
}

impl<'de, 'a> de::Deserializer<'de> for ValueDeserializer<'a> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => self.visit_number(n, visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => {
                visitor.visit_seq(SeqAccess { items: items.iter(), index: 0, encoding: self.encoding })
            }
            Value::Object(map) => visitor.visit_map(MapAccess {
                entries: map.iter(),
                pending: None,
                encoding: self.encoding,
                absent_when_null: &[],
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match (self.value, self.encoding) {
            (Value::Bool(b), _) => visitor.visit_bool(*b),
            (Value::String(s), Encoding::Flattened) if s.eq_ignore_ascii_case("true") => visitor.visit_bool(true),
            (Value::String(s), Encoding::Flattened) if s.eq_ignore_ascii_case("false") => visitor.visit_bool(false),
            _ => self.wrong_type(&visitor),
        }
    }

    forward_to_number! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::String(s) => visitor.visit_str(s),
            _ => self.wrong_type(&visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => self.wrong_type(&visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Array(items) => {
                visitor.visit_seq(SeqAccess { items: items.iter(), index: 0, encoding: self.encoding })
            }
            _ => self.wrong_type(&visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Object(map) => visitor.visit_map(MapAccess {
                entries: map.iter(),
                pending: None,
                encoding: self.encoding,
                absent_when_null: &[],
            }),
            _ => self.wrong_type(&visitor),
        }
    }

    /// A declared member sent as `null` is absent, whatever its type: the Java SDK's
    /// `CommonRequest` and hand-built bodies send optional members that way. An undeclared one
    /// is still unknown.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        match self.value {
            Value::Object(map) => visitor.visit_map(MapAccess {
                entries: map.iter(),
                pending: None,
                encoding: self.encoding,
                absent_when_null: fields,
            }),
            _ => self.wrong_type(&visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        match self.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => self.wrong_type(&visitor),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
    encoding: Encoding,
}

impl<'de, 'a> de::SeqAccess<'de> for SeqAccess<'a> {
    type Error = ParamError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, ParamError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer { value, encoding: self.encoding })
            .map(Some)
            .map_err(|e| e.within(index.to_string()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
    encoding: Encoding,
    /// Members skipped when their value is `null` (a struct's declared fields).
    absent_when_null: &'static [&'static str],
}

impl<'de, 'a> de::MapAccess<'de> for MapAccess<'a> {
    type Error = ParamError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ParamError> {
        let Some((key, value)) =
            self.entries.find(|(key, value)| !(value.is_null() && self.absent_when_null.contains(&key.as_str())))
        else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        let key_deserializer: de::value::StrDeserializer<'_, ParamError> = key.as_str().into_deserializer();
        seed.deserialize(key_deserializer).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ParamError> {
        let (key, value) = self.pending.take().expect("serde asks for a value only after its key");
        seed.deserialize(ValueDeserializer { value, encoding: self.encoding }).map_err(|e| e.within(key.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Values")]
        values: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Board {
        #[serde(rename = "Width")]
        width: Option<u32>,
        #[serde(rename = "InitParams")]
        init_params: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Mode {
        AllMarks,
        LatestMarksOnly,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(rename = "SdkAppId")]
        sdk_app_id: u64,
        #[serde(rename = "Filters", default)]
        filters: Vec<Filter>,
        #[serde(rename = "Whiteboard")]
        whiteboard: Option<Board>,
        #[serde(rename = "Sync")]
        sync: Option<bool>,
        #[serde(rename = "Mode")]
        mode: Option<Mode>,
    }

    fn flat(query: &[(&str, &str)]) -> Result<Request, ParamError> {
        decode(&unflatten(query.iter().copied())?, Encoding::Flattened)
    }

    fn json(value: Value) -> Result<Request, ParamError> {
        decode(&value, Encoding::Json)
    }

    #[test]
    fn flattened_form_decodes_like_json() {
        let from_flat = flat(&[
            ("Filters.0.Values.0", "21"),
            ("Filters.0.Name", "task-id"),
            ("SdkAppId", "1400127230"),
            ("Whiteboard.Width", "1280"),
            ("Whiteboard.InitParams", "{\"ratio\":\"16:9\"}"),
            ("Sync", "True"),
            ("Mode", "LatestMarksOnly"),
        ])
        .unwrap();
        let from_json = json(json!({
            "Filters": [{"Name": "task-id", "Values": ["21"]}],
            "SdkAppId": 1400127230,
            "Whiteboard": {"Width": 1280, "InitParams": "{\"ratio\":\"16:9\"}"},
            "Sync": true,
            "Mode": "LatestMarksOnly"
        }))
        .unwrap();
        assert_eq!(from_flat, from_json);
    }

    #[test]
    fn flattened_booleans_ignore_case() {
        for text in ["true", "True", "TRUE"] {
            assert_eq!(flat(&[("SdkAppId", "1"), ("Sync", text)]).unwrap().sync, Some(true));
        }
        assert_eq!(flat(&[("SdkAppId", "1"), ("Sync", "False")]).unwrap().sync, Some(false));
    }

    #[test]
    fn list_indices_sort_numerically() {
        let pairs: Vec<(String, String)> =
            (0..12).rev().map(|i| (format!("Filters.0.Values.{i}"), i.to_string())).collect();
        let mut query: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        query.extend([("Filters.0.Name", "task-id"), ("SdkAppId", "1")]);
        let values = &flat(&query).unwrap().filters[0].values;
        assert_eq!(values, &(0..12).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn missing_required_field_is_missing_parameter() {
        let err = json(json!({})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::MissingParameter, "SdkAppId".into()));
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Optional {
        #[serde(rename = "Ids", default)]
        ids: Vec<u64>,
        #[serde(rename = "Sync", default)]
        sync: bool,
        #[serde(rename = "Name")]
        name: Option<String>,
        #[serde(rename = "Required")]
        required: u64,
    }

    #[test]
    fn a_declared_member_sent_as_null_is_absent_whatever_its_type() {
        let decoded: Optional =
            decode(&json!({"Ids": null, "Sync": null, "Name": null, "Required": 1}), Encoding::Json).unwrap();
        assert_eq!(decoded, Optional { ids: Vec::new(), sync: false, name: None, required: 1 });
    }

    #[test]
    fn a_required_member_sent_as_null_is_missing() {
        let err = decode::<Optional>(&json!({"Required": null}), Encoding::Json).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::MissingParameter, "Required".into()));
    }

    #[test]
    fn an_undeclared_member_sent_as_null_is_still_unknown() {
        let err = decode::<Optional>(&json!({"Required": 1, "Extra": null}), Encoding::Json).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnknownParameter);
    }

    #[test]
    fn missing_nested_field_names_its_path() {
        let err = json(json!({"SdkAppId": 1, "Filters": [{"Name": "task-id"}]})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::MissingParameter, "Filters.0.Values".into()));
    }

    #[test]
    fn wrong_type_is_invalid_parameter_naming_the_field() {
        let err = json(json!({"SdkAppId": "abc"})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::InvalidParameter, "SdkAppId".into()));
        assert!(err.to_string().contains("`SdkAppId`"));
    }

    #[test]
    fn wrong_type_answers_the_real_services_texts_quoting_the_value() {
        let err = json(json!({"SdkAppId": "abc"})).unwrap_err();
        assert_eq!(err.to_string(), "The value type of parameter `SdkAppId` is not valid, input value is `abc`.");
        assert_eq!(err.zh_cn().as_deref(), Some("参数 `SdkAppId` 取值类型错误。传入值 `abc`。"));
        let err = json(json!({"SdkAppId": {"a": 1}})).unwrap_err();
        assert_eq!(err.to_string(), "The value type of parameter `SdkAppId` is not valid.");
        let long = "x".repeat(1000);
        let err = json(json!({ "SdkAppId": long })).unwrap_err();
        assert!(err.to_string().len() < 200, "the message quotes the start of the value only");
    }

    #[test]
    fn missing_answers_the_real_services_texts() {
        let err = ParamError::missing("TaskID");
        assert_eq!(err.to_string(), "The request is missing a required parameter `TaskID`.");
        assert_eq!(err.zh_cn().as_deref(), Some("请求缺少必传参数 `TaskID`。"));
    }

    #[test]
    fn json_numbers_in_strings_are_a_wrong_type() {
        let err = json(json!({"SdkAppId": "1400127230"})).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
    }

    #[test]
    fn unparsable_flattened_integer_is_invalid_parameter() {
        let err = flat(&[("SdkAppId", "12x")]).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::InvalidParameter, "SdkAppId".into()));
    }

    #[test]
    fn unknown_field_is_unknown_parameter() {
        let err = json(json!({"SdkAppId": 1, "Whiteboard": {"Depth": 3}})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::UnknownParameter, "Whiteboard.Depth".into()));
    }

    #[test]
    fn out_of_range_integer_is_invalid_parameter_value() {
        let err = json(json!({"SdkAppId": 1, "Whiteboard": {"Width": 5_000_000_000u64}})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::InvalidParameterValue, "Whiteboard.Width".into()));
    }

    #[test]
    fn unknown_enum_value_is_invalid_parameter_value() {
        let err = json(json!({"SdkAppId": 1, "Mode": "Sometimes"})).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::InvalidParameterValue, "Mode".into()));
        assert!(err.to_string().contains("AllMarks"));
    }

    #[test]
    fn gaps_in_list_indices_are_rejected() {
        let err = flat(&[("SdkAppId", "1"), ("Filters.0.Name", "a"), ("Filters.0.Values.1", "x")]).unwrap_err();
        assert_eq!((err.code(), err.field()), (ErrorCode::InvalidParameter, "Filters.0.Values".into()));
    }

    #[test]
    fn gaps_and_repeats_answer_the_real_services_texts() {
        let err = flat(&[("Filters.0.Name", "a"), ("Filters.2.Name", "b")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameter `Filters` invalid array format, array index must be continuous and starts with 0."
        );
        assert_eq!(
            err.zh_cn().as_deref(),
            Some("参数 `Filters` 是非法是数组格式，数组下标必须是连续的而且从0下标开始。")
        );
        let err = flat(&[("TaskId", "1"), ("TaskId", "2")]).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string()),
            (ErrorCode::InvalidParameter, "Parameter `TaskId` input repeated.".into())
        );
        assert_eq!(err.zh_cn().as_deref(), Some("参数 `TaskId` 重复输入。"));
    }

    #[test]
    fn a_key_used_as_value_and_parent_is_rejected() {
        let err = flat(&[("Whiteboard", "1"), ("Whiteboard.Width", "2")]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
    }

    fn deep_key(levels: usize) -> String {
        vec!["a"; levels].join(".")
    }

    #[test]
    fn a_key_of_6000_segments_is_malformed_without_recursing() {
        let key = deep_key(6000);
        let err = unflatten([(key.as_str(), "1")]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
        assert!(err.to_string().len() < 300, "the message quotes the start of the name only");
    }

    #[test]
    fn keys_nest_at_most_max_depth_levels() {
        let deepest = deep_key(MAX_DEPTH);
        assert!(unflatten([(deepest.as_str(), "1")]).is_ok());
        let deeper = deep_key(MAX_DEPTH + 1);
        let err = unflatten([(deeper.as_str(), "1")]).unwrap_err();
        assert!(err.to_string().contains("32 levels"), "{err}");
    }

    #[test]
    fn a_name_longer_than_max_key_bytes_is_malformed() {
        let long = "n".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(unflatten([(long.as_str(), "1")]).unwrap_err().code(), ErrorCode::InvalidParameter);
    }

    #[test]
    fn more_than_max_flattened_params_are_malformed() {
        let keys: Vec<String> = (0..=MAX_FLATTENED_PARAMS).map(|i| format!("p{i}")).collect();
        let err = unflatten(keys.iter().map(|k| (k.as_str(), "1"))).unwrap_err();
        assert!(err.to_string().contains("at most 10000 parameters"), "{err}");
    }

    #[test]
    fn json_trees_deeper_than_max_depth_are_malformed() {
        let mut value = json!(1);
        for _ in 0..MAX_DEPTH {
            value = json!({ "a": value });
        }
        assert!(check_depth(&value).is_ok(), "{MAX_DEPTH} objects around a scalar are within the bound");
        let deeper = json!([value]);
        assert_eq!(check_depth(&deeper).unwrap_err().code(), ErrorCode::InvalidParameter);
    }

    #[test]
    fn names_hold_at_most_max_flattened_segments_in_all() {
        let keys: Vec<String> = (0..MAX_FLATTENED_PARAMS).map(|i| format!("k{i}.{}", deep_key(10))).collect();
        let err = unflatten(keys.iter().map(|k| (k.as_str(), "1"))).unwrap_err();
        assert!(err.to_string().contains("segments in all"), "{err}");
    }

    #[test]
    fn json_bodies_hold_at_most_max_json_values() {
        let within = format!("{{\"a\":[{}0]}}", "0,".repeat(MAX_JSON_VALUES - 3));
        assert!(check_json_size(within.as_bytes()).is_ok());
        let beyond = format!("{{\"a\":[{}0]}}", "0,".repeat(MAX_JSON_VALUES));
        assert_eq!(check_json_size(beyond.as_bytes()).unwrap_err().code(), ErrorCode::InvalidParameter);
    }

    #[test]
    fn separators_inside_strings_are_not_values() {
        let text = format!("{{\"a\":\"{}\\\"{}\"}}", ",".repeat(MAX_JSON_VALUES), "[".repeat(MAX_JSON_VALUES));
        assert!(check_json_size(text.as_bytes()).is_ok());
    }
}
