//! `Filters`, `By` and `Order` of the asset lists (DescribeAssetHostList,
//! DescribeAssetContainerList, DescribeAssetImageList), as tccli's `api.json` (tcss 2020-11-01)
//! documents them: a filter names an answer member (or a derived fact), its `Values` are OR-ed
//! and matched case-insensitively as substrings unless `ExactMatch`; several filters are AND-ed.
//! `By` sorts by any member of the answer's items, `Order` is `asc` (default) or `desc`.

use crate::action::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// `AssetFilters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct AssetFilter {
    pub name: String,
    pub values: Vec<String>,
    pub exact_match: Option<bool>,
}

/// How a documented filter name reads an item.
#[derive(Debug, Clone, Copy)]
pub(super) enum Test {
    /// Matches the item's member (JSON name) against the values.
    Member(&'static str),
    /// `Status` of hosts: `ONLINE` is a running host; `ALL` matches all.
    HostStatus,
    /// `DockerStatus`: `INSTALL` when the host reports a Docker version, `UNINSTALL` otherwise.
    DockerStatus,
    /// `NonClusterNode`: `true` for a host outside every cluster.
    NonClusterNode,
    /// `Tag:<key>`: a host tag of that key with one of the values (taskgate hosts carry none).
    Tag,
    /// `SecurityRisk` of images: any of the named counts above zero (or `IsTrustImage`).
    SecurityRisk,
    /// `OrderBy` of containers: `["cpu_usage" | "mem_usage", "+" | "-"]`, a sort, not a filter.
    OrderBy,
}

/// The documented filter names of one list and what each tests.
pub(super) type Vocabulary = &'static [(&'static str, Test)];

pub(super) const HOST_FILTERS: Vocabulary = &[
    ("Status", Test::HostStatus),
    ("HostName", Test::Member("HostName")),
    ("Group", Test::Member("Group")),
    ("HostIP", Test::Member("HostIP")),
    ("HostID", Test::Member("HostID")),
    ("DockerVersion", Test::Member("DockerVersion")),
    ("MachineType", Test::Member("MachineType")),
    ("DockerStatus", Test::DockerStatus),
    ("ProjectID", Test::Member("ProjectID")),
    ("NonClusterNode", Test::NonClusterNode),
    ("Tag", Test::Tag),
];

pub(super) const CONTAINER_FILTERS: Vocabulary = &[
    ("ContainerName", Test::Member("ContainerName")),
    ("Status", Test::Member("Status")),
    ("Runas", Test::Member("RunAs")),
    ("ImageName", Test::Member("ImageName")),
    ("HostIP", Test::Member("HostIP")),
    ("OrderBy", Test::OrderBy),
    ("NetStatus", Test::Member("NetStatus")),
    ("PodID", Test::Member("POD")),
    ("NodeUniqueID", Test::Member("NodeUniqueID")),
    ("PodUid", Test::Member("PodUid")),
    ("PodIP", Test::Member("PodIP")),
    ("NodeType", Test::Member("NodeType")),
];

pub(super) const IMAGE_FILTERS: Vocabulary = &[
    ("ImageName", Test::Member("ImageName")),
    ("ScanStatus", Test::Member("ScanStatus")),
    ("ImageID", Test::Member("ImageID")),
    ("SecurityRisk", Test::SecurityRisk),
];

/// What a list request asks beyond paging.
pub(super) struct Query<'a> {
    pub filters: &'a [AssetFilter],
    pub by: Option<&'a str>,
    pub order: Option<&'a str>,
}

