//! The product tables (tcss, ecm, tiw), applied by [`Store::open`](taskgate_engine::Store::open)
//! after the engine's own. A hand-written table rather than a build script, for the reasons in
//! [`taskgate_engine::migrations`]; the test below keeps it in step with `migrations/`.

use taskgate_engine::{MigrationSet, SchemaMigration};

/// Every product's migrations.
pub const PRODUCTS: MigrationSet = MigrationSet {
    name: "taskgate products",
    migrations: &[
        SchemaMigration::shared(20250301000001, "tcss", include_str!("../migrations/20250301000001_tcss.sql"))
            .replacing(
                &["dd7e73d86db6901b13e0403bd492f4131e0e9708a3fef6be69db7c4d9486624228475fcd9ae6e7ba0017b3ac3a035d8c"],
                &[],
            ),
        SchemaMigration::shared(20250301000002, "ecm", include_str!("../migrations/20250301000002_ecm.sql")).replacing(
            &["6c46fe62d1e21d347a8e6b04644aebd944de1c55f6c39e97fa9615399b8b4e5a2e4d12824e7be729439d0ddfab1a39a8"],
            &["5f7e7b74c6a7e4327b3ebe2a1a3d4d9d633ad675911b5a0a2e834e15fe62ee7d249a55148c41398635ad4c8a10fe589f"],
        ),
        SchemaMigration::shared(20250301000003, "tiw", include_str!("../migrations/20250301000003_tiw.sql")).replacing(
            &["a34892d5fc8963c6c07510e54b0abdb33e27485a3bbbfcddeaaddf1d3f0bbf3580dbcd129260e377c3b7c2aafdbe1283"],
            &[],
        ),
        // SQLite's `sdk_app_id INTEGER PRIMARY KEY` is a rowid alias (integers only, never NULL);
        // `BIGINT PRIMARY KEY` would not be, so the dialects keep their own texts.
        SchemaMigration::per_backend(
            20250301000004,
            "tiw_push",
            include_str!("../migrations/20250301000004_tiw_push.sqlite.sql"),
            include_str!("../migrations/20250301000004_tiw_push.postgres.sql"),
        ),
        // Byte lengths: `length(CAST(… AS BLOB))` on SQLite, `octet_length` on PostgreSQL.
        SchemaMigration::per_backend(
            20250301000005,
            "tiw_room_quota",
            include_str!("../migrations/20250301000005_tiw_room_quota.sqlite.sql"),
            include_str!("../migrations/20250301000005_tiw_room_quota.postgres.sql"),
        ),
        // JSON editing: `json_set` on SQLite, `jsonb_set` on PostgreSQL; SQLite drops one column
        // per statement.
        SchemaMigration::per_backend(
            20251130000010,
            "ecm_output_in_the_task",
            include_str!("../migrations/20251130000010_ecm_output_in_the_task.sqlite.sql"),
            include_str!("../migrations/20251130000010_ecm_output_in_the_task.postgres.sql"),
        ),
        SchemaMigration::shared(
            20251130000011,
            "tcss_inventory_in_the_task",
            include_str!("../migrations/20251130000011_tcss_inventory_in_the_task.sql"),
        ),
        SchemaMigration::shared(
            20251130000012,
            "ecm_list_indexes",
            include_str!("../migrations/20251130000012_ecm_list_indexes.sql"),
        ),
        SchemaMigration::shared(
            20251201000018,
            "gateway_rate_limits",
            include_str!("../migrations/20251201000018_gateway_rate_limits.sql"),
        ),
        SchemaMigration::shared(
            20251201000020,
            "tiw_transcodes",
            include_str!("../migrations/20251201000020_tiw_transcodes.sql"),
        ),
        SchemaMigration::shared(
            20251201000021,
            "tiw_checkpoints",
            include_str!("../migrations/20251201000021_tiw_checkpoints.sql"),
        ),
        // JSON: `json_each` on SQLite, `jsonb_array_elements` on PostgreSQL, whose text columns
        // also compare byte by byte (`COLLATE "C"`) as SQLite's do.
        SchemaMigration::per_backend(
            20251201000025,
            "tcss_inventory_tables",
            include_str!("../migrations/20251201000025_tcss_inventory_tables.sqlite.sql"),
            include_str!("../migrations/20251201000025_tcss_inventory_tables.postgres.sql"),
        ),
        // Substring filters on trigram indexes: FTS5 tables kept by triggers on SQLite, `pg_trgm`
        // GIN indexes on PostgreSQL.
        SchemaMigration::per_backend(
            20251201000026,
            "list_substring_indexes",
            include_str!("../migrations/20251201000026_list_substring_indexes.sqlite.sql"),
            include_str!("../migrations/20251201000026_list_substring_indexes.postgres.sql"),
        ),
    ],
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::PRODUCTS;

    #[test]
    fn the_product_set_lists_exactly_the_files_of_its_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let files: BTreeSet<String> =
            std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(PRODUCTS.file_names(), files);
    }
}
