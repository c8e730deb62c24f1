//! ecm rows: images and their import tasks (one task per image), and the task id counter.

use super::task::{Import, ImportInput, ImportProgress, ImportedImage};
use super::vocab::{Architecture, InitFlag};
use rand::RngExt;
use sqlx::QueryBuilder;
use taskgate_engine::{Engine, EngineError, NewTask, Store, StoreError, TaskState, like_containing, on_pool, on_tx};

#[derive(Debug, thiserror::Error)]
pub enum EcmStoreError {
    #[error("an image named `{0}` already exists")]
    DuplicateName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("stored ecm data is unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for EcmStoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

/// What the user declared about an image when importing it.
#[derive(Debug, Clone)]
pub(super) struct ImageSpec {
    pub image_name: String,
    pub description: String,
    pub os_type: String,
    pub os_version: String,
    pub architecture: Architecture,
    pub init_flag: InitFlag,
}

impl ImageSpec {
    /// `ImageOsName` of DescribeImage: type, version and word size, e.g. `CentOS 7.9 64位`.
    pub(super) fn os_name(&self) -> String {
        format!("{} {} {}位", self.os_type, self.os_version, self.architecture.bits())
    }
}

/// What ImportCustomImage registers.
#[derive(Debug, Clone)]
pub(super) struct NewImage {
    pub account: String,
    pub spec: ImageSpec,
    pub urls: Vec<String>,
}

/// An image with the state of its import task.
#[derive(Debug, Clone)]
pub(super) struct ImageRow {
    pub image_id: String,
    pub spec: ImageSpec,
    pub task_id: i64,
    pub created_at_ms: i64,
    pub task_state: TaskState,
    pub task_error: Option<String>,
    pub task_progress: Option<ImportProgress>,
    /// What the import found, once it succeeded.
    pub imported: Option<ImportedImage>,
}

fn new_image_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    format!("img-{suffix}")
}

/// Registers the image and its import task in one transaction. A failed earlier import of
/// the same name gives way, so a user can simply import again.
pub(super) async fn create_import(
    engine: &Engine,
    image: NewImage,
    now_ms: i64,
) -> Result<(String, i64), EcmStoreError> {
    let mut tx = engine.store().begin().await?;
    let task_id: i64 = on_tx!(tx, c => {
        sqlx::query_scalar(
            "INSERT INTO ecm_counters (name, value) VALUES ('import_task', 1) \
             ON CONFLICT (name) DO UPDATE SET value = ecm_counters.value + 1 RETURNING value",
        )
        .fetch_one(c)
        .await?
    });
    let existing: Option<String> = on_tx!(tx, c => {
        sqlx::query_scalar(
            "SELECT t.state FROM ecm_images i JOIN tg_tasks t ON t.id = i.engine_task_id \
             WHERE i.account = $1 AND i.image_name = $2",
        )
        .bind(&image.account)
        .bind(&image.spec.image_name)
        .fetch_optional(c)
        .await?
    });
    match existing.as_deref().and_then(TaskState::parse) {
        Some(TaskState::Failed | TaskState::Cancelled) => on_tx!(tx, c => {
            sqlx::query("DELETE FROM ecm_images WHERE account = $1 AND image_name = $2")
                .bind(&image.account)
                .bind(&image.spec.image_name)
                .execute(c)
                .await?;
        }),
        Some(_) => {
            tx.rollback().await?;
            return Err(EcmStoreError::DuplicateName(image.spec.image_name));
        }
        None => {}
    }
    let image_id = new_image_id();
    let engine_task_id = format!("ecm-import-{task_id}");
    let input = ImportInput { task_id, image_id: image_id.clone(), urls: image.urls.clone() };
    let task = NewTask::of::<Import>(engine_task_id.clone(), image.account.clone(), &input)
        .map_err(|e| EcmStoreError::Corrupt(e.to_string()))?;
    engine.submit_in(&mut tx, task).await?;
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO ecm_images (image_id, account, image_name, description, os_type, os_version, architecture, \
             init_flag, task_id, engine_task_id, created_at_ms, image_name_folded, os_name_folded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&image_id)
        .bind(&image.account)
        .bind(&image.spec.image_name)
        .bind(&image.spec.description)
        .bind(&image.spec.os_type)
        .bind(&image.spec.os_version)
        .bind(image.spec.architecture.as_str())
        .bind(image.spec.init_flag.as_str())
        .bind(task_id)
        .bind(&engine_task_id)
        .bind(now_ms)
        .bind(image.spec.image_name.to_lowercase())
        .bind(image.spec.os_name().to_lowercase())
        .execute(c)
        .await?;
    });
    tx.commit().await?;
    Ok((image_id, task_id))
}

type ImageTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A stored JSON document of the task, typed.
fn decoded<T: serde::de::DeserializeOwned>(what: &str, json: Option<&str>) -> Result<Option<T>, EcmStoreError> {
    json.map(|text| serde_json::from_str(text).map_err(|e| EcmStoreError::Corrupt(format!("import {what}: {e}"))))
        .transpose()
}

fn image_row(t: ImageTuple) -> Result<ImageRow, EcmStoreError> {
    let task_state = TaskState::parse(&t.9).ok_or_else(|| EcmStoreError::Corrupt(format!("task state {:?}", t.9)))?;
    // Only a success has an output (the engine writes the result with the success).
    let imported = if task_state == TaskState::Succeeded { decoded("output", t.12.as_deref())? } else { None };
    Ok(ImageRow {
        image_id: t.0,
        spec: ImageSpec {
            image_name: t.1,
            description: t.2,
            os_type: t.3,
            os_version: t.4,
            architecture: Architecture::parse(&t.5)
                .ok_or_else(|| EcmStoreError::Corrupt(format!("architecture {:?}", t.5)))?,
            init_flag: InitFlag::parse(&t.6).ok_or_else(|| EcmStoreError::Corrupt(format!("init flag {:?}", t.6)))?,
        },
        task_id: t.7,
        created_at_ms: t.8,
        task_state,
        task_error: t.10,
        // Progress is informative: one that does not read is no reason to fail a listing.
        task_progress: t.11.as_deref().and_then(|p| serde_json::from_str(p).ok()),
        imported,
    })
}

/// One condition of a list over an account's images; a list returns the images meeting every
/// condition given. Each is answered in SQL, on the indexes of `20251130000012_ecm_list_indexes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ImageCondition {
    /// The import task id is one of these.
    TaskId(Vec<i64>),
    /// The image id is one of these.
    ImageId(Vec<String>),
    /// The name is exactly one of these.
    Name(Vec<String>),
    /// The name, lowercased, contains this lowercased text.
    NameContains(String),
    /// [`ImageSpec::os_name`], lowercased, contains this lowercased text.
    OsNameContains(String),
    /// No image qualifies (a filter naming only kinds of image this account cannot hold).
    Nothing,
}

/// Which rows of a list to return: `limit` rows after the first `offset`, both at least 0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// Appends ` WHERE` and the SQL of `conditions` over `ecm_images i` of `account`, every value bound.
fn push_conditions<DB>(query: &mut QueryBuilder<DB>, account: &str, conditions: &[ImageCondition])
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    // On SQLite the FTS5 table's rowids drive a query with a trigram narrowing: the account's own
    // indexes are kept out of its plan (`+`), which SQLite would otherwise walk whole, testing
    // each image against the trigram matches, when it has no statistics (the server never runs
    // ANALYZE).
    let on_trigrams = DB::NAME == "SQLite"
        && conditions.iter().any(|condition| match condition {
            ImageCondition::NameContains(text) | ImageCondition::OsNameContains(text) => {
                text.chars().count() >= TRIGRAM
            }
            _ => false,
        });
    query.push(if on_trigrams { " WHERE +i.account = " } else { " WHERE i.account = " });
    query.push_bind(account.to_owned());
    for condition in conditions {
        match condition {
            ImageCondition::TaskId(ids) => push_in(query, "i.task_id", ids.iter().copied()),
            ImageCondition::ImageId(ids) => push_in(query, "i.image_id", ids.iter().cloned()),
            ImageCondition::Name(names) => push_in(query, "i.image_name", names.iter().cloned()),
            ImageCondition::NameContains(text) => push_contains(query, "image_name_folded", text),
            ImageCondition::OsNameContains(text) => push_contains(query, "os_name_folded", text),
            ImageCondition::Nothing => {
                query.push(" AND 1 = 0");
            }
        }
    }
}

/// The fewest characters a substring needs for the trigram index of its column (migration
/// `20251201000026`) to find it; a shorter one is matched against each of the account's images.
pub(super) const TRIGRAM: usize = 3;

