//! The plans of the Describe actions' list and count queries, on both backends: every filter
//! is answered on an index, never by scanning the table, a substring of three or more
//! characters on its trigram index, and the unfiltered list walks the account's index in order
//! instead of sorting its rows.

use super::store::{ImageCondition, Page, push_count_query, push_images_query};
use sqlx::{QueryBuilder, Row};
use taskgate_engine::testing::{analyze_after_load, service};
use taskgate_engine::{Backend, Store, StoreOptions, on_tx};

/// 4,000 images of forty accounts (account `100011` holds 100 of them), each with its task: the
/// other tenants' rows are what a list must not walk through. Then 20,000 more of each of four
/// accounts (the listed one among them), so a planner weighs the substring filters' trigram
/// indexes against reading the account's images as at a real size.
const FILL_TASKS: &str = "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 84000) \
     INSERT INTO tg_tasks (id, account, kind, state, input, created_at_ms, max_attempts, next_run_at_ms) \
     SELECT 'ecm-import-' || k, CASE WHEN k <= 4000 THEN '1000' || (10 + k % 40) ELSE '1000' || (11 + k % 4) END, 'ecm.import', \
     'queued', '{}', k, 3, k FROM n";
const FILL_IMAGES: &str = "INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, \
     architecture, init_flag, task_id, engine_task_id, created_at_ms, image_name_folded, os_name_folded) \
     SELECT 'img-' || created_at_ms, account, 'disk-' || created_at_ms, '', 'CentOS', '7.9', 'x86_64', 'cloudinit', \
     created_at_ms, id, created_at_ms, 'disk-' || created_at_ms, \
     CASE WHEN created_at_ms % 1000 = 0 THEN 'ubuntu 22.04 64位' ELSE 'centos 7.9 64位' END FROM tg_tasks";

/// Every kind of list the actions run: what, its conditions, whether its page must come in
/// order off the index rather than from a sort, and whether it must find its rows on a trigram
/// index (the FTS5 table on SQLite, a `pg_trgm` GIN index on PostgreSQL), must not (no
/// substring, or one shorter than [`TRIGRAM`](super::store::TRIGRAM), matched against the account's images off its
/// index), or may (a substring every image holds). The unfiltered list must come in order: its matches are the whole account. A
/// substring's matches come off the trigram index and are sorted for the page.
fn lists() -> Vec<(&'static str, Vec<ImageCondition>, bool, Option<bool>)> {
    vec![
        ("the whole account", vec![], true, Some(false)),
        ("task ids", vec![ImageCondition::TaskId(vec![41, 81])], false, Some(false)),
        ("image ids", vec![ImageCondition::ImageId(vec!["img-41".into(), "img-81".into()])], false, Some(false)),
        ("names", vec![ImageCondition::Name(vec!["disk-41".into(), "disk-81".into()])], false, Some(false)),
        (
            "name and task id",
            vec![ImageCondition::Name(vec!["disk-41".into()]), ImageCondition::TaskId(vec![41])],
            false,
            Some(false),
        ),
        ("name contains", vec![ImageCondition::NameContains("k-5173".into())], false, Some(true)),
        ("os name contains", vec![ImageCondition::OsNameContains("ubuntu".into())], false, Some(true)),
        // Every image's: its index or the account's rows, as the planner weighs them.
        ("os name contains, all", vec![ImageCondition::OsNameContains("centos".into())], false, None),
        (
            "name and os name contain",
            vec![ImageCondition::NameContains("k-5173".into()), ImageCondition::OsNameContains("64".into())],
            false,
            Some(true),
        ),
        ("name contains 2", vec![ImageCondition::NameContains("k-".into())], false, Some(false)),
        ("os name contains 1", vec![ImageCondition::OsNameContains("6".into())], false, Some(false)),
    ]
}

/// The plans of the list (a page of 20) and the count of `conditions` over account `100011`,
/// one line per step; PostgreSQL plans with sequential scans disabled, so a table without a
/// usable index still shows one.
async fn plans(store: &Store, conditions: &[ImageCondition]) -> [Vec<String>; 2] {
    let postgres = store.backend() == Backend::Postgres;
    let explain = if postgres { "EXPLAIN " } else { "EXPLAIN QUERY PLAN " };
    let mut tx = store.begin().await.unwrap();
    let plans = on_tx!(tx, c => {
        if postgres {
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *c).await.unwrap();
        }
        let mut list = QueryBuilder::new(explain);
        let mut count = QueryBuilder::new(explain);
        push_images_query(&mut list, "100011", conditions, Some(Page { offset: 0, limit: 20 }));
        push_count_query(&mut count, "100011", conditions);
        let mut plans = [Vec::new(), Vec::new()];
        for (plan, query) in plans.iter_mut().zip([&mut list, &mut count]) {
            for row in query.build().fetch_all(&mut *c).await.unwrap() {
                plan.push(row.get::<String, _>(if postgres { 0 } else { 3 }));
            }
        }
        plans
    });
    tx.rollback().await.unwrap();
    plans
}

