//! The account's inventory tables (`tcss_clusters`, `tcss_hosts`, `tcss_containers`,
//! `tcss_images`): written by a refresh's success ([`InventoryRows`]), read by the asset lists
//! with their filters, order, page and count in SQL, every value bound, and by the summary.

use super::asset_query::{Condition, HostFacts, Plan};
use super::inventory::{ClusterAsset, ClusterWrite, HostAsset, Refreshed};
use super::store::TcssStoreError;
use async_trait::async_trait;
use sqlx::QueryBuilder;
use taskgate_engine::{Store, StoreError, TaskId, Tx, WriteOnSuccess, like_containing, on_pool, on_tx};

/// Rows per `INSERT`: well under either backend's limit of bound values (32,766 on SQLite).
const INSERT_CHUNK: usize = 500;

/// Writes a refresh's [`Refreshed`] into the account's inventory in the transaction that
/// records its success: the host and the collected clusters replace what was stored of them,
/// a listed cluster's facts replace its stored ones (its assets stay), a kept cluster stays,
/// and a stored cluster that is none of these goes. Each written row carries the refresh's
/// TaskId. An asset id repeated within one cluster is written once (the first).
pub(super) struct InventoryRows(pub Refreshed);

#[async_trait]
impl WriteOnSuccess for InventoryRows {
    async fn write(&self, tx: &mut Tx, task: &TaskId) -> Result<(), StoreError> {
        let refresh: Option<(String, i64)> = on_tx!(tx, c => {
            sqlx::query_as("SELECT account, task_id FROM tcss_refresh_tasks WHERE engine_task_id = $1")
                .bind(task.as_str())
                .fetch_optional(&mut *c)
                .await?
        });
        // A reset removed the refresh (and the account's inventory) while it ran.
        let Some((account, task_id)) = refresh else { return Ok(()) };
        let refreshed = &self.0;
        let kept: Vec<&str> = refreshed
            .clusters
            .iter()
            .filter(|c| matches!(c, ClusterWrite::Kept(_)))
            .map(ClusterWrite::cluster_id)
            .collect();
        let assets_kept: Vec<&str> = refreshed
            .clusters
            .iter()
            .filter(|c| !matches!(c, ClusterWrite::Collected(_)))
            .map(ClusterWrite::cluster_id)
            .collect();
        let facts: Vec<&ClusterAsset> = refreshed
            .clusters
            .iter()
            .filter_map(|c| match c {
                ClusterWrite::Collected(asset) | ClusterWrite::Listed(asset) => Some(asset),
                ClusterWrite::Kept(_) => None,
            })
            .collect();
        let collected: Vec<&ClusterAsset> = refreshed
            .clusters
            .iter()
            .filter_map(|c| match c {
                ClusterWrite::Collected(asset) => Some(asset),
                _ => None,
            })
            .collect();
        for (table, keep) in [
            ("tcss_clusters", &kept),
            ("tcss_hosts", &assets_kept),
            ("tcss_containers", &assets_kept),
            ("tcss_images", &assets_kept),
        ] {
            on_tx!(tx, c => {
                let mut query = QueryBuilder::new(format!("DELETE FROM {table} WHERE account = "));
                query.push_bind(account.clone());
                if !keep.is_empty() {
                    query.push(" AND cluster_id NOT IN (");
                    let mut list = query.separated(", ");
                    for id in keep.iter() {
                        list.push_bind((*id).to_owned());
                    }
                    query.push(")");
                }
                query.build().execute(&mut *c).await?.rows_affected()
            });
        }
        for chunk in facts.chunks(INSERT_CHUNK) {
            on_tx!(tx, c => {
                let mut query = QueryBuilder::new(
                    "INSERT INTO tcss_clusters (account, cluster_id, name, reachable, error, runtime_version, task_id) ",
                );
                query.push_values(chunk, |mut row, cluster| {
                    row.push_bind(account.clone())
                        .push_bind(cluster.cluster_id.clone())
                        .push_bind(cluster.name.clone())
                        .push_bind(cluster.reachable)
                        .push_bind(cluster.error.clone())
                        .push_bind(cluster.runtime_version.clone().unwrap_or_default())
                        .push_bind(task_id);
                });
                query.push(" ON CONFLICT DO NOTHING");
                query.build().execute(&mut *c).await?.rows_affected()
            });
        }
        let hosts: Vec<HostRow> = std::iter::once(HostRow::of_host(&refreshed.host))
            .chain(collected.iter().flat_map(|cluster| {
                cluster.nodes.iter().enumerate().map(|(ord, node)| HostRow {
                    cluster_id: cluster.cluster_id.clone(),
                    host_id: format!("{}-{}", cluster.cluster_id, node.name),
                    ord: count(ord),
                    host_name: node.name.clone(),
                    host_ip: String::new(),
                    cores: i64::from(node.cpu_count),
                    os_name: node.os.clone(),
                    kernel_version: node.kernel_version.clone(),
                    architecture: node.architecture.clone(),
                    memory_bytes: bytes(node.memory_bytes),
                })
            }))
            .collect();
        for chunk in hosts.chunks(INSERT_CHUNK) {
            on_tx!(tx, c => {
                let mut query = QueryBuilder::new(
                    "INSERT INTO tcss_hosts (account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, \
                     kernel_version, architecture, memory_bytes, task_id) ",
                );
                query.push_values(chunk, |mut row, host| {
                    row.push_bind(account.clone())
                        .push_bind(host.cluster_id.clone())
                        .push_bind(host.host_id.clone())
                        .push_bind(host.ord)
                        .push_bind(host.host_name.clone())
                        .push_bind(host.host_ip.clone())
                        .push_bind(host.cores)
                        .push_bind(host.os_name.clone())
                        .push_bind(host.kernel_version.clone())
                        .push_bind(host.architecture.clone())
                        .push_bind(host.memory_bytes)
                        .push_bind(task_id);
                });
                query.push(" ON CONFLICT DO NOTHING");
                query.build().execute(&mut *c).await?.rows_affected()
            });
        }
        for cluster in &collected {
            let host_name = cluster.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
            let containers: Vec<_> = cluster.containers.iter().enumerate().collect();
            for chunk in containers.chunks(INSERT_CHUNK) {
                on_tx!(tx, c => {
                    let mut query = QueryBuilder::new(
                        "INSERT INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, \
                         status, docker_status, created_at, host_name, task_id) ",
                    );
                    query.push_values(chunk, |mut row, (ord, container)| {
                        row.push_bind(account.clone())
                            .push_bind(cluster.cluster_id.clone())
                            .push_bind(container.id.clone())
                            .push_bind(count(*ord))
                            .push_bind(container.name.clone())
                            .push_bind(container.image.clone())
                            .push_bind(container.state.tcss_status().to_owned())
                            .push_bind(container.status.clone())
                            .push_bind(container.created_at)
                            .push_bind(host_name.clone())
                            .push_bind(task_id);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    query.build().execute(&mut *c).await?.rows_affected()
                });
            }
            let images: Vec<_> = cluster.images.iter().enumerate().collect();
            for chunk in images.chunks(INSERT_CHUNK) {
                on_tx!(tx, c => {
                    let mut query = QueryBuilder::new(
                        "INSERT INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, \
                         created_at, containers, task_id) ",
                    );
                    query.push_values(chunk, |mut row, (ord, image)| {
                        row.push_bind(account.clone())
                            .push_bind(cluster.cluster_id.clone())
                            .push_bind(image.id.clone())
                            .push_bind(count(*ord))
                            .push_bind(image.repo_tags.first().cloned().unwrap_or_else(|| "<none>".into()))
                            .push_bind(serde_json::Value::from(image.repo_tags.clone()).to_string())
                            .push_bind(bytes(image.size_bytes))
                            .push_bind(image.created_at)
                            .push_bind(image.containers)
                            .push_bind(task_id);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    query.build().execute(&mut *c).await?.rows_affected()
                });
            }
        }
        on_tx!(tx, c => {
            sqlx::query(RECOUNT).bind(account.clone()).execute(&mut *c).await?.rows_affected()
        });
        Ok(())
    }
}

/// Recounts the assets of each of the account's clusters on its row.
const RECOUNT: &str = "UPDATE tcss_clusters SET \
     container_cnt = (SELECT COUNT(*) FROM tcss_containers k \
                      WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id), \
     running_cnt = (SELECT COUNT(*) FROM tcss_containers k \
                    WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id \
                    AND k.status = 'RUNNING'), \
     paused_cnt = (SELECT COUNT(*) FROM tcss_containers k \
                   WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id \
                   AND k.status = 'PAUSED'), \
     stopped_cnt = (SELECT COUNT(*) FROM tcss_containers k \
                    WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id \
                    AND k.status IN ('EXITED', 'DEAD', 'CREATED')), \
     image_cnt = (SELECT COUNT(*) FROM tcss_images i \
                  WHERE i.account = tcss_clusters.account AND i.cluster_id = tcss_clusters.cluster_id) \
     WHERE account = $1";

/// One row of `tcss_hosts`.
struct HostRow {
    cluster_id: String,
    host_id: String,
    ord: i64,
    host_name: String,
    host_ip: String,
    cores: i64,
    os_name: String,
    kernel_version: String,
    architecture: String,
    memory_bytes: i64,
}

impl HostRow {
    /// The host taskgate runs on: cluster `''`.
    fn of_host(host: &HostAsset) -> Self {
        Self {
            cluster_id: String::new(),
            host_id: format!("host-{}", host.hostname),
            ord: 0,
            host_name: host.hostname.clone(),
            host_ip: host.ips.first().cloned().unwrap_or_default(),
            cores: i64::from(host.cpu_count),
            os_name: format!("{} {}", host.os_name, host.os_version).trim().to_owned(),
            kernel_version: host.kernel_version.clone(),
            architecture: String::new(),
            memory_bytes: bytes(host.memory_bytes),
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Which rows of a list to return: `limit` rows after the first `offset`, both at least 0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// One list's SQL: what it selects (and from where), what its count reads, the account column
/// and its own order, which also breaks ties of a requested one.
pub(super) struct ListSql {
    pub select: &'static str,
    pub count_from: &'static str,
    /// How many rows the account has (`$1`) when no condition narrows them, off its clusters'
    /// counts rather than its rows; none to count the rows.
    pub count_all: Option<&'static str>,
    pub account: &'static str,
    pub order: &'static str,
}

/// Every host: the rows of `tcss_hosts`, and for a cluster without any, one host standing for
/// it (its id `<cluster>-node`, its name the cluster's), each with its cluster's facts.
macro_rules! hosts_from {
    () => {
        concat!(
            " FROM (SELECT account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt FROM tcss_hosts ",
            "UNION ALL SELECT s.account, s.cluster_id, s.cluster_id || '-node', 0, s.name, '', 0 FROM tcss_clusters s ",
            "WHERE NOT EXISTS (SELECT 1 FROM tcss_hosts x WHERE x.account = s.account AND x.cluster_id = s.cluster_id)) h ",
            "LEFT JOIN tcss_clusters c ON c.account = h.account AND c.cluster_id = h.cluster_id"
        )
    };
}

/// The images and containers of a host's cluster, as its row counted them (none for the host
/// taskgate runs on, which has no cluster row).
macro_rules! host_images {
    () => {
        "COALESCE(c.image_cnt, 0)"
    };
}
macro_rules! host_containers {
    () => {
        "COALESCE(c.container_cnt, 0)"
    };
}

macro_rules! host_status {
    () => {
        "CASE WHEN h.cluster_id = '' OR c.reachable THEN 'ONLINE' ELSE 'OFFLINE' END"
    };
}
const HOST_STATUS: &str = host_status!();
const HOST_DOCKER_VERSION: &str = "COALESCE(c.runtime_version, '')";
const HOST_ACCESSED: &str =
    "CASE WHEN h.cluster_id = '' THEN '' WHEN c.reachable THEN 'AccessedNormal' ELSE 'AccessedException' END";

pub(super) const HOSTS: ListSql = ListSql {
    select: concat!(
        "SELECT h.host_id, h.host_ip, h.host_name, COALESCE(c.runtime_version, ''), ",
        host_images!(),
        ", ",
        host_containers!(),
        ", c.reachable, h.cluster_id, COALESCE(c.name, ''), COALESCE(c.error, ''), h.cores_cnt",
        hosts_from!()
    ),
    count_from: hosts_from!(),
    count_all: None,
    account: "h.account",
    order: "h.cluster_id, h.ord",
};

pub(super) const HOST_COLUMNS: &[(&str, &str)] = &[
    ("HostID", "h.host_id"),
    ("HostIP", "h.host_ip"),
    ("HostName", "h.host_name"),
    ("DockerVersion", HOST_DOCKER_VERSION),
    ("ImageCnt", host_images!()),
    ("ContainerCnt", host_containers!()),
    ("Status", HOST_STATUS),
    ("ClusterID", "h.cluster_id"),
    ("ClusterName", "COALESCE(c.name, '')"),
    ("ClusterAccessedStatus", HOST_ACCESSED),
    ("ClusterAccessedErrorReason", "COALESCE(c.error, '')"),
    ("CoresCnt", "h.cores_cnt"),
    ("Uuid", "h.host_id"),
    ("InstanceID", "h.host_id"),
];

pub(super) const HOST_FACTS: HostFacts = HostFacts {
    status: HOST_STATUS,
    docker_installed: "COALESCE(c.runtime_version, '') <> ''",
    docker_missing: "COALESCE(c.runtime_version, '') = ''",
    outside_clusters: "h.cluster_id = ''",
    in_a_cluster: "h.cluster_id <> ''",
};

/// A host row: id, IP, name, Docker version, images, containers, whether its cluster was
/// reachable (none for the host taskgate runs on), cluster id and name, unreachable reason,
/// cores.
pub(super) type HostTuple = (String, String, String, String, i64, i64, Option<bool>, String, String, String, i64);

pub(super) const CONTAINERS: ListSql = ListSql {
    select: "SELECT k.container_id, k.container_name, k.status, k.created_at, k.image_name, k.host_name, k.cluster_id, \
             COALESCE(c.name, '') FROM tcss_containers k \
             LEFT JOIN tcss_clusters c ON c.account = k.account AND c.cluster_id = k.cluster_id",
    count_from: " FROM tcss_containers k",
    count_all: Some("SELECT CAST(COALESCE(SUM(container_cnt), 0) AS BIGINT) FROM tcss_clusters WHERE account = $1"),
    account: "k.account",
    order: "k.cluster_id, k.ord",
};

pub(super) const CONTAINER_COLUMNS: &[(&str, &str)] = &[
    ("ContainerID", "k.container_id"),
    ("ContainerName", "k.container_name"),
    ("Status", "k.status"),
    ("CreateTime", "k.created_at"),
    ("UpdateTime", "k.created_at"),
    ("ImageName", "k.image_name"),
    ("HostID", "(k.cluster_id || '-' || k.host_name)"),
    ("NodeID", "(k.cluster_id || '-' || k.host_name)"),
    ("HostName", "k.host_name"),
    ("ClusterID", "k.cluster_id"),
    ("ClusterName", "COALESCE(c.name, '')"),
];

/// A container row: id, name, tcss status, creation (Unix s), image, host name, cluster id
/// and name.
pub(super) type ContainerTuple = (String, String, String, i64, String, String, String, String);

pub(super) const IMAGES: ListSql = ListSql {
    select: "SELECT i.image_id, i.image_name, i.created_at, i.size_bytes, i.containers FROM tcss_images i",
    count_from: " FROM tcss_images i",
    count_all: Some("SELECT CAST(COALESCE(SUM(image_cnt), 0) AS BIGINT) FROM tcss_clusters WHERE account = $1"),
    account: "i.account",
    order: "i.cluster_id, i.ord",
};

pub(super) const IMAGE_COLUMNS: &[(&str, &str)] = &[
    ("ImageID", "i.image_id"),
    ("ImageName", "i.image_name"),
    ("CreateTime", "i.created_at"),
    ("Size", "i.size_bytes"),
    ("ContainerCnt", "CASE WHEN i.containers < 0 THEN 0 ELSE i.containers END"),
];

/// An image row: id, name, creation (Unix s), size in bytes, containers using it (-1: not
/// counted).
pub(super) type ImageTuple = (String, String, i64, i64, i64);

/// The substring filters' trigram indexes (migration `20251201000026`): a column's expression,
/// the SQLite FTS5 table holding its trigrams (keyed by the rowid of the column's table) and its
/// column there. On PostgreSQL each is a `pg_trgm` GIN index on `lower(<column>)`.
const TRIGRAM_INDEXES: &[(&str, &str, &str)] = &[
    ("k.container_name", "tcss_containers_fts", "container_name"),
    ("k.image_name", "tcss_containers_fts", "image_name"),
    ("k.status", "tcss_containers_fts", "status"),
    ("i.image_name", "tcss_images_fts", "image_name"),
    ("i.image_id", "tcss_images_fts", "image_id"),
];

/// The fewest characters a value needs for a trigram index to find it: a shorter one is matched
/// against each of the account's rows (read off the account's index).
pub(super) const TRIGRAM: usize = 3;

/// An FTS5 query matching `column` containing any of `values`: each a quoted string (a quote
/// doubled), which the trigram tokenizer reads as the run of its trigrams, case folded.
fn fts_phrases(column: &str, values: &[String]) -> String {
    let phrases: Vec<String> =
        values.iter().map(|value| format!("{column} : \"{}\"", value.replace('"', "\"\""))).collect();
    phrases.join(" OR ")
}

/// Appends ` WHERE` with the account and every condition, every value bound. Substrings are
/// matched case-insensitively against the lowercased values: the asset texts are ASCII
/// (Docker's names, ids, tags and versions, host names), which PostgreSQL's `lower()` (the
/// columns are `C`) folds as Rust's `to_lowercase` does; SQLite's `LIKE` already ignores ASCII
/// case (and its `lower()` folds nothing more), so it matches the text as stored, twice as fast
/// over a large inventory. A column with a trigram index and values of at least [`TRIGRAM`]
/// characters is narrowed by it: on SQLite to the rowids its FTS5 table finds (which folds case
/// more widely, so the `LIKE` still decides), on PostgreSQL by the planner's use of the GIN index
/// for the `LIKE`. A shorter value on PostgreSQL is `strpos`, which no index serves, so the
/// planner reads the account's rows rather than every entry of the GIN index.
fn push_where<DB>(query: &mut QueryBuilder<DB>, list: &ListSql, account: &str, conditions: &[Condition])
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let sqlite = DB::NAME == "SQLite";
    let long = |value: &String| value.chars().count() >= TRIGRAM;
    let index_of = |sql: &str| TRIGRAM_INDEXES.iter().find(|(column, _, _)| *column == sql);
    let fts = |condition: &Condition| match condition {
        Condition::Contains(sql, values) if sqlite && values.iter().all(long) => index_of(sql),
        _ => None,
    };
    query.push(" WHERE ");
    // On SQLite the FTS5 table's rowids drive the query: the account's own indexes are kept out
    // of the plan (`+`), which SQLite would otherwise walk whole, testing each row against the
    // trigram matches, when it has no statistics (the server never runs ANALYZE).
    if conditions.iter().any(|condition| fts(condition).is_some()) {
        query.push("+");
    }
    query.push(list.account).push(" = ").push_bind(account.to_owned());
    for condition in conditions {
        match condition {
            Condition::In(sql, values) => {
                query.push(" AND ").push(sql).push(" IN (");
                let mut separated = query.separated(", ");
                for value in values {
                    separated.push_bind(value.clone());
                }
                query.push(")");
            }
            Condition::Contains(sql, values) => {
                let index = index_of(sql);
                if let Some((_, table, column)) = fts(condition) {
                    let alias = sql.split('.').next().unwrap_or_default();
                    query.push(" AND ").push(alias).push(".rowid IN (SELECT rowid FROM ").push(table);
                    query.push(" WHERE ").push(table).push(" MATCH ").push_bind(fts_phrases(column, values)).push(")");
                }
                query.push(" AND (");
                for (n, value) in values.iter().enumerate() {
                    if n > 0 {
                        query.push(" OR ");
                    }
                    if sqlite {
                        query.push(sql);
                    } else if index.is_some() && !long(value) {
                        query.push("strpos(lower(").push(sql).push("), ").push_bind(value.clone()).push(") > 0");
                        continue;
                    } else {
                        query.push("lower(").push(sql).push(")");
                    }
                    query.push(" LIKE ").push_bind(like_containing(value)).push(" ESCAPE '\\'");
                }
                query.push(")");
            }
            Condition::Holds(sql) => {
                query.push(" AND ").push(sql);
            }
            Condition::Nothing => {
                query.push(" AND 1 = 0");
            }
        }
    }
}

/// Appends the list query: the account's rows meeting the plan, in its order, `page` only.
pub(super) fn push_list_query<DB>(query: &mut QueryBuilder<DB>, list: &ListSql, account: &str, plan: &Plan, page: Page)
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push(list.select);
    push_where(query, list, account, &plan.conditions);
    query.push(" ORDER BY ");
    if let Some((sql, descending)) = plan.order {
        query.push(sql).push(if descending { " DESC, " } else { " ASC, " });
    }
    query.push(list.order);
    query.push(" LIMIT ").push_bind(page.limit).push(" OFFSET ").push_bind(page.offset);
}

/// Appends the count query: how many of the account's rows meet the conditions.
pub(super) fn push_count_query<DB>(
    query: &mut QueryBuilder<DB>,
    list: &ListSql,
    account: &str,
    conditions: &[Condition],
) where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push("SELECT COUNT(*)").push(list.count_from);
    push_where(query, list, account, conditions);
}

/// A page of the account's rows of `list` meeting `plan`, as `T`, and how many meet it (when
/// no condition narrows them, as their clusters' rows counted them).
pub(super) async fn page<T>(
    store: &Store,
    list: &ListSql,
    account: &str,
    plan: &Plan,
    page: Page,
) -> Result<(Vec<T>, i64), TcssStoreError>
where
    T: Send + Unpin,
    for<'r> T: sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    Ok(on_pool!(store.reader(), p => {
        let mut rows = QueryBuilder::default();
        push_list_query(&mut rows, list, account, plan, page);
        let rows = rows.build_query_as::<T>().fetch_all(p).await?;
        let total: i64 = match list.count_all {
            Some(sql) if plan.conditions.is_empty() => {
                sqlx::query_scalar(sql).bind(account).fetch_one(p).await?
            }
            _ => {
                let mut total = QueryBuilder::default();
                push_count_query(&mut total, list, account, &plan.conditions);
                total.build_query_scalar().fetch_one(p).await?
            }
        };
        (rows, total)
    }))
}

