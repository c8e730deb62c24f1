//! Schema migrations, in sets: the engine's own ([`ENGINE`]) and each user's (taskgate's product
//! tables), all applied by [`Store::open`](crate::Store::open).
//!
//! A set is a hand-written `const` table of `include_str!`s rather than a build script's scan of
//! a directory: each entry states whether it is one text for both backends or one per backend,
//! and which earlier texts it replaced, next to the file it names; a test of each set checks the
//! table lists exactly the files of its directory ([`MigrationSet::file_names`]).
//!
//! Files are named `<version>_<description>.sql` when one text serves both backends (SQLite
//! accepts `BIGINT` and `BOOLEAN`), `<version>_<description>.{sqlite,postgres}.sql` when the
//! dialects differ.

use std::collections::{BTreeSet, HashMap};

use sqlx::{
    SqlSafeStr as _,
    migrate::{Migration, MigrationType},
};

use crate::backend::Backend;

/// The text of one migration.
#[derive(Debug, Clone, Copy)]
pub enum MigrationSql {
    /// One text for both backends.
    Shared(&'static str),
    /// Dialect-specific texts.
    PerBackend { sqlite: &'static str, postgres: &'static str },
}

/// One migration. Once released, its text may change only if every earlier text is listed in
/// `replaced_*`, so databases that applied one still open.
#[derive(Debug, Clone, Copy)]
pub struct SchemaMigration {
    /// Unique across all sets; migrations apply in version order.
    pub version: i64,
    pub description: &'static str,
    pub sql: MigrationSql,
    /// SHA-384 checksums (lowercase hex, as sqlx computes them) of earlier SQLite texts.
    pub replaced_sqlite: &'static [&'static str],
    /// SHA-384 checksums (lowercase hex) of earlier PostgreSQL texts.
    pub replaced_postgres: &'static [&'static str],
}

impl SchemaMigration {
    /// A migration whose text serves both backends.
    pub const fn shared(version: i64, description: &'static str, sql: &'static str) -> Self {
        Self { version, description, sql: MigrationSql::Shared(sql), replaced_sqlite: &[], replaced_postgres: &[] }
    }

    /// A migration with one text per dialect.
    pub const fn per_backend(
        version: i64,
        description: &'static str,
        sqlite: &'static str,
        postgres: &'static str,
    ) -> Self {
        Self {
            version,
            description,
            sql: MigrationSql::PerBackend { sqlite, postgres },
            replaced_sqlite: &[],
            replaced_postgres: &[],
        }
    }