/// The items that pass every filter, sorted as asked.
pub(super) fn apply<T: Serialize>(
    items: Vec<T>,
    query: &Query<'_>,
    vocabulary: Vocabulary,
) -> Result<Vec<T>, ApiError> {
    let tests = query
        .filters
        .iter()
        .enumerate()
        .map(|(index, filter)| test_of(index, filter, vocabulary))
        .collect::<Result<Vec<_>, _>>()?;
    let descending = match query.order.filter(|o| !o.is_empty()) {
        None => false,
        Some(order) if order.eq_ignore_ascii_case("asc") => false,
        Some(order) if order.eq_ignore_ascii_case("desc") => true,
        Some(other) => return Err(ApiError::invalid_value("Order", format!("must be asc or desc, got `{other}`"))),
    };
    let mut kept: Vec<(Value, T)> = Vec::with_capacity(items.len());
    for item in items {
        let value = serde_json::to_value(&item).map_err(ApiError::internal)?;
        if tests.iter().all(|(test, filter)| passes(*test, filter, &value)) {
            kept.push((value, item));
        }
    }
    if let Some(by) = query.by.filter(|b| !b.is_empty()) {
        if kept.first().is_some_and(|(value, _)| value.get(by).is_none()) {
            return Err(ApiError::invalid_value("By", format!("`{by}` is not a member of the listed items")));
        }
        kept.sort_by(|(a, _), (b, _)| ordered(a.get(by), b.get(by), descending));
    }
    for (test, filter) in &tests {
        if let Test::OrderBy = test {
            let member = match filter.values.first().map(String::as_str) {
                Some("mem_usage") => "RamUsage",
                _ => "CPUUsage",
            };
            let descending = filter.values.get(1).is_some_and(|sign| sign == "-");
            kept.sort_by(|(a, _), (b, _)| ordered(a.get(member), b.get(member), descending));
        }
    }
    Ok(kept.into_iter().map(|(_, item)| item).collect())
}

fn test_of(index: usize, filter: &AssetFilter, vocabulary: Vocabulary) -> Result<(Test, &AssetFilter), ApiError> {
    if filter.values.is_empty() {
        return Err(ApiError::missing(&format!("Filters.{index}.Values")));
    }
    // `Tag:<key>` carries the tag key in the name.
    let name = if filter.name.starts_with("Tag:") { "Tag" } else { filter.name.as_str() };
    match vocabulary.iter().find(|(documented, _)| *documented == name) {
        Some((_, test)) => Ok((*test, filter)),
        None => {
            let names: Vec<&str> = vocabulary.iter().map(|(name, _)| *name).collect();
            Err(ApiError::new(
                tcapi::ErrorCode::InvalidParameter,
                format!(
                    "The filter name `{}` of `Filters.{index}.Name` is not supported: use {}.",
                    filter.name,
                    names.join(", ")
                ),
            ))
        }
    }
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn matches(filter: &AssetFilter, actual: &str) -> bool {
    let exact = filter.exact_match.unwrap_or(false);
    filter
        .values
        .iter()
        .any(|wanted| if exact { actual == wanted } else { actual.to_lowercase().contains(&wanted.to_lowercase()) })
}

fn passes(test: Test, filter: &AssetFilter, item: &Value) -> bool {
    let wants = |word: &str| filter.values.iter().any(|v| v.eq_ignore_ascii_case(word));
    match test {
        Test::Member(member) => {
            wants("ALL") || matches(filter, &text(item.get(member).or_else(|| nested(item, member))))
        }
        Test::HostStatus => {
            let status = text(item.get("Status"));
            wants("ALL") || (wants("ONLINE") && status == "ONLINE") || (wants("OFFLINE") && status == "OFFLINE")
        }
        Test::DockerStatus => {
            let installed = !text(item.get("DockerVersion")).is_empty();
            wants("ALL") || (wants("INSTALL") && installed) || (wants("UNINSTALL") && !installed)
        }
        Test::NonClusterNode => {
            let outside = text(item.get("ClusterID")).is_empty();
            (wants("true") && outside) || (wants("false") && !outside)
        }
        Test::Tag => {
            let key = filter.name.trim_start_matches("Tag:").trim();
            item.get("Tags").and_then(Value::as_array).is_some_and(|tags| {
                tags.iter().any(|tag| text(tag.get("TagKey")) == key && matches(filter, &text(tag.get("TagValue"))))
            })
        }
        Test::SecurityRisk => filter.values.iter().any(|risk| {
            let member = if risk.ends_with("LevelVul") { format!("{risk}Cnt") } else { risk.clone() };
            match item.get(&member) {
                Some(Value::Bool(flag)) => *flag,
                Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n > 0),
                _ => false,
            }
        }),
        Test::OrderBy => true,
    }
}

