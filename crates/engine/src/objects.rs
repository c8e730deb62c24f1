//! Object storage for task outputs: the "public bucket" (a directory of this node served
//! read-only by the HTTP layer at `{public_url}/files/{key}`, or an S3 bucket every node
//! shares), swept after a retention period recorded in the database, and S3-compatible
//! endpoints (Tencent COS is one) chosen by a request's COS parameters.

use std::{
    collections::HashMap,
    path::{Path as FsPath, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use object_store::{
    ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path,
};
use sqlx::Row as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, SystemClock, duration_ms},
    on_pool,
    store::{Store, StoreError},
};

/// One S3-compatible endpoint serving the buckets of a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Endpoint {
    /// The COS/S3 region this endpoint serves, e.g. `ap-guangzhou`.
    pub region: String,
    /// e.g. `https://cos.ap-guangzhou.myqcloud.com` or `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `true`: `{endpoint}/{bucket}/{key}`; `false`: `{bucket}.{endpoint host}/{key}`.
    pub path_style: bool,
    pub allow_http: bool,
}

/// Where the public bucket (task results handed out as URLs: snapshots, push streams) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicBucket {
    /// A directory of this node; its objects are at `{public_url}/files/{key}`, served only
    /// by this node.
    Local { dir: PathBuf, public_url: String },
    /// A bucket on one of the [`S3Endpoint`]s, shared by every node.
    S3 {
        /// Names the endpoint (`S3Endpoint::region`).
        region: String,
        bucket: String,
        /// Key prefix of every public object, e.g. `taskgate`; `""` for none.
        prefix: String,
        /// How clients reach the bucket's objects: an object is at `{base_url}/{key}`, the
        /// key including `prefix`. The S3 endpoint's bucket URL, a CDN, or a node's
        /// `{public_url}/files` (every node serves the bucket there).
        base_url: String,
    },
}

#[derive(Debug, Clone)]
pub struct ObjectsConfig {
    pub public: PublicBucket,
    /// How long public objects live.
    pub retention: Duration,
    pub sweep_interval: Duration,
    pub s3: Vec<S3Endpoint>,
}

impl ObjectsConfig {
    /// A local public bucket in `local_dir`, served at `{public_url}/files`.
    pub fn new(local_dir: impl Into<PathBuf>, public_url: impl Into<String>) -> Self {
        Self::with_public(PublicBucket::Local { dir: local_dir.into(), public_url: public_url.into() })
    }

    pub fn with_public(public: PublicBucket) -> Self {
        Self {
            public,
            retention: Duration::from_secs(3 * 24 * 3600),
            sweep_interval: Duration::from_secs(60),
            s3: Vec::new(),
        }
    }
}

/// A product request's COS parameter; serde so a task input can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CosTarget {
    pub bucket: String,
    pub region: String,
    pub target_dir: Option<String>,
    /// A CDN domain to use in returned URLs instead of the endpoint's.
    pub domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("no storage endpoint is configured for region {0:?}")]
    UnknownRegion(String),
    #[error("invalid bucket name {0:?}")]
    InvalidBucket(String),
    #[error("invalid target directory {dir:?}: {reason}")]
    InvalidTargetDir { dir: String, reason: &'static str },
    #[error("invalid object name {0:?}")]
    InvalidName(String),
    #[error("invalid endpoint URL {0:?}")]
    InvalidEndpoint(String),
    #[error("object storage: {0}")]
    Backend(#[from] object_store::Error),
    #[error("reading the object's content failed: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("local bucket directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a task writes its objects: a store, a key prefix, and how keys become URLs.
#[derive(Debug, Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: Vec<String>,
    url_base: String,
    /// Objects of the public bucket expire; customer buckets are the customer's.
    expires: bool,
}

impl Destination {
    /// A destination `sub` levels deeper, e.g. per task id.
    pub fn join(&self, sub: &str) -> Result<Self, ObjectsError> {
        let mut d = self.clone();
        d.prefix.extend(
            relative_segments(sub).map_err(|reason| ObjectsError::InvalidTargetDir { dir: sub.into(), reason })?,
        );
        Ok(d)
    }

    pub fn key_for(&self, name: &str) -> Result<String, ObjectsError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(ObjectsError::InvalidName(name.into()));
        }
        let mut parts = self.prefix.clone();
        parts.push(name.to_owned());
        Ok(parts.join("/"))
    }

    /// The URL that fetches the object stored under `key`: each segment percent-encoded, so a
    /// `%`, `#`, `?` or space a tenant put in its `TargetDir` names that very object.
    pub fn url_for_key(&self, key: &str) -> String {
        let mut url = self.url_base.trim_end_matches('/').to_owned();
        for segment in key.split('/') {
            url.push('/');
            push_percent_encoded(&mut url, segment);
        }
        url
    }
}

