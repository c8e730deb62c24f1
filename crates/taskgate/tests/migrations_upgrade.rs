//! Databases migrated by earlier releases open with today's migration sets, on both backends:
//! the texts they applied (`tests/fixtures/migrations-2025-11-30`, copied from git) are applied
//! with a plain sqlx `Migrator`, then the store opens over them.

use std::{path::PathBuf, str::FromStr as _};

use serde_json::json;
use sqlx::{
    migrate::{MigrateError, Migrator},
    postgres::PgPool,
    sqlite::{SqliteConnectOptions, SqlitePool},
};
use taskgate::migrations::PRODUCTS;
use taskgate_engine::{
    Engine, EngineConfig, NewTask, Store, StoreError, StoreOptions, TaskKind, on_pool,
    testing::{fresh_postgres_schema, service},
};

const KIND: TaskKind = TaskKind::from_static("test.upgrade");

/// The migration texts every database had applied on 2025-11-30, per backend.
fn released(backend: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrations-2025-11-30").join(backend)
}

/// A copy of `released(backend)` in which one migration's text was edited after release.
fn edited_by_hand(backend: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskgate-edited-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(released(backend)).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap().to_str().unwrap().starts_with("20250301000003_") {
            text.push_str("-- edited after release\n");
        }
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
    dir
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(format!("taskgate-upgrade-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}", dir.join("taskgate.db").display())
}

async fn postgres_url() -> Option<String> {
    let base = service("TASKGATE_TEST_PG_URL")?;
    Some(fresh_postgres_schema(&base).await.unwrap().url)
}

/// Applies the migrations of `dir` to the database at `url` the way an earlier release did.
async fn apply(url: &str, dir: PathBuf) {
    let migrator = Migrator::new(dir).await.unwrap();
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = PgPool::connect(url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn open(url: &str) -> Result<Store, StoreError> {
    Store::open(url, &StoreOptions::default(), &[&PRODUCTS]).await
}

/// A task and a product row referring to it can be written and read back.
async fn assert_usable(store: &Store) {
    let engine = Engine::builder(store.clone(), EngineConfig::default()).build();
    let id = engine.submit(NewTask::new("upgrade-1", "100001", KIND, json!({ "n": 1 }))).await.unwrap();
    assert_eq!(engine.get(&id).await.unwrap().unwrap().input, json!({ "n": 1 }));
    let names: Vec<String> = on_pool!(store.writer(), pool => {
        sqlx::query(
            "INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, \
             architecture, init_flag, task_id, engine_task_id, created_at_ms) \
             VALUES ('img-1', '100001', 'disk', '', 'Linux', '12', 'x86_64', 'none', 1, $1, 0)",
        )
        .bind(id.as_str())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query_scalar("SELECT image_name FROM ecm_images").fetch_all(pool).await.unwrap()
    });
    assert_eq!(names, ["disk"]);
}

async fn a_released_database_opens_and_stays_usable(url: String, backend: &str) {
    apply(&url, released(backend)).await;
    let store = open(&url).await.unwrap();
    assert_usable(&store).await;
    store.close().await;
    let reopened = open(&url).await.unwrap();
    reopened.close().await;
}

/// Before 2025-11-30 an import's location was recorded only on its `ecm_images` row; the upgrade
/// moves it into the task's output, which is from then on the one record of the import.
async fn an_image_imported_before_the_upgrade_keeps_its_facts_in_its_task_output(url: String, backend: &str) {
    apply(&url, released(backend)).await;
    let old_output =
        r#"{"image_id":"img-1","format":"qcow2","size_bytes":5,"virtual_size":1073741824,"sha256":"aa","md5":"bb"}"#;
    on_pool!(&released_pool(&url).await, pool => {
        sqlx::query(
            "INSERT INTO tg_tasks (id, account, kind, state, input, result, created_at_ms, finished_at_ms, max_attempts, \
             next_run_at_ms) VALUES ('ecm-import-1', '100001', 'ecm.import', 'succeeded', '{}', $1, 0, 1, 3, 0)",
        )
        .bind(old_output)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, architecture, \
             init_flag, task_id, engine_task_id, created_at_ms, imported, format, size_bytes, virtual_size, sha256, \
             md5, location) VALUES ('img-1', '100001', 'disk', '', 'Linux', '12', 'x86_64', 'none', 1, \
             'ecm-import-1', 0, TRUE, 'qcow2', 5, 1073741824, 'aa', 'bb', '/data/images/img-1.qcow2')",
        )
        .execute(pool)
        .await
        .unwrap();
    });
    let store = open(&url).await.unwrap();
    let result: String = on_pool!(store.reader(), pool => {
        sqlx::query_scalar("SELECT result FROM tg_tasks WHERE id = 'ecm-import-1'").fetch_one(pool).await.unwrap()
    });
    let output: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(output["location"], "/data/images/img-1.qcow2");
    assert_eq!((output["format"].as_str(), output["virtual_size"].as_i64()), (Some("qcow2"), Some(1 << 30)));
    store.close().await;
}

/// A `tcss_clusters` row: id, name, reachable, error, runtime version, TaskId, counts of
/// containers (all, running, paused, stopped) and images.
type ClusterRow = (String, String, bool, Option<String>, String, i64, i64, i64, i64, i64, i64);
/// A `tcss_hosts` row: cluster, id, order, name, IP, cores, OS, memory.
type HostRow = (String, String, i64, String, String, i64, String, i64);

/// The rows of `table` holding `text` in `column` that its trigram index finds (migration
/// `20251201000026`): on SQLite off its FTS5 table, which the upgrade fills with the rows
/// already there; on PostgreSQL with only bitmap scans on, so only an index with a condition the
/// `LIKE` meets (its `pg_trgm` GIN index on `expression`) can answer it. Every name and text here is the test's own.
async fn found_on_trigrams(store: &Store, table: &str, column: &str, expression: &str, text: &str) -> Vec<String> {
    let key = if table == "ecm_images" { "image_id" } else { column };
    let mut tx = store.begin().await.unwrap();
    let found: Vec<String> = taskgate_engine::on_tx!(tx, c => {
        if store.backend() == taskgate_engine::Backend::Postgres {
            for scan in ["seqscan", "indexscan", "indexonlyscan"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL enable_{scan} = off"))).execute(&mut *c).await.unwrap();
            }
            let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN SELECT {key} FROM {table} WHERE {expression} LIKE '%{text}%'"
            )))
            .fetch_all(&mut *c)
            .await
            .unwrap();
            assert!(plan.iter().any(|step| step.contains("_trgm")), "{}", plan.join("\n"));
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {key} FROM {table} WHERE {expression} LIKE '%{text}%' ORDER BY 1"
            )))
                .fetch_all(&mut *c)
                .await
                .unwrap()
        } else {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {key} FROM {table} WHERE rowid IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH \
                 '{column} : \"{text}\"') ORDER BY 1"
            )))
            .fetch_all(&mut *c)
            .await
            .unwrap()
        }
    });
    tx.rollback().await.unwrap();
    found
}