/// A member inside a member (`ProjectID` inside `Project`).
fn nested<'v>(item: &'v Value, member: &str) -> Option<&'v Value> {
    item.as_object()?.values().find_map(|inner| inner.as_object()?.get(member))
}

fn ordered(a: Option<&Value>, b: Option<&Value>, descending: bool) -> Ordering {
    let order = match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        _ => text(a).cmp(&text(b)),
    };
    if descending { order.reverse() } else { order }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(name: &str, values: &[&str], exact: Option<bool>) -> AssetFilter {
        AssetFilter { name: name.into(), values: values.iter().map(|v| (*v).to_owned()).collect(), exact_match: exact }
    }

    fn hosts() -> Vec<Value> {
        vec![
            json!({"HostName": "build-1", "HostID": "h1", "Status": "ONLINE", "DockerVersion": "", "ClusterID": "",
                   "CoresCnt": 8, "Project": {"ProjectID": 0}, "Tags": []}),
            json!({"HostName": "web-2", "HostID": "cls-a-web-2", "Status": "OFFLINE", "DockerVersion": "27.1",
                   "ClusterID": "cls-a", "CoresCnt": 2, "Project": {"ProjectID": 0}, "Tags": []}),
        ]
    }

    fn names(filters: &[AssetFilter], by: Option<&str>, order: Option<&str>) -> Result<Vec<String>, ApiError> {
        let query = Query { filters, by, order };
        Ok(apply(hosts(), &query, HOST_FILTERS)?.iter().map(|h| text(h.get("HostName"))).collect())
    }

    #[test]
    fn each_documented_host_filter_selects_as_documented() {
        let cases: &[(AssetFilter, &[&str])] = &[
            (filter("HostName", &["BUILD"], None), &["build-1"]),
            (filter("HostName", &["build"], Some(true)), &[]),
            (filter("HostName", &["build-1", "web-2"], Some(true)), &["build-1", "web-2"]),
            (filter("Status", &["ONLINE"], None), &["build-1"]),
            (filter("Status", &["ALL"], None), &["build-1", "web-2"]),
            (filter("DockerStatus", &["INSTALL"], None), &["web-2"]),
            (filter("NonClusterNode", &["true"], None), &["build-1"]),
            (filter("ProjectID", &["0"], Some(true)), &["build-1", "web-2"]),
            (filter("Tag:team", &["ops"], None), &[]),
        ];
        for (filter, expected) in cases {
            let got = names(std::slice::from_ref(filter), None, None).unwrap();
            assert_eq!(got, *expected, "{filter:?}");
        }
    }

    #[test]
    fn by_and_order_sort_by_any_member() {
        assert_eq!(names(&[], Some("CoresCnt"), None).unwrap(), ["web-2", "build-1"]);
        assert_eq!(names(&[], Some("CoresCnt"), Some("desc")).unwrap(), ["build-1", "web-2"]);
    }

    #[test]
    fn an_unknown_filter_name_or_sort_is_refused_naming_it() {
        let err = names(&[filter("Colour", &["red"], None)], None, None).unwrap_err();
        assert!(err.message.contains("`Filters.0.Name`"), "{}", err.message);
        assert!(names(&[], Some("Colour"), None).unwrap_err().message.contains("`By`"));
        assert!(names(&[], None, Some("sideways")).unwrap_err().message.contains("`Order`"));
    }
}