/// An object that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub url: String,
    pub size: u64,
}

/// Appends `segment` with every byte outside RFC 3986's unreserved set percent-encoded.
fn push_percent_encoded(out: &mut String, segment: &str) {
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The store's location of `key`, taken literally: object_store's `Path::from` would
/// percent-encode `%` and other characters a second time, storing `a%20b` as `a%2520b` while
/// the returned URL names `a%20b`.
fn object_path(key: &str) -> Result<Path, ObjectsError> {
    Path::parse(key).map_err(|_| ObjectsError::InvalidName(key.to_owned()))
}

/// Splits a user-supplied relative directory into segments; `None`-like inputs give none.
fn relative_segments(dir: &str) -> Result<Vec<String>, &'static str> {
    if dir.starts_with('/') || dir.starts_with('\\') {
        return Err("must be relative");
    }
    let mut out = Vec::new();
    for seg in dir.split('/') {
        match seg {
            "" => {}
            "." | ".." => return Err("must not contain . or .. segments"),
            s if s.contains('\\') || s.chars().any(char::is_control) => {
                return Err("contains a forbidden character");
            }
            s => out.push(s.to_owned()),
        }
    }
    Ok(out)
}

fn valid_bucket(bucket: &str) -> bool {
    (1..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.'])
}

/// A public object being read: its size in bytes and its content.
pub struct PublicObject {
    pub size: u64,
    pub content: futures_util::stream::BoxStream<'static, Result<Bytes, ObjectsError>>,
}

/// The stores of the buckets opened so far, by (region, bucket).
type Buckets = Mutex<HashMap<(String, String), Arc<dyn ObjectStore>>>;

struct Inner {
    config: ObjectsConfig,
    /// The public bucket's store, its key prefix and the base of its URLs.
    public: Arc<dyn ObjectStore>,
    public_prefix: Vec<String>,
    public_url_base: String,
    store: Store,
    clock: Arc<dyn Clock>,
    buckets: Buckets,
    stop: CancellationToken,
    sweeper: Mutex<Option<JoinHandle<()>>>,
}

/// Object storage service. Cheap to clone.
#[derive(Clone)]
pub struct Objects {
    inner: Arc<Inner>,
}

impl Objects {
    pub fn new(store: Store, config: ObjectsConfig) -> Result<Self, ObjectsError> {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Store, config: ObjectsConfig, clock: Arc<dyn Clock>) -> Result<Self, ObjectsError> {
        crate::install_crypto_provider();
        let buckets = Mutex::new(HashMap::new());
        let (public, public_prefix, public_url_base): (Arc<dyn ObjectStore>, _, _) = match &config.public {
            PublicBucket::Local { dir, public_url } => {
                std::fs::create_dir_all(dir)?;
                let local = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
                (Arc::new(local), Vec::new(), format!("{}/files", public_url.trim_end_matches('/')))
            }
            PublicBucket::S3 { region, bucket, prefix, base_url } => {
                if !valid_bucket(bucket) {
                    return Err(ObjectsError::InvalidBucket(bucket.clone()));
                }
                let prefix = relative_segments(prefix)
                    .map_err(|reason| ObjectsError::InvalidTargetDir { dir: prefix.clone(), reason })?;
                let endpoint = endpoint_of(&config.s3, region)?;
                (open_bucket(&buckets, endpoint, bucket)?, prefix, base_url.clone())
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                public,
                public_prefix,
                public_url_base,
                store,
                clock,
                buckets,
                stop: CancellationToken::new(),
                sweeper: Mutex::new(None),
            }),
        })
    }

    /// The directory of a local public bucket, which the HTTP layer serves at `/files/`;
    /// `None` when the public bucket is in S3.
    pub fn local_root(&self) -> Option<&FsPath> {
        match &self.inner.config.public {
            PublicBucket::Local { dir, .. } => Some(dir),
            PublicBucket::S3 { .. } => None,
        }
    }

    /// The public bucket under `prefix` (e.g. `"tiw/snapshots"`): the one place task results
    /// handed out as URLs are written. Its objects expire after the retention period.
    pub fn public_bucket(&self, prefix: &str) -> Result<Destination, ObjectsError> {
        let segments = relative_segments(prefix)
            .map_err(|reason| ObjectsError::InvalidTargetDir { dir: prefix.into(), reason })?;
        Ok(Destination {
            store: self.inner.public.clone(),
            prefix: self.inner.public_prefix.iter().cloned().chain(segments).collect(),
            url_base: self.inner.public_url_base.clone(),
            expires: true,
        })
    }

    /// Reads the public object at `key` (as its URL names it after the base, prefix
    /// included), for a node serving `/files/{key}` from an S3 public bucket. `Ok(None)`: no
    /// such object, or a key outside the public prefix or not a plain relative path.
    pub async fn public_object(&self, key: &str) -> Result<Option<PublicObject>, ObjectsError> {
        let Ok(segments) = relative_segments(key) else { return Ok(None) };
        if segments.is_empty() || !segments.starts_with(&self.inner.public_prefix) {
            return Ok(None);
        }
        let result = match self.inner.public.get(&object_path(&segments.join("/"))?).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = result.meta.size;
        Ok(Some(PublicObject { size, content: result.into_stream().map_err(ObjectsError::from).boxed() }))
    }

    /// The customer bucket a request's COS parameter names, on the endpoint configured for
    /// its region. URLs use `Domain` when given.
    pub fn cos_destination(&self, cos: &CosTarget) -> Result<Destination, ObjectsError> {
        if !valid_bucket(&cos.bucket) {
            return Err(ObjectsError::InvalidBucket(cos.bucket.clone()));
        }
        let dir = cos.target_dir.as_deref().unwrap_or("");
        let prefix =
            relative_segments(dir).map_err(|reason| ObjectsError::InvalidTargetDir { dir: dir.into(), reason })?;
        let endpoint = endpoint_of(&self.inner.config.s3, &cos.region)?;
        let store = open_bucket(&self.inner.buckets, endpoint, &cos.bucket)?;
        let url_base = match cos.domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) if d.starts_with("http://") || d.starts_with("https://") => d.to_owned(),
            Some(d) => format!("https://{d}"),
            None => endpoint_object_base(endpoint, &cos.bucket)?,
        };
        Ok(Destination { store, prefix, url_base, expires: false })
    }

    /// Writes a small object in one request.
    pub async fn put(&self, dest: &Destination, name: &str, bytes: Bytes) -> Result<StoredObject, ObjectsError> {
        let key = dest.key_for(name)?;
        let path = object_path(&key)?;
        let size = bytes.len() as u64;
        self.record_expiry(dest, &key).await?;
        dest.store.put(&path, PutPayload::from_bytes(bytes)).await?;
        Ok(StoredObject { url: dest.url_for_key(&key), key, size })
    }

    /// Streams an object of any size as a multipart upload; at most a few parts are in
    /// memory at once. A failing source aborts the upload.
    pub async fn put_stream<S, E>(
        &self,
        dest: &Destination,
        name: &str,
        mut source: S,
    ) -> Result<StoredObject, ObjectsError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        const PARALLEL_PARTS: usize = 4;
        let key = dest.key_for(name)?;
        let path = object_path(&key)?;
        self.record_expiry(dest, &key).await?;
        let upload = dest.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0u64;
        while let Some(chunk) = source.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(ObjectsError::Source(e.to_string()));
                }
            };
            size += chunk.len() as u64;
            if let Err(e) = writer.wait_for_capacity(PARALLEL_PARTS).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(StoredObject { url: dest.url_for_key(&key), key, size })
    }

    pub async fn get(&self, dest: &Destination, key: &str) -> Result<Bytes, ObjectsError> {
        Ok(dest.store.get(&object_path(key)?).await?.bytes().await?)
    }

    /// The object `name` of `dest`, or `None` when there is none.
    pub async fn read(&self, dest: &Destination, name: &str) -> Result<Option<Bytes>, ObjectsError> {
        match dest.store.get(&object_path(&dest.key_for(name)?)?).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The expiry is recorded before the write, so a crash between the two leaves at worst a
    /// row pointing at nothing, never an object nobody will delete.
    async fn record_expiry(&self, dest: &Destination, key: &str) -> Result<(), ObjectsError> {
        if !dest.expires {
            return Ok(());
        }
        let at = self.inner.clock.now_ms().saturating_add(duration_ms(self.inner.config.retention));
        on_pool!(self.inner.store.writer(), p => sqlx::query(
            "INSERT INTO tg_object_expiry (object_key, expires_at_ms) VALUES ($1, $2) \
             ON CONFLICT (object_key) DO UPDATE SET expires_at_ms = excluded.expires_at_ms",
        )
        .bind(key)
        .bind(at)
        .execute(p)
        .await
        .map_err(StoreError::from)?
        .rows_affected());
        Ok(())
    }

    /// Deletes the object `name` of `dest` and its expiry record; returns whether it existed.
    pub async fn remove(&self, dest: &Destination, name: &str) -> Result<bool, ObjectsError> {
        let key = dest.key_for(name)?;
        let existed = match dest.store.delete(&object_path(&key)?).await {
            Ok(()) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if dest.expires {
            on_pool!(self.inner.store.writer(), p => sqlx::query("DELETE FROM tg_object_expiry WHERE object_key = $1")
                .bind(key.as_str())
                .execute(p)
                .await
                .map_err(StoreError::from)?
                .rows_affected());
        }
        Ok(existed)
    }

    /// Deletes every object under `dest` (its prefix and deeper) with their expiry records;
    /// returns how many objects went. For a test harness's reset: a customer bucket's objects
    /// are the customer's, so callers pass only the public bucket or the operator's own.
    pub async fn remove_all(&self, dest: &Destination) -> Result<u64, ObjectsError> {
        let prefix = dest.prefix.join("/");
        if prefix.is_empty() {
            return Err(ObjectsError::InvalidTargetDir { dir: prefix, reason: "removing a whole bucket" });
        }
        let location = object_path(&prefix)?;
        let paths: Vec<_> = dest.store.list(Some(&location)).map_ok(|meta| meta.location).try_collect().await?;
        for path in &paths {
            match dest.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if dest.expires {
            let pattern = format!("{}/%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            on_pool!(self.inner.store.writer(), p => sqlx::query(
                "DELETE FROM tg_object_expiry WHERE object_key LIKE $1 ESCAPE '\\'",
            )
            .bind(pattern)
            .execute(p)
            .await
            .map_err(StoreError::from)?
            .rows_affected());
        }
        Ok(paths.len() as u64)
    }

    /// Deletes public objects past their retention, from the public bucket wherever it lives;
    /// returns how many. Every node sweeps: a row another node deleted first is skipped.
    pub async fn sweep_expired(&self) -> Result<u64, ObjectsError> {
        let now = self.inner.clock.now_ms();
        let mut total = 0;
        loop {
            let keys: Vec<String> = on_pool!(self.inner.store.reader(), p => sqlx::query(
                "SELECT object_key FROM tg_object_expiry WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT 500",
            )
            .bind(now)
            .fetch_all(p)
            .await
            .map_err(StoreError::from)?
            .iter()
            .map(|r| r.try_get("object_key"))
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)?);
            if keys.is_empty() {
                return Ok(total);
            }
            for key in &keys {
                // Keys are validated before their expiry is recorded; one that is not (an old
                // row) names no object and only its row goes.
                if let Ok(path) = object_path(key) {
                    match self.inner.public.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                on_pool!(self.inner.store.writer(), p => sqlx::query(
                    "DELETE FROM tg_object_expiry WHERE object_key = $1 AND expires_at_ms <= $2",
                )
                .bind(key.as_str())
                .bind(now)
                .execute(p)
                .await
                .map_err(StoreError::from)?
                .rows_affected());
                total += 1;
            }
        }
    }

    /// Sweeps every `sweep_interval` until [`Objects::shutdown`].
    pub fn start_sweeper(&self) {
        let mut slot = self.inner.sweeper.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_some() {
            return;
        }
        let me = self.clone();
        *slot = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.config.sweep_interval.max(Duration::from_millis(10)));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = me.inner.stop.cancelled() => return,
                }
                match me.sweep_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "swept expired public objects"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired objects failed"),
                }
            }
        }));
    }

    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let handle = self.inner.sweeper.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

