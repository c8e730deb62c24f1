//! The plans of the asset lists' page and count queries, on both backends: every access to the
//! inventory tables is narrowed to the account by an index, never a scan of the table, and the
//! whole account's page walks an index in the list's order instead of sorting the account's
//! rows.

use super::asset_query::{self, AssetFilter, CONTAINER_FILTERS, HOST_FILTERS, IMAGE_FILTERS, Members, Query};
use super::assets::{self, HOST_FACTS, ListSql, Page, push_count_query, push_list_query};
use sqlx::{QueryBuilder, Row};
use taskgate_engine::testing::{analyze_after_load, service};
use taskgate_engine::{Backend, Store, StoreOptions, on_tx};

/// Forty accounts (`100011` is the one listed), each with a cluster of two nodes, 100
/// containers and 100 images: the other tenants' rows are what a list must not walk through.
/// Four of them (the listed one among them) then get 20,000 more of each, so a planner weighs
/// the substring filters' trigram indexes against reading the account's rows as at a real size.
const FILL: &[&str] = &[
    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 39) \
     INSERT INTO tcss_clusters (account, cluster_id, name, reachable, error, runtime_version, task_id) \
     SELECT '1000' || (10 + k), 'c-1', 'edge', TRUE, NULL, '27.1.0', 1 FROM n",
    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 79) \
     INSERT INTO tcss_hosts (account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, \
     kernel_version, architecture, memory_bytes, task_id) \
     SELECT '1000' || (10 + k % 40), 'c-1', 'c-1-node-' || (k / 40), k / 40, 'node-' || (k / 40), '', 4, 'Debian', \
     '6.1', 'x86_64', 8, 1 FROM n",
    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 3999) \
     INSERT INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, status, \
     docker_status, created_at, host_name, task_id) \
     SELECT '1000' || (10 + k % 40), 'c-1', 'ctr-' || k, k / 40, 'web-' || k, 'nginx:' || (k % 7), \
     CASE k % 3 WHEN 0 THEN 'RUNNING' WHEN 1 THEN 'EXITED' ELSE 'PAUSED' END, '', k, 'node-0', 1 FROM n",
    "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 3999) \
     INSERT INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, created_at, \
     containers, task_id) \
     SELECT '1000' || (10 + k % 40), 'c-1', 'sha256:' || k, k / 40, 'nginx:' || k, '[]', k, k, 1, 1 FROM n",
    "WITH RECURSIVE n(k) AS (SELECT 4000 UNION ALL SELECT k + 1 FROM n WHERE k < 83999) \
     INSERT INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, status, \
     docker_status, created_at, host_name, task_id) \
     SELECT '1000' || (11 + k % 4), 'c-1', 'ctr-' || k, k, 'web-' || k, 'nginx:' || (k % 7), \
     CASE k % 3 WHEN 0 THEN 'RUNNING' WHEN 1 THEN 'EXITED' ELSE 'PAUSED' END, '', k, 'node-0', 1 FROM n",
    "WITH RECURSIVE n(k) AS (SELECT 4000 UNION ALL SELECT k + 1 FROM n WHERE k < 83999) \
     INSERT INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, created_at, \
     containers, task_id) \
     SELECT '1000' || (11 + k % 4), 'c-1', 'sha256:' || k, k, 'nginx:' || k, '[]', k, k, 1, 1 FROM n",
];

fn filter(name: &str, values: &[&str], exact: bool) -> AssetFilter {
    AssetFilter {
        name: name.into(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        exact_match: Some(exact),
    }
}

/// Whether a list's substring filter must be found on a trigram index (the FTS5 table on
/// SQLite, a `pg_trgm` GIN index on PostgreSQL), must not be (a value shorter than
/// [`TRIGRAM`](assets::TRIGRAM): the account's rows, off its index), or may be either (with an exact filter
/// beside it, whose index a planner may prefer).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trigrams {
    Used,
    Unused,
    Either,
}