async fn every_list_is_answered_on_an_index(store: Store) {
    let mut tx = store.begin().await.unwrap();
    on_tx!(tx, c => {
        for sql in [FILL_TASKS, FILL_IMAGES] {
            sqlx::query(sql).execute(&mut *c).await.unwrap();
        }
    });
    tx.commit().await.unwrap();
    // The server never analyzes its SQLite database: a substring's trigram index must drive
    // the plan without statistics too.
    if store.backend() == Backend::Sqlite {
        check_plans(&store, true).await;
    }
    analyze_after_load(&store, &["tg_tasks", "ecm_images"]).await.unwrap();
    check_plans(&store, false).await;
}

/// Checks the plans of every list, or (`trigrams_only`) of those that must use a trigram index.
async fn check_plans(store: &Store, trigrams_only: bool) {
    for (what, conditions, in_index_order, on_trigrams) in lists() {
        if trigrams_only && on_trigrams != Some(true) {
            continue;
        }
        for (query, plan) in ["list", "count"].into_iter().zip(plans(store, &conditions).await) {
            let text = plan.join("\n");
            // An FTS5 table's `MATCH` (`INDEX 0:M…`) reads its trigram index.
            let fts = |step: &String| step.starts_with("SCAN ecm_images_fts VIRTUAL TABLE INDEX 0:M");
            let scans = plan.iter().any(|step| step.contains("Seq Scan") || (step.starts_with("SCAN ") && !fts(step)));
            assert!(!scans, "the {query} of {what} scans a table:\n{text}");
            let trigrams = plan
                .iter()
                .any(|step| fts(step) || step.contains("Bitmap Index Scan on ecm_images_") && step.contains("_trgm"));
            // On SQLite the matches' rowids drive the query, not a walk of the account testing
            // each image against them.
            let by_rowid = plan.iter().any(|step| step == "SEARCH i USING INTEGER PRIMARY KEY (rowid=?)");
            assert!(
                on_trigrams != Some(true) || store.backend() == Backend::Postgres || by_rowid,
                "the {query} of {what} does not read the trigram matches by rowid:\n{text}"
            );
            if let Some(expected) = on_trigrams {
                assert_eq!(trigrams, expected, "the {query} of {what} uses a trigram index: {trigrams}\n{text}");
            }
            // An index scan that only filters (PostgreSQL's `Filter:` under a node without a
            // `Cond:`) walks other tenants' rows: every access to the images is narrowed by one.
            let accesses =
                plan.iter().filter(|step| step.contains(" on ecm_images i ") || step.starts_with("SEARCH i ")).count();
            let narrowed = plan
                .iter()
                .filter(|step| {
                    (step.contains("Cond:") && !step.contains("engine_task_id")) || step.starts_with("SEARCH i ")
                })
                .count();
            assert!(accesses > 0 && narrowed >= accesses, "the {query} of {what} is not narrowed by an index:\n{text}");
            let sorts = plan.iter().any(|step| step.contains("Sort") || step.contains("TEMP B-TREE"));
            assert!(!(in_index_order && sorts), "the {query} of {what} sorts the account's rows:\n{text}");
        }
    }
}

#[tokio::test]
async fn every_list_is_answered_on_an_index_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("taskgate-plans-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("taskgate.db").display());
    let store = Store::open(&url, &StoreOptions::default(), &[&crate::migrations::PRODUCTS]).await.unwrap();
    every_list_is_answered_on_an_index(store.clone()).await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn every_list_is_answered_on_an_index_on_postgres() {
    let Some(base) = service("TASKGATE_TEST_PG_URL") else { return };
    let (store, _schema) =
        Store::open_in_fresh_schema(&base, &StoreOptions::default(), &[&crate::migrations::PRODUCTS]).await.unwrap();
    every_list_is_answered_on_an_index(store.clone()).await;
    store.close().await;
}
