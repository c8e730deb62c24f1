//! `Filters`, `By` and `Order` of the asset lists (DescribeAssetHostList,
//! DescribeAssetContainerList, DescribeAssetImageList), as tccli's `api.json` (tcss 2020-11-01)
//! documents them: a filter names an answer member (or a derived fact), its `Values` are OR-ed
//! and matched case-insensitively as substrings unless `ExactMatch`; several filters are AND-ed.
//! `By` sorts by any member of the answer's items, `Order` is `asc` (default) or `desc`.

use crate::action::ApiError;
use serde::Deserialize;
use serde_json::Value;

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

/// One list's items as SQL: the members the tables hold, each with the SQL expression that
/// reads it (over the list's tables, text or integer, never NULL), and an item whose other
/// members show the values every item has (what the inventory does not collect).
pub(super) struct Members {
    pub columns: &'static [(&'static str, &'static str)],
    pub constant: Value,
}

impl Members {
    fn column(&self, member: &str) -> Option<&'static str> {
        self.columns.iter().find(|(name, _)| *name == member).map(|(_, sql)| *sql)
    }
}

/// A condition on a list's rows, every value to be bound.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Condition {
    /// The expression equals one of the values.
    In(&'static str, Vec<String>),
    /// The expression, lowercased, contains one of the lowercased values.
    Contains(&'static str, Vec<String>),
    /// A predicate without values (a derived fact such as `DockerStatus`).
    Holds(&'static str),
    /// No row qualifies.
    Nothing,
}

/// A list request as SQL: conditions (AND-ed) and the order, the member's expression and
/// whether descending, before the list's own order (which also breaks ties, as the stable sort
/// of the answers did).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub conditions: Vec<Condition>,
    pub order: Option<(&'static str, bool)>,
}

/// The host list's derived facts as SQL predicates (text, without values) and its status
/// expression.
pub(super) struct HostFacts {
    /// `ONLINE` or `OFFLINE`.
    pub status: &'static str,
    pub docker_installed: &'static str,
    pub docker_missing: &'static str,
    pub outside_clusters: &'static str,
    pub in_a_cluster: &'static str,
}

/// Checks the request against `vocabulary` and `members` and says it as SQL. Filters and sorts
/// on members every item shares are decided here, on the shared value, exactly as on an item.
pub(super) fn plan(
    query: &Query<'_>,
    vocabulary: Vocabulary,
    members: &Members,
    hosts: Option<&HostFacts>,
) -> Result<Plan, ApiError> {
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
    let mut conditions = Vec::new();
    for (test, filter) in tests {
        if let Some(condition) = condition(test, filter, members, hosts) {
            conditions.push(condition);
        }
    }
    let order = match query.by.filter(|b| !b.is_empty()) {
        None => None,
        Some(by) => match members.column(by) {
            Some(sql) => Some((sql, descending)),
            // Every item has the same value: sorting by it keeps the list's order.
            None if members.constant.get(by).is_some() => None,
            None => {
                return Err(ApiError::invalid_value("By", format!("`{by}` is not a member of the listed items")));
            }
        },
    };
    Ok(Plan { conditions, order })
}

/// The condition of one filter; none when every row passes. `OrderBy` of containers sorts by
/// CPU or memory usage, which every container shares (not collected), so it keeps the order.
fn condition(test: Test, filter: &AssetFilter, members: &Members, hosts: Option<&HostFacts>) -> Option<Condition> {
    let wants = |word: &str| filter.values.iter().any(|v| v.eq_ignore_ascii_case(word));
    let either = |yes: bool, no: bool, holds: &'static str, fails: &'static str| match (yes, no) {
        (true, true) => None,
        (true, false) => Some(Condition::Holds(holds)),
        (false, true) => Some(Condition::Holds(fails)),
        (false, false) => Some(Condition::Nothing),
    };
    match (test, hosts) {
        (Test::Member(member), _) => match members.column(member) {
            Some(_) if wants("ALL") => None,
            Some(sql) if filter.exact_match.unwrap_or(false) => Some(Condition::In(sql, filter.values.clone())),
            Some(sql) => Some(Condition::Contains(sql, filter.values.iter().map(|v| v.to_lowercase()).collect())),
            None => (!passes(test, filter, &members.constant)).then_some(Condition::Nothing),
        },
        (Test::HostStatus | Test::DockerStatus, Some(_)) if wants("ALL") => None,
        (Test::HostStatus, Some(facts)) => {
            let statuses: Vec<String> =
                ["ONLINE", "OFFLINE"].into_iter().filter(|s| wants(s)).map(str::to_owned).collect();
            Some(if statuses.is_empty() { Condition::Nothing } else { Condition::In(facts.status, statuses) })
        }
        (Test::DockerStatus, Some(facts)) => {
            either(wants("INSTALL"), wants("UNINSTALL"), facts.docker_installed, facts.docker_missing)
        }
        (Test::NonClusterNode, Some(facts)) => {
            either(wants("true"), wants("false"), facts.outside_clusters, facts.in_a_cluster)
        }
        (Test::OrderBy, _) => None,
        // Tags and security risks: read off the item every row shares.
        (test, _) => (!passes(test, filter, &members.constant)).then_some(Condition::Nothing),
    }
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

#[cfg(test)]
mod tests {
    use super::super::assets::{HOST_COLUMNS, HOST_FACTS};
    use super::*;
    use serde_json::json;

    fn filter(name: &str, values: &[&str], exact: Option<bool>) -> AssetFilter {
        AssetFilter { name: name.into(), values: values.iter().map(|v| (*v).to_owned()).collect(), exact_match: exact }
    }

    fn members() -> Members {
        Members {
            columns: HOST_COLUMNS,
            constant: json!({"HostName": "", "Group": "", "MachineType": "OTHERCLOUD", "Project": {"ProjectID": 0},
                             "Tags": [], "CoresCnt": 0}),
        }
    }

    fn planned(filters: &[AssetFilter], by: Option<&str>, order: Option<&str>) -> Result<Plan, ApiError> {
        plan(&Query { filters, by, order }, HOST_FILTERS, &members(), Some(&HOST_FACTS))
    }

    fn conditions(filter: AssetFilter) -> Vec<Condition> {
        planned(std::slice::from_ref(&filter), None, None).unwrap().conditions
    }

    #[test]
    fn each_documented_host_filter_becomes_its_condition() {
        let name = "h.host_name";
        assert_eq!(
            conditions(filter("HostName", &["BUILD", "Web"], None)),
            [Condition::Contains(name, vec!["build".into(), "web".into()])]
        );
        assert_eq!(
            conditions(filter("HostName", &["build-1"], Some(true))),
            [Condition::In(name, vec!["build-1".into()])]
        );
        assert_eq!(conditions(filter("HostName", &["all"], None)), []);
        assert_eq!(
            conditions(filter("Status", &["ONLINE"], None)),
            [Condition::In(HOST_FACTS.status, vec!["ONLINE".into()])]
        );
        assert_eq!(conditions(filter("Status", &["ALL"], None)), []);
        assert_eq!(conditions(filter("Status", &["SLEEPING"], None)), [Condition::Nothing]);
        assert_eq!(
            conditions(filter("DockerStatus", &["INSTALL"], None)),
            [Condition::Holds(HOST_FACTS.docker_installed)]
        );
        assert_eq!(conditions(filter("DockerStatus", &["INSTALL", "UNINSTALL"], None)), []);
        assert_eq!(
            conditions(filter("NonClusterNode", &["true"], None)),
            [Condition::Holds(HOST_FACTS.outside_clusters)]
        );
        // What every host shares is decided on the shared value.
        assert_eq!(conditions(filter("ProjectID", &["0"], Some(true))), []);
        assert_eq!(conditions(filter("ProjectID", &["7"], Some(true))), [Condition::Nothing]);
        assert_eq!(conditions(filter("Tag:team", &["ops"], None)), [Condition::Nothing]);
    }

    #[test]
    fn several_filters_are_each_a_condition() {
        let plan =
            planned(&[filter("HostName", &["a"], None), filter("Status", &["ONLINE"], None)], None, None).unwrap();
        assert_eq!(plan.conditions.len(), 2);
    }

    #[test]
    fn by_and_order_sort_by_a_column_and_keep_the_order_of_a_shared_member() {
        assert_eq!(planned(&[], Some("CoresCnt"), None).unwrap().order, Some(("h.cores_cnt", false)));
        assert_eq!(planned(&[], Some("CoresCnt"), Some("DESC")).unwrap().order, Some(("h.cores_cnt", true)));
        assert_eq!(planned(&[], Some("MachineType"), Some("desc")).unwrap().order, None);
    }

    #[test]
    fn an_unknown_filter_name_or_sort_is_refused_naming_it() {
        let err = planned(&[filter("Colour", &["red"], None)], None, None).unwrap_err();
        assert!(err.message.contains("`Filters.0.Name`"), "{}", err.message);
        assert!(planned(&[], Some("Colour"), None).unwrap_err().message.contains("`By`"));
        assert!(planned(&[], None, Some("sideways")).unwrap_err().message.contains("`Order`"));
        assert!(planned(&[filter("HostName", &[], None)], None, None).is_err());
    }
}