/// Every kind of list the actions run: what, the list, its filters and `By`, whether its page
/// must come off an index in order rather than from a sort (the unfiltered list must, its matches
/// being the whole account), and its use of the trigram indexes. An exact filter's matches are
/// read off its index (in the list's order, which a planner may still prefer to sort when they
/// are few), a substring's off the trigram index (other tenants' rows holding it dropped by the
/// account), and `By` sorts the matches.
#[allow(clippy::type_complexity)]
fn lists() -> Vec<(&'static str, &'static ListSql, Vec<AssetFilter>, Option<&'static str>, bool, Trigrams)> {
    use Trigrams::{Either, Unused, Used};
    use assets::{CONTAINERS, HOSTS, IMAGES};
    vec![
        ("every container", &CONTAINERS, vec![], None, true, Unused),
        ("a container name", &CONTAINERS, vec![filter("ContainerName", &["web-51"], true)], None, false, Unused),
        ("a container status", &CONTAINERS, vec![filter("Status", &["RUNNING"], true)], None, false, Unused),
        ("an image's containers", &CONTAINERS, vec![filter("ImageName", &["nginx:3"], true)], None, false, Unused),
        ("container statuses", &CONTAINERS, vec![filter("Status", &["RUNNING", "PAUSED"], true)], None, false, Unused),
        ("container name contains", &CONTAINERS, vec![filter("ContainerName", &["B-5173"], false)], None, false, Used),
        (
            "container names contain",
            &CONTAINERS,
            vec![filter("ContainerName", &["B-5173", "EB-9901"], false)],
            None,
            false,
            Used,
        ),
        // A seventh of the account: its page may walk the account in order.
        ("container image contains", &CONTAINERS, vec![filter("ImageName", &["NX:3"], false)], None, false, Either),
        ("container status contains", &CONTAINERS, vec![filter("Status", &["USED"], false)], None, false, Either),
        ("container name contains 2", &CONTAINERS, vec![filter("ContainerName", &["-5"], false)], None, false, Unused),
        (
            "container names contain, one short",
            &CONTAINERS,
            vec![filter("ContainerName", &["B-5173", "7"], false)],
            None,
            false,
            Unused,
        ),
        (
            "container name and status",
            &CONTAINERS,
            vec![filter("ContainerName", &["web"], false), filter("Status", &["EXITED"], true)],
            None,
            false,
            Either,
        ),
        ("containers by name", &CONTAINERS, vec![], Some("ContainerName"), false, Unused),
        (
            "container name contains, by creation",
            &CONTAINERS,
            vec![filter("ContainerName", &["B-5173"], false)],
            Some("CreateTime"),
            false,
            Used,
        ),
        ("every image", &IMAGES, vec![], None, true, Unused),
        ("an image id", &IMAGES, vec![filter("ImageID", &["sha256:51"], true)], None, false, Unused),
        ("image ids", &IMAGES, vec![filter("ImageID", &["sha256:51", "sha256:91"], true)], None, false, Unused),
        ("an image name", &IMAGES, vec![filter("ImageName", &["nginx:51"], true)], None, false, Unused),
        ("image name contains", &IMAGES, vec![filter("ImageName", &["X:5173"], false)], None, false, Used),
        ("image id contains", &IMAGES, vec![filter("ImageID", &["256:5173"], false)], None, false, Used),
        ("image name contains 2", &IMAGES, vec![filter("ImageName", &["X:"], false)], None, false, Unused),
        ("every host", &HOSTS, vec![], None, false, Unused),
        ("online hosts", &HOSTS, vec![filter("Status", &["ONLINE"], false)], None, false, Unused),
        // A host's cluster nodes: the account's few hosts are read (see README).
        ("host name contains", &HOSTS, vec![filter("HostName", &["node"], false)], None, false, Unused),
    ]
}

/// The plans of the page (20 rows) and the count of `list` over account `100011` as the
/// actions run them, one line per step; PostgreSQL plans with sequential scans disabled, so a table without a usable index
/// still shows one.
async fn plans(store: &Store, list: &ListSql, filters: &[AssetFilter], by: Option<&str>) -> [Vec<String>; 2] {
    let (vocabulary, columns, hosts) = match list.account {
        "k.account" => (CONTAINER_FILTERS, assets::CONTAINER_COLUMNS, None),
        "i.account" => (IMAGE_FILTERS, assets::IMAGE_COLUMNS, None),
        _ => (HOST_FILTERS, assets::HOST_COLUMNS, Some(&HOST_FACTS)),
    };
    let members = Members { columns, constant: serde_json::json!({}) };
    let plan = asset_query::plan(&Query { filters, by, order: None }, vocabulary, &members, hosts).unwrap();
    let postgres = store.backend() == Backend::Postgres;
    let explain = if postgres { "EXPLAIN " } else { "EXPLAIN QUERY PLAN " };
    let mut tx = store.begin().await.unwrap();
    let plans = on_tx!(tx, c => {
        if postgres {
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *c).await.unwrap();
        }
        let mut page = QueryBuilder::new(explain);
        let mut count = QueryBuilder::new(explain);
        push_list_query(&mut page, list, "100011", &plan, Page { offset: 0, limit: 20 });
        // As `assets::page` counts: off the clusters' rows when no condition narrows the list.
        match list.count_all {
            Some(sql) if plan.conditions.is_empty() => {
                count.push(sql.replace("$1", "'100011'"));
            }
            _ => push_count_query(&mut count, list, "100011", &plan.conditions),
        }
        let mut plans = [Vec::new(), Vec::new()];
        for (plan, query) in plans.iter_mut().zip([&mut page, &mut count]) {
            for row in query.build().fetch_all(&mut *c).await.unwrap() {
                plan.push(row.get::<String, _>(if postgres { 0 } else { 3 }));
            }
        }
        plans
    });
    tx.rollback().await.unwrap();
    plans
}