/// What DescribeAssetSummary counts of the account's inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub containers: i64,
    pub running: i64,
    pub paused: i64,
    /// Exited, dead or created ([`ContainerState::is_stopped`](super::inventory::ContainerState::is_stopped)).
    pub stopped: i64,
    pub images: i64,
    pub hosts: i64,
    pub hosts_online: i64,
}

/// The account's inventory counts, off its clusters' rows and its hosts.
pub(super) async fn counts(store: &Store, account: &str) -> Result<Counts, TcssStoreError> {
    let containers: (i64, i64, i64, i64, i64) = on_pool!(store.reader(), p => {
        sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(container_cnt), 0) AS BIGINT), CAST(COALESCE(SUM(running_cnt), 0) AS BIGINT), \
             CAST(COALESCE(SUM(paused_cnt), 0) AS BIGINT), CAST(COALESCE(SUM(stopped_cnt), 0) AS BIGINT), \
             CAST(COALESCE(SUM(image_cnt), 0) AS BIGINT) FROM tcss_clusters WHERE account = $1",
        )
        .bind(account)
        .fetch_one(p)
        .await?
    });
    let hosts: (i64, i64) = on_pool!(store.reader(), p => {
        sqlx::query_as(concat!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN ",
            host_status!(),
            " = 'ONLINE' THEN 1 ELSE 0 END), 0) AS BIGINT)",
            hosts_from!(),
            " WHERE h.account = $1"
        ))
        .bind(account)
        .fetch_one(p)
        .await?
    });
    Ok(Counts {
        containers: containers.0,
        running: containers.1,
        paused: containers.2,
        stopped: containers.3,
        images: containers.4,
        hosts: hosts.0,
        hosts_online: hosts.1,
    })
}