/// Before 2025-11-30 the inventory was kept in `tcss_inventory` beside its refresh task; the
/// upgrade made it that task's output, and then wrote the output of each account's latest
/// succeeded refresh into the inventory tables, every output becoming how much it wrote.
async fn an_inventory_taken_before_the_upgrade_is_in_the_inventory_tables(url: String, backend: &str) {
    apply(&url, released(backend)).await;
    let node = r#"{"name":"node-a","os":"Debian","kernel_version":"6.1","architecture":"x86_64","cpu_count":4,"memory_bytes":8}"#;
    let container = |id: &str, state: &str| {
        format!(r#"{{"id":"{id}","name":"{id}","image":"nginx:1.27","state":"{state}","status":"Up","created_at":7}}"#)
    };
    let latest = format!(
        r#"{{"host":{{"hostname":"h1","os_name":"Debian","os_version":"12","kernel_version":"6.1","cpu_count":2,
            "cpu_brand":"x","memory_bytes":1024,"ips":["10.0.0.1"]}},
           "clusters":[{{"cluster_id":"c-1","name":"edge","reachable":true,"error":null,"runtime_version":"27.1.0",
                         "nodes":[{node}],"containers":[{},{},{}],
                         "images":[{{"id":"sha256:aa","repo_tags":["nginx:1.27","nginx:latest"],"size_bytes":5,
                                     "created_at":3,"containers":2}},
                                   {{"id":"sha256:bb","repo_tags":[],"size_bytes":6,"created_at":4,"containers":-1}}]}},
                        {{"cluster_id":"c-2","name":"gone","reachable":false,"error":"unreachable",
                          "runtime_version":null,"nodes":[],"containers":[],"images":[]}}]}}"#,
        container("web", "running"),
        container("job", "exited"),
        container("web", "paused"),
    );
    let earlier = r#"{"host":{"hostname":"h0"},"clusters":[{"cluster_id":"c-0","name":"old","reachable":true,
                      "nodes":[],"containers":[],"images":[]}]}"#;
    on_pool!(&released_pool(&url).await, pool => {
        for n in [1_i64, 2] {
            sqlx::query(
                "INSERT INTO tg_tasks (id, account, kind, state, input, result, created_at_ms, finished_at_ms, \
                 max_attempts, next_run_at_ms) VALUES ($1, '100001', 'tcss.refresh', 'succeeded', '{}', \
                 '{\"hosts\":1,\"clusters\":0,\"unreachable_clusters\":0}', 0, $2, 3, 0)",
            )
            .bind(format!("tcss-refresh-{n}"))
            .bind(n)
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO tcss_refresh_tasks (account, task_id, new_task_id, engine_task_id, created_at_ms) \
                 VALUES ('100001', $1, $2, $3, 0)",
            )
            .bind(n)
            .bind(format!("n{n}"))
            .bind(format!("tcss-refresh-{n}"))
            .execute(pool)
            .await
            .unwrap();
        }
        // The inventory table kept only the latest; an earlier refresh's output is replaced too.
        sqlx::query("INSERT INTO tcss_inventory (account, task_id, refreshed_at_ms, inventory) VALUES ('100001', 2, 2, $1)")
            .bind(&latest)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE tg_tasks SET result = $1 WHERE id = 'tcss-refresh-1'").bind(earlier).execute(pool).await.unwrap();
        // Another account's output lacks most members: they read as empty.
        sqlx::query(
            "INSERT INTO tg_tasks (id, account, kind, state, input, result, created_at_ms, finished_at_ms, \
             max_attempts, next_run_at_ms) VALUES ('tcss-refresh-9', '100002', 'tcss.refresh', 'succeeded', '{}', $1, \
             0, 1, 3, 0)",
        )
        .bind(r#"{"host":{},"clusters":[{"cluster_id":"c-9","nodes":[{}],"containers":[{"id":"x"}],"images":[{}]}]}"#)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO tcss_refresh_tasks (account, task_id, new_task_id, engine_task_id, created_at_ms) \
             VALUES ('100002', 1, 'n9', 'tcss-refresh-9', 0)",
        )
        .execute(pool)
        .await
        .unwrap();
    });
    let store = open(&url).await.unwrap();
    let (outputs, clusters, hosts, containers, images) = on_pool!(store.reader(), pool => {
        let outputs: Vec<String> = sqlx::query_scalar("SELECT result FROM tg_tasks WHERE kind = 'tcss.refresh' AND account = '100001' ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
        let clusters: Vec<ClusterRow> = sqlx::query_as(
            "SELECT cluster_id, name, reachable, error, runtime_version, task_id, container_cnt, running_cnt, \
             paused_cnt, stopped_cnt, image_cnt FROM tcss_clusters WHERE account = '100001' ORDER BY cluster_id",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let hosts: Vec<HostRow> = sqlx::query_as(
            "SELECT cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, memory_bytes FROM tcss_hosts \
             WHERE account = '100001' ORDER BY cluster_id, ord",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let containers: Vec<(String, i64, String, String, String, i64, String)> = sqlx::query_as(
            "SELECT container_id, ord, container_name, status, docker_status, created_at, host_name FROM tcss_containers \
             WHERE account = '100001' ORDER BY cluster_id, ord",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let images: Vec<(String, i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT image_id, ord, image_name, repo_tags, size_bytes, containers FROM tcss_images \
             WHERE account = '100001' ORDER BY cluster_id, ord",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        (outputs, clusters, hosts, containers, images)
    });
    let outputs: Vec<serde_json::Value> = outputs.iter().map(|o| serde_json::from_str(o).unwrap()).collect();
    assert_eq!(
        outputs,
        [json!({"clusters": 1, "containers": 0, "images": 0}), json!({"clusters": 2, "containers": 3, "images": 2})]
    );
    assert_eq!(
        clusters,
        [
            ("c-1".into(), "edge".into(), true, None, "27.1.0".into(), 2, 2, 1, 0, 1, 2),
            ("c-2".into(), "gone".into(), false, Some("unreachable".into()), String::new(), 2, 0, 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        hosts,
        [
            (String::new(), "host-h1".into(), 0, "h1".into(), "10.0.0.1".into(), 2, "Debian 12".into(), 1024),
            ("c-1".into(), "c-1-node-a".into(), 0, "node-a".into(), String::new(), 4, "Debian".into(), 8),
        ]
    );
    // The second `web` of the cluster is written once, the first.
    assert_eq!(
        containers,
        [
            ("web".into(), 0, "web".into(), "RUNNING".into(), "Up".into(), 7, "node-a".into()),
            ("job".into(), 1, "job".into(), "EXITED".into(), "Up".into(), 7, "node-a".into()),
        ]
    );
    assert_eq!(images[0].0, "sha256:aa");
    assert_eq!((images[0].2.as_str(), images[0].4, images[0].5), ("nginx:1.27", 5, 2));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&images[0].3).unwrap(), json!(["nginx:1.27", "nginx:latest"]));
    assert_eq!((images[1].1, images[1].2.as_str(), images[1].5), (1, "<none>", -1));
    let sparse: (i64, i64, String, i64, String) = on_pool!(store.reader(), pool => {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM tcss_hosts WHERE account = '100002'), \
                    (SELECT container_cnt FROM tcss_clusters WHERE account = '100002'), \
                    (SELECT status FROM tcss_containers WHERE account = '100002'), \
                    (SELECT containers FROM tcss_images WHERE account = '100002'), \
                    (SELECT image_name FROM tcss_images WHERE account = '100002')",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!(sparse, (2, 1, String::new(), -1, "<none>".into()));
    // The substring filters' trigram indexes hold the rows written before them.
    if backend == "sqlite" {
        let names = found_on_trigrams(&store, "tcss_containers", "container_name", "lower(container_name)", "jo").await;
        assert!(names.is_empty(), "two characters make no trigram: {names:?}");
    }
    let names = found_on_trigrams(&store, "tcss_containers", "container_name", "lower(container_name)", "job").await;
    assert_eq!(names, ["job"]);
    let ids = found_on_trigrams(&store, "tcss_images", "image_id", "lower(image_id)", "56:b").await;
    assert_eq!(ids, ["sha256:bb"]);
    store.close().await;
}

#[tokio::test]
async fn a_sqlite_inventory_taken_before_the_upgrade_is_in_the_inventory_tables() {
    an_inventory_taken_before_the_upgrade_is_in_the_inventory_tables(sqlite_url(), "sqlite").await;
}

#[tokio::test]
async fn a_postgres_inventory_taken_before_the_upgrade_is_in_the_inventory_tables() {
    if let Some(url) = postgres_url().await {
        an_inventory_taken_before_the_upgrade_is_in_the_inventory_tables(url, "postgres").await;
    }
}

/// A pool on a database as an earlier release left it, to write rows in its schema.
async fn released_pool(url: &str) -> taskgate_engine::store::Pool {
    if url.starts_with("sqlite:") {
        taskgate_engine::store::Pool::Sqlite(SqlitePool::connect(url).await.unwrap())
    } else {
        taskgate_engine::store::Pool::Postgres(PgPool::connect(url).await.unwrap())
    }
}

#[tokio::test]
async fn a_sqlite_image_imported_before_the_upgrade_keeps_its_facts_in_its_task_output() {
    an_image_imported_before_the_upgrade_keeps_its_facts_in_its_task_output(sqlite_url(), "sqlite").await;
}

#[tokio::test]
async fn a_postgres_image_imported_before_the_upgrade_keeps_its_facts_in_its_task_output() {
    if let Some(url) = postgres_url().await {
        an_image_imported_before_the_upgrade_keeps_its_facts_in_its_task_output(url, "postgres").await;
    }
}

/// The Describe actions match names and OS names lowercased in SQL: the upgrade writes both
/// for the images already there, as the server writes them for new imports.
async fn an_image_imported_before_the_upgrade_is_matched_by_its_lowercased_names(url: String, backend: &str) {
    apply(&url, released(backend)).await;
    on_pool!(&released_pool(&url).await, pool => {
        sqlx::query(
            "INSERT INTO tg_tasks (id, account, kind, state, input, created_at_ms, max_attempts, next_run_at_ms) \
             VALUES ('ecm-import-1', '100001', 'ecm.import', 'failed', '{}', 0, 3, 0)",
        )
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, architecture, \
             init_flag, task_id, engine_task_id, created_at_ms) VALUES ('img-1', '100001', 'My-Disk', '', 'CentOS', \
             '7.9', 'i386', 'cloudinit', 1, 'ecm-import-1', 0)",
        )
        .execute(pool)
        .await
        .unwrap();
    });
    let store = open(&url).await.unwrap();
    let folded: (String, String) = on_pool!(store.reader(), pool => {
        sqlx::query_as("SELECT image_name_folded, os_name_folded FROM ecm_images WHERE image_id = 'img-1'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(folded, ("my-disk".to_owned(), "centos 7.9 32位".to_owned()));
    // The substring filters' trigram indexes hold the images there before them.
    let found = found_on_trigrams(&store, "ecm_images", "image_name_folded", "image_name_folded", "y-d").await;
    assert_eq!(found, ["img-1"]);
    let found = found_on_trigrams(&store, "ecm_images", "os_name_folded", "os_name_folded", "32位").await;
    assert_eq!(found, ["img-1"]);
    store.close().await;
}

#[tokio::test]
async fn a_sqlite_image_imported_before_the_upgrade_is_matched_by_its_lowercased_names() {
    an_image_imported_before_the_upgrade_is_matched_by_its_lowercased_names(sqlite_url(), "sqlite").await;
}

#[tokio::test]
async fn a_postgres_image_imported_before_the_upgrade_is_matched_by_its_lowercased_names() {
    if let Some(url) = postgres_url().await {
        an_image_imported_before_the_upgrade_is_matched_by_its_lowercased_names(url, "postgres").await;
    }
}

async fn a_fresh_database_opens_and_is_usable(url: String) {
    let store = open(&url).await.unwrap();
    assert_usable(&store).await;
}

async fn a_migration_edited_after_release_is_refused(url: String, backend: &str) {
    apply(&url, edited_by_hand(backend)).await;
    let refused = open(&url).await.err();
    assert!(matches!(refused, Some(StoreError::Migrate(MigrateError::VersionMismatch(20250301000003)))), "{refused:?}");
}

#[tokio::test]
async fn a_released_sqlite_database_opens_and_stays_usable() {
    a_released_database_opens_and_stays_usable(sqlite_url(), "sqlite").await;
}

#[tokio::test]
async fn a_released_postgres_database_opens_and_stays_usable() {
    if let Some(url) = postgres_url().await {
        a_released_database_opens_and_stays_usable(url, "postgres").await;
    }
}

#[tokio::test]
async fn a_fresh_sqlite_database_opens_and_is_usable() {
    a_fresh_database_opens_and_is_usable(sqlite_url()).await;
}

#[tokio::test]
async fn a_fresh_postgres_database_opens_and_is_usable() {
    if let Some(url) = postgres_url().await {
        a_fresh_database_opens_and_is_usable(url).await;
    }
}

#[tokio::test]
async fn a_sqlite_migration_edited_after_release_is_refused() {
    a_migration_edited_after_release_is_refused(sqlite_url(), "sqlite").await;
}

#[tokio::test]
async fn a_postgres_migration_edited_after_release_is_refused() {
    if let Some(url) = postgres_url().await {
        a_migration_edited_after_release_is_refused(url, "postgres").await;
    }
}
