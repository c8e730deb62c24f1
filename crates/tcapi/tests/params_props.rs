//! Properties of the flattened-key decoder: whatever pairs a client sends, `unflatten` and
//! `decode` answer (never panic, never recurse past the depth bound), and a tree flattened the
//! way the SDKs do comes back unchanged.

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use tcapi::params::{Encoding, MAX_DEPTH, check_depth, decode, unflatten};

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Filter {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Values")]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Request {
    #[serde(rename = "Limit")]
    limit: Option<u64>,
    #[serde(rename = "Filters", default)]
    filters: Vec<Filter>,
    #[serde(rename = "Sync")]
    sync: Option<bool>,
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Keys made of the characters that matter to the decoder: dots, digits, names, empties.
fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof!["[0-9]{1,2}", "[A-Za-z]{1,6}", Just(String::new())], 1..40)
        .prop_map(|segments| segments.join("."))
}

/// A parameter tree as the SDKs flatten it: objects of named members, lists, string leaves.
fn tree() -> impl Strategy<Value = Value> {
    let leaf = "[a-z0-9 %&=.]{0,8}".prop_map(Value::String);
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Z][a-z]{0,5}", inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") }
    };
    match value {
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| flatten(&join(&i.to_string()), v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

proptest! {
    #[test]
    fn unflatten_answers_every_input_within_the_depth_bound(
        pairs in prop::collection::vec((key(), "[a-z0-9]{0,4}"), 0..30)
    ) {
        if let Ok(tree) = unflatten(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            prop_assert!(depth(&tree) <= MAX_DEPTH);
            prop_assert!(check_depth(&tree).is_ok());
            let _ = decode::<Request>(&tree, Encoding::Flattened);
        }
    }

    #[test]
    fn a_flattened_tree_unflattens_to_itself(fields in prop::collection::btree_map("[A-Z][a-z]{0,5}", tree(), 1..4)) {
        let original = Value::Object(fields.into_iter().collect());
        let mut pairs = Vec::new();
        flatten("", &original, &mut pairs);
        let rebuilt = unflatten(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        prop_assert_eq!(rebuilt, original);
    }

    #[test]
    fn check_depth_agrees_with_a_recursive_count(value in tree()) {
        prop_assert_eq!(check_depth(&value).is_ok(), depth(&value) <= MAX_DEPTH);
    }

    #[test]
    fn decode_answers_every_json_tree(value in tree()) {
        let _ = decode::<Request>(&value, Encoding::Json);
        let _ = decode::<Request>(&value, Encoding::Flattened);
    }
}
