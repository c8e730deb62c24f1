//! Helpers for tests and benchmarks (the `testing` feature): external services a run may
//! require, and PostgreSQL schemas of their own so runs never share tables.

use crate::{
    migrations::MigrationSet,
    store::{Store, StoreError, StoreOptions},
};

/// Set to `1` (as `scripts/test` does), or `CI=true`, to make an unset service variable a
/// failure instead of a skip.
pub const REQUIRE_SERVICES_ENV: &str = "TASKGATE_TEST_REQUIRE_SERVICES";

/// The value of `var`, naming an external service (a database URL, an S3 endpoint). When it is
/// unset the caller skips (this says so on stderr), unless services are required.
///
/// # Panics
/// When `var` is unset and `TASKGATE_TEST_REQUIRE_SERVICES=1` or `CI=true`.
#[track_caller]
pub fn service(var: &str) -> Option<String> {
    if let Ok(value) = std::env::var(var) {
        return Some(value);
    }
    let required =
        std::env::var(REQUIRE_SERVICES_ENV).is_ok_and(|v| v == "1") || std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!required, "{var} is unset but this run requires its service ({REQUIRE_SERVICES_ENV}=1 or CI=true)");
    eprintln!("skipped: {var} unset");
    None
}

/// A PostgreSQL schema of one test or benchmark run.
#[derive(Debug, Clone)]
pub struct PostgresSchema {
    pub name: String,
    /// The database's URL with `search_path` set to the schema.
    pub url: String,
}

impl PostgresSchema {
    /// Drops the schema and everything in it, connecting through `base_url`.
    ///
    /// # Errors
    /// When the database cannot be reached or the schema not dropped.
    pub async fn drop(&self, base_url: &str) -> Result<(), StoreError> {
        admin(base_url, &format!("DROP SCHEMA {} CASCADE", self.name)).await
    }
}

async fn admin(base_url: &str, statement: &str) -> Result<(), StoreError> {
    let pool = sqlx::PgPool::connect(base_url).await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&pool).await;
    pool.close().await;
    done?;
    Ok(())
}

/// Creates a schema with a random name in the PostgreSQL database at `base_url`.
///
/// # Errors
/// When the database cannot be reached or the schema not created.
pub async fn fresh_postgres_schema(base_url: &str) -> Result<PostgresSchema, StoreError> {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin(base_url, &format!("CREATE SCHEMA {name}")).await?;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{name}");
    Ok(PostgresSchema { name, url })
}

impl Store {
    /// Opens the PostgreSQL database at `base_url` in a fresh schema (see
    /// [`fresh_postgres_schema`]), migrated; returns the store and its schema.
    ///
    /// # Errors
    /// As [`fresh_postgres_schema`] and [`Store::open`].
    pub async fn open_in_fresh_schema(
        base_url: &str,
        options: &StoreOptions,
        migrations: &[&MigrationSet],
    ) -> Result<(Store, PostgresSchema), StoreError> {
        let schema = fresh_postgres_schema(base_url).await?;
        Ok((Store::open(&schema.url, options, migrations).await?, schema))
    }
}

/// Gathers planner statistics after a bulk load, as autovacuum would: `VACUUM ANALYZE tables`
/// on PostgreSQL (the vacuum also moves GIN indexes' pending entries into the indexes, which a
/// planner otherwise counts as a cost of using them), `ANALYZE` on SQLite. PostgreSQL samples
/// 300 × 1,000 rows here instead of its default 30,000, so on tables of up to 300,000 rows the
/// estimates, and so a test's plans, are the same on every run.
///
/// # Errors
/// The store's, as [`StoreError`].
pub async fn analyze_after_load(store: &Store, tables: &[&str]) -> Result<(), StoreError> {
    let postgres = store.backend() == crate::Backend::Postgres;
    let analyze = if postgres { format!("VACUUM ANALYZE {}", tables.join(", ")) } else { "ANALYZE".to_owned() };
    crate::on_pool!(store.writer(), p => {
        let mut c = p.acquire().await?;
        if postgres {
            sqlx::query("SET default_statistics_target = 1000").execute(&mut *c).await?;
        }
        // Table names from the calling test, not from input.
        sqlx::query(sqlx::AssertSqlSafe(analyze.as_str())).execute(&mut *c).await?;
    });
    Ok(())
}