/// Appends ` AND` the folded `column` (of `ecm_images i`) containing `text`. With at least
/// [`TRIGRAM`] characters the trigram index narrows it: on SQLite to the rowids the FTS5 table
/// `ecm_images_fts` finds (its folding is wider, so the `LIKE` still decides), on PostgreSQL by
/// the planner's use of the `pg_trgm` GIN index for the `LIKE`. A shorter text on PostgreSQL
/// is `strpos`, which no index serves, so the planner reads the account's images rather than
/// every entry of the GIN index.
fn push_contains<DB>(query: &mut QueryBuilder<DB>, column: &'static str, text: &str)
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let long = text.chars().count() >= TRIGRAM;
    if DB::NAME == "SQLite" && long {
        // A quoted FTS5 string (a quote doubled) is the run of its trigrams.
        let phrase = format!("{column} : \"{}\"", text.replace('"', "\"\""));
        query.push(" AND i.rowid IN (SELECT rowid FROM ecm_images_fts WHERE ecm_images_fts MATCH ");
        query.push_bind(phrase).push(")");
    }
    if DB::NAME == "SQLite" || long {
        query.push(" AND i.").push(column).push(" LIKE ").push_bind(like_containing(text)).push(" ESCAPE '\\'");
    } else {
        query.push(" AND strpos(i.").push(column).push(", ").push_bind(text.to_owned()).push(") > 0");
    }
}

/// Appends ` AND column IN (…)` with every value bound; no values matches nothing.
fn push_in<DB, T>(query: &mut QueryBuilder<DB>, column: &'static str, values: impl Iterator<Item = T>)
where
    DB: sqlx::Database,
    for<'t> T: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut values = values.peekable();
    if values.peek().is_none() {
        query.push(" AND 1 = 0");
        return;
    }
    query.push(" AND ").push(column).push(" IN (");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

const SELECT_IMAGES: &str = "SELECT i.image_id, i.image_name, i.description, i.os_type, i.os_version, i.architecture, \
     i.init_flag, i.task_id, i.created_at_ms, t.state, t.error, t.progress, t.result \
     FROM ecm_images i JOIN tg_tasks t ON t.id = i.engine_task_id";

/// Appends the list query: the account's images meeting every condition with their tasks,
/// newest first (by task id, which the counter hands out in order), the rows of `page` only if
/// given.
pub(super) fn push_images_query<DB>(
    query: &mut QueryBuilder<DB>,
    account: &str,
    conditions: &[ImageCondition],
    page: Option<Page>,
) where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push(SELECT_IMAGES);
    push_conditions(query, account, conditions);
    query.push(" ORDER BY i.task_id DESC");
    if let Some(page) = page {
        query.push(" LIMIT ").push_bind(page.limit).push(" OFFSET ").push_bind(page.offset);
    }
}

/// Appends the count query: how many of the account's images meet every condition.
pub(super) fn push_count_query<DB>(query: &mut QueryBuilder<DB>, account: &str, conditions: &[ImageCondition])
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push("SELECT COUNT(*) FROM ecm_images i");
    push_conditions(query, account, conditions);
}

/// The account's images meeting every condition, newest first, with their tasks.
///
/// Without a page every match is returned: callers pass one only with conditions on unique keys
/// (task id, image id, name), whose matches are at most the values the request named.
pub(super) async fn list_images(
    store: &Store,
    account: &str,
    conditions: &[ImageCondition],
    page: Option<Page>,
) -> Result<Vec<ImageRow>, EcmStoreError> {
    let rows: Vec<ImageTuple> = on_pool!(store.reader(), p => {
        let mut query = QueryBuilder::default();
        push_images_query(&mut query, account, conditions, page);
        query.build_query_as().fetch_all(p).await?
    });
    rows.into_iter().map(image_row).collect()
}

/// How many of the account's images meet every condition (`TotalCount` of a paged list).
pub(super) async fn count_images(
    store: &Store,
    account: &str,
    conditions: &[ImageCondition],
) -> Result<i64, EcmStoreError> {
    Ok(on_pool!(store.reader(), p => {
        let mut query = QueryBuilder::default();
        push_count_query(&mut query, account, conditions);
        query.build_query_scalar().fetch_one(p).await?
    }))
}