fn endpoint_of<'a>(endpoints: &'a [S3Endpoint], region: &str) -> Result<&'a S3Endpoint, ObjectsError> {
    endpoints.iter().find(|e| e.region == region).ok_or_else(|| ObjectsError::UnknownRegion(region.to_owned()))
}

/// The store of `bucket` on `endpoint`, built once and kept in `buckets`.
fn open_bucket(buckets: &Buckets, endpoint: &S3Endpoint, bucket: &str) -> Result<Arc<dyn ObjectStore>, ObjectsError> {
    let key = (endpoint.region.clone(), bucket.to_owned());
    let mut buckets = buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(s) = buckets.get(&key) {
        return Ok(s.clone());
    }
    let s3 = AmazonS3Builder::new()
        .with_endpoint(endpoint.endpoint.trim_end_matches('/'))
        .with_region(&endpoint.region)
        .with_bucket_name(bucket)
        .with_access_key_id(&endpoint.access_key_id)
        .with_secret_access_key(&endpoint.secret_access_key)
        .with_virtual_hosted_style_request(!endpoint.path_style)
        .with_allow_http(endpoint.allow_http)
        .build()?;
    let s3: Arc<dyn ObjectStore> = Arc::new(s3);
    buckets.insert(key, s3.clone());
    Ok(s3)
}

fn endpoint_object_base(e: &S3Endpoint, bucket: &str) -> Result<String, ObjectsError> {
    let base = e.endpoint.trim_end_matches('/');
    if e.path_style {
        return Ok(format!("{base}/{bucket}"));
    }
    let url = reqwest::Url::parse(base).map_err(|_| ObjectsError::InvalidEndpoint(e.endpoint.clone()))?;
    let host = url.host_str().ok_or_else(|| ObjectsError::InvalidEndpoint(e.endpoint.clone()))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{}://{bucket}.{host}{port}", url.scheme()))
}