    /// Accepts databases that applied an earlier text with one of these checksums (hex SHA-384).
    pub const fn replacing(mut self, sqlite: &'static [&'static str], postgres: &'static [&'static str]) -> Self {
        self.replaced_sqlite = sqlite;
        self.replaced_postgres = postgres;
        self
    }

    /// The names of the files this entry embeds, relative to its directory.
    pub fn file_names(&self) -> Vec<String> {
        let stem = format!("{}_{}", self.version, self.description);
        match self.sql {
            MigrationSql::Shared(_) => vec![format!("{stem}.sql")],
            MigrationSql::PerBackend { .. } => vec![format!("{stem}.sqlite.sql"), format!("{stem}.postgres.sql")],
        }
    }

    fn text(&self, backend: Backend) -> &'static str {
        match (self.sql, backend) {
            (MigrationSql::Shared(sql), _) => sql,
            (MigrationSql::PerBackend { sqlite, .. }, Backend::Sqlite) => sqlite,
            (MigrationSql::PerBackend { postgres, .. }, Backend::Postgres) => postgres,
        }
    }

    fn replaced(&self, backend: Backend) -> &'static [&'static str] {
        match backend {
            Backend::Sqlite => self.replaced_sqlite,
            Backend::Postgres => self.replaced_postgres,
        }
    }

    /// The sqlx migration for `backend`. When the database applied an earlier text this entry
    /// lists (`applied` is that checksum), it carries that checksum, so sqlx accepts the
    /// database; any other mismatch is left for sqlx to refuse.
    pub(crate) fn for_sqlx(&self, backend: Backend, applied: Option<&[u8]>) -> Migration {
        let mut migration = Migration::new(
            self.version,
            self.description.into(),
            MigrationType::Simple,
            self.text(backend).into_sql_str(),
            false,
        );
        if let Some(applied) = applied
            && *applied != *migration.checksum
            && self.replaced(backend).iter().any(|known| hex(applied).eq_ignore_ascii_case(known))
        {
            migration.checksum = applied.to_vec().into();
        }
        migration
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A named list of migrations, e.g. the engine's or a product's.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSet {
    pub name: &'static str,
    pub migrations: &'static [SchemaMigration],
}

impl MigrationSet {
    /// Every file the set embeds, to compare with its directory.
    pub fn file_names(&self) -> BTreeSet<String> {
        self.migrations.iter().flat_map(SchemaMigration::file_names).collect()
    }
}

/// The engine's tables: tasks, outbox (with its delivery attempts), object expiry, idempotency,
/// v1 nonces.
pub const ENGINE: MigrationSet = MigrationSet {
    name: "engine",
    migrations: &[
        SchemaMigration::shared(20250101000001, "engine", include_str!("../migrations/20250101000001_engine.sql"))
            .replacing(
                &["2382ba0440a5865340ef5a08bfe4e3ce7308807e8b64aacf0324ebf908e46fdc9834bee94d87f3139231544255c18357"],
                &[],
            ),
        SchemaMigration::shared(
            20251130000001,
            "v1_nonces",
            include_str!("../migrations/20251130000001_v1_nonces.sql"),
        ),
        SchemaMigration::shared(
            20251130000002,
            "tasks_without_callback_url",
            include_str!("../migrations/20251130000002_tasks_without_callback_url.sql"),
        ),
        SchemaMigration::shared(
            20251130000003,
            "outbox_attempts",
            include_str!("../migrations/20251130000003_outbox_attempts.sql"),
        ),
        SchemaMigration::shared(
            20251130000004,
            "task_directives",
            include_str!("../migrations/20251130000004_task_directives.sql"),
        ),
        SchemaMigration::shared(
            20251201000023,
            "fair_claims",
            include_str!("../migrations/20251201000023_fair_claims.sql"),
        ),
        SchemaMigration::shared(
            20251201000024,
            "outbox_accounts",
            include_str!("../migrations/20251201000024_outbox_accounts.sql"),
        ),
    ],
};

/// The sqlx migrations of the engine's set and `sets` for `backend`, in version order, given the
/// checksums the database recorded per applied version.
pub(crate) fn plan(
    sets: &[&MigrationSet],
    backend: Backend,
    applied: &HashMap<i64, Vec<u8>>,
) -> Result<Vec<Migration>, DuplicateVersion> {
    let mut seen = HashMap::new();
    let mut migrations = Vec::new();
    for set in std::iter::once(&&ENGINE).chain(sets) {
        for migration in set.migrations {
            if let Some(first) = seen.insert(migration.version, set.name) {
                return Err(DuplicateVersion { version: migration.version, first, second: set.name });
            }
            migrations.push(migration.for_sqlx(backend, applied.get(&migration.version).map(Vec::as_slice)));
        }
    }
    migrations.sort_by_key(|m| m.version);
    Ok(migrations)
}

/// Two sets define the same version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("migration {version} is defined by both {first} and {second}")]
pub struct DuplicateVersion {
    pub version: i64,
    pub first: &'static str,
    pub second: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlx's checksum of `sql`.
    fn checksum(sql: &'static str) -> Vec<u8> {
        Migration::new(1, "any".into(), MigrationType::Simple, sql.into_sql_str(), false).checksum.into_owned()
    }

    #[test]
    fn the_engine_set_lists_exactly_the_files_of_its_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let files: BTreeSet<String> =
            std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(ENGINE.file_names(), files);
    }

    #[test]
    fn an_earlier_text_the_entry_lists_keeps_its_recorded_checksum() {
        let entry = ENGINE.migrations[0];
        let recorded = checksum("-- the 2025 SQLite text");
        let known: &'static str = hex(&recorded).leak();
        let listed = SchemaMigration { replaced_sqlite: Vec::leak(vec![known]), ..entry };
        assert_eq!(*listed.for_sqlx(Backend::Sqlite, Some(&recorded)).checksum, *recorded);
        assert_ne!(*listed.for_sqlx(Backend::Postgres, Some(&recorded)).checksum, *recorded, "SQLite's list only");
    }

    #[test]
    fn an_unknown_earlier_text_keeps_the_current_checksum_for_sqlx_to_refuse() {
        let entry = ENGINE.migrations[0];
        let recorded = checksum("-- edited by hand");
        let current = checksum(entry.text(Backend::Sqlite));
        assert_eq!(*entry.for_sqlx(Backend::Sqlite, Some(&recorded)).checksum, *current);
    }

    #[test]
    fn a_version_defined_twice_is_refused() {
        const AGAIN: MigrationSet = MigrationSet {
            name: "again",
            migrations: &[SchemaMigration::shared(20251130000001, "again", "SELECT 1;")],
        };
        let error = plan(&[&AGAIN], Backend::Sqlite, &HashMap::new()).unwrap_err();
        assert_eq!(error, DuplicateVersion { version: 20251130000001, first: "engine", second: "again" });
    }
}
