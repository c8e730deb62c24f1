//! A whole API request as the gateway reads it (method, query, headers, body) → `parse`: every
//! input is answered with a parsed request or a refusal, never a panic or a stack overflow.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use taskgate::gateway::request::parse;

fuzz_target!(|data: &[u8]| {
    // Layout: 1 byte method, then `query \n header-lines \n\n body` (lines `name: value`).
    let Some((&selector, rest)) = data.split_first() else { return };
    let method = match selector % 3 {
        0 => Method::GET,
        1 => Method::POST,
        _ => Method::PUT,
    };
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let (query, header_lines) = head.split_once('\n').unwrap_or((head, ""));
    let Ok(uri) = format!("/?{query}").parse::<Uri>() else { return };
    let mut headers = HeaderMap::new();
    for line in header_lines.lines() {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (HeaderName::try_from(name.trim()), HeaderValue::from_str(value.trim()))
        {
            headers.append(name, value);
        }
    }
    let _ = parse(&method, &uri, &headers, body.as_bytes());
});
