//! Wire conventions shared by the products' requests and responses.

/// Tencent's `YYYY-MM-DD HH:MM:SS` timestamps are Beijing time (UTC+8), as the real service
/// returns them.
pub fn tencent_datetime(unix_seconds: i64) -> String {
    const BEIJING: time::UtcOffset = match time::UtcOffset::from_hms(8, 0, 0) {
        Ok(offset) => offset,
        Err(_) => panic!("UTC+8 is a valid offset"),
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map(|t| t.to_offset(BEIJING))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Some integer fields are sent as numeric strings even in JSON by the SDKs' own examples.
pub fn u64_or_numeric_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Lenient;
    impl serde::de::Visitor<'_> for Lenient {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an unsigned integer or a string of digits")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(|_| E::invalid_type(serde::de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_any(Lenient)
}
