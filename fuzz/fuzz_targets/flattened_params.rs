//! Query/form pairs → `unflatten` → `decode` into a typed request: never a panic or an overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use tcapi::params::{Encoding, decode, unflatten};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Filter {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Values")]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Request {
    #[serde(rename = "Limit")]
    limit: Option<u64>,
    #[serde(rename = "Offset")]
    offset: Option<i64>,
    #[serde(rename = "Filters", default)]
    filters: Vec<Filter>,
    #[serde(rename = "Sync")]
    sync: Option<bool>,
}

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if let Ok(tree) = unflatten(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        let _ = decode::<Request>(&tree, Encoding::Flattened);
    }
});