/// A SQLite step reading a table by scanning it; a scan of a subquery (`h`, the hosts) reads
/// only what its own, checked, steps found, and one of an FTS5 table by its `MATCH` (`INDEX 0:M…`)
/// reads its trigram index.
fn sqlite_table_scan(step: &str) -> bool {
    step.starts_with("SCAN ") && !step.starts_with("SCAN h") && !sqlite_trigram_search(step)
}

fn sqlite_trigram_search(step: &str) -> bool {
    step.starts_with("SCAN tcss_") && step.contains("_fts VIRTUAL TABLE INDEX 0:M")
}

/// A step finding rows on a trigram index.
fn trigram_search(step: &str) -> bool {
    sqlite_trigram_search(step) || (step.contains("Bitmap Index Scan on tcss_") && step.contains("_trgm"))
}

async fn every_list_is_answered_on_an_index(store: Store) {
    let mut tx = store.begin().await.unwrap();
    on_tx!(tx, c => {
        for sql in FILL {
            sqlx::query(*sql).execute(&mut *c).await.unwrap();
        }
    });
    tx.commit().await.unwrap();
    // The server never analyzes its SQLite database: a substring's trigram index must drive
    // the plan without statistics too.
    if store.backend() == Backend::Sqlite {
        check_plans(&store, true).await;
    }
    analyze_after_load(&store, &["tcss_clusters", "tcss_hosts", "tcss_containers", "tcss_images"]).await.unwrap();
    check_plans(&store, false).await;
}

/// Checks the plans of every list, or (`trigrams_only`) of those that must use a trigram index.
async fn check_plans(store: &Store, trigrams_only: bool) {
    for (what, list, filters, by, in_index_order, trigrams) in lists() {
        if trigrams_only && trigrams != Trigrams::Used {
            continue;
        }
        for (query, plan) in ["page", "count"].into_iter().zip(plans(store, list, &filters, by).await) {
            let text = plan.join("\n");
            let scans = plan.iter().any(|step| step.contains("Seq Scan") || sqlite_table_scan(step));
            assert!(!scans, "the {query} of {what} scans a table:\n{text}");
            let on_trigrams = plan.iter().any(|step| trigram_search(step));
            match trigrams {
                Trigrams::Used => {
                    assert!(on_trigrams, "the {query} of {what} does not use a trigram index:\n{text}");
                    // On SQLite the matches' rowids drive the query, not a walk of the account
                    // testing each row against them.
                    let alias = list.account.split('.').next().unwrap_or_default();
                    let by_rowid = format!("SEARCH {alias} USING INTEGER PRIMARY KEY (rowid=?)");
                    assert!(
                        store.backend() == Backend::Postgres || plan.contains(&by_rowid),
                        "the {query} of {what} does not read the trigram matches by rowid:\n{text}"
                    );
                }
                Trigrams::Unused => assert!(!on_trigrams, "the {query} of {what} uses a trigram index:\n{text}"),
                Trigrams::Either => {}
            }
            // An index scan that only filters (PostgreSQL's `Filter:` under a node without a
            // `Cond:` on the account) walks other tenants' rows, unless a trigram index found
            // them (then only those holding the substring).
            let accesses = plan
                .iter()
                .filter(|step| (step.contains(" on tcss_") && !step.contains("_trgm")) || step.starts_with("SEARCH "))
                .count();
            let narrowed = plan
                .iter()
                .filter(|step| (step.contains("Cond:") && step.contains("account")) || step.starts_with("SEARCH "))
                .count();
            assert!(
                accesses > 0 && (narrowed >= accesses || on_trigrams),
                "the {query} of {what} is not narrowed by an index:\n{text}"
            );
            let sorts = plan.iter().any(|step| step.contains("Sort") || step.contains("TEMP B-TREE"));
            assert!(!(in_index_order && sorts), "the {query} of {what} sorts the account's rows:\n{text}");
        }
    }
}

#[tokio::test]
async fn every_asset_list_is_answered_on_an_index_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("taskgate-tcss-plans-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("taskgate.db").display());
    let store = Store::open(&url, &StoreOptions::default(), &[&crate::migrations::PRODUCTS]).await.unwrap();
    every_list_is_answered_on_an_index(store.clone()).await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn every_asset_list_is_answered_on_an_index_on_postgres() {
    let Some(base) = service("TASKGATE_TEST_PG_URL") else { return };
    let (store, _schema) =
        Store::open_in_fresh_schema(&base, &StoreOptions::default(), &[&crate::migrations::PRODUCTS]).await.unwrap();
    every_list_is_answered_on_an_index(store.clone()).await;
    store.close().await;
}
