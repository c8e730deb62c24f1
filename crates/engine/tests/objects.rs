//! Object storage: the local public bucket and its sweeper, COS parameter mapping, and the
//! S3 path against a real S3-compatible server.

mod common;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use common::{TestDb, temp_dir};
use futures_util::stream;
use taskgate_engine::{
    ManualClock,
    objects::{CosTarget, Objects, ObjectsConfig, ObjectsError, PublicBucket, S3Endpoint},
    testing::service,
};

const S3_ENV: &str = "TASKGATE_TEST_S3_ENDPOINT";

fn s3_endpoint(region: &str, endpoint: &str, path_style: bool) -> S3Endpoint {
    S3Endpoint {
        region: region.into(),
        endpoint: endpoint.into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style,
        allow_http: true,
    }
}

async fn expired_local_objects_are_swept(db: TestDb) {
    let dir = temp_dir("objects");
    let clock = Arc::new(ManualClock::new(0));
    let config = ObjectsConfig::new(&dir, "http://files.test:8080/");
    let objects = Objects::with_clock(db.store.clone(), config.clone(), clock.clone()).unwrap();
    let dest = objects.public_bucket("tiw/snapshots").unwrap().join("task-1").unwrap();
    let old = objects.put(&dest, "1.png", Bytes::from_static(b"png-1")).await.unwrap();
    assert_eq!(old.key, "tiw/snapshots/task-1/1.png");
    assert_eq!(old.url, "http://files.test:8080/files/tiw/snapshots/task-1/1.png");
    assert_eq!(std::fs::read(dir.join(&old.key)).unwrap(), b"png-1");

    clock.advance(Duration::from_secs(24 * 3600));
    let young = objects.put(&dest, "2.png", Bytes::from_static(b"png-2")).await.unwrap();
    clock.advance(Duration::from_secs(2 * 24 * 3600) - Duration::from_millis(1));
    assert_eq!(objects.sweep_expired().await.unwrap(), 0, "three days have not passed yet");
    clock.advance(Duration::from_millis(1));

    // A restarted process knows what to delete: the expiry is in the database.
    drop(objects);
    let restarted = Objects::with_clock(db.store.clone(), config, clock.clone()).unwrap();
    assert_eq!(restarted.sweep_expired().await.unwrap(), 1);
    assert!(!dir.join(&old.key).exists());
    assert!(dir.join(&young.key).exists());
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(restarted.sweep_expired().await.unwrap(), 1);
    assert!(!dir.join(&young.key).exists());
    std::fs::remove_dir_all(dir).unwrap();
}

async fn streaming_put_writes_large_local_objects(db: TestDb) {
    let dir = temp_dir("objects");
    let objects = Objects::new(db.store.clone(), ObjectsConfig::new(&dir, "http://x")).unwrap();
    let dest = objects.public_bucket("big").unwrap();
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    let chunks = stream::iter((0..12).map(|_| Ok::<_, std::io::Error>(chunk.clone())));
    let stored = objects.put_stream(&dest, "blob.bin", chunks).await.unwrap();
    assert_eq!(stored.size, 12 << 20);
    assert_eq!(std::fs::metadata(dir.join("big/blob.bin")).unwrap().len(), 12 << 20);

    let failing = stream::iter(vec![Ok(chunk.clone()), Err(std::io::Error::other("source broke"))]);
    let err = objects.put_stream(&dest, "broken.bin", failing).await.unwrap_err();
    assert!(matches!(err, ObjectsError::Source(_)), "{err:?}");
    assert!(!dir.join("big/broken.bin").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Decodes `%XX` escapes, as an HTTP server does with a request path.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn object_urls_name_the_stored_object_whatever_its_characters(db: TestDb) {
    let dir = temp_dir("objects");
    let objects = Objects::new(db.store.clone(), ObjectsConfig::new(&dir, "http://x")).unwrap();
    let odd = "a%20b c#d?e+f&g=h/课件";
    let dest = objects.public_bucket("files").unwrap().join(odd).unwrap();
    let stored = objects.put(&dest, "1.png", Bytes::from_static(b"png")).await.unwrap();
    assert_eq!(stored.key, format!("files/{odd}/1.png"), "the key is the directory taken literally");
    assert_eq!(std::fs::read(dir.join(&stored.key)).unwrap(), b"png");
    let path = stored.url.strip_prefix("http://x/files/").unwrap();
    assert!(!path.contains([' ', '#', '?', '&']), "{path}");
    assert_eq!(percent_decode(path), stored.key, "the URL path decodes to the key");
    assert_eq!(objects.get(&dest, &stored.key).await.unwrap(), Bytes::from_static(b"png"));
    std::fs::remove_dir_all(dir).unwrap();
}

both_backends!(
    expired_local_objects_are_swept,
    streaming_put_writes_large_local_objects,
    object_urls_name_the_stored_object_whatever_its_characters
);

#[tokio::test]
async fn cos_parameters_map_to_endpoint_prefix_and_url() {
    let db = TestDb::sqlite().await;
    let dir = temp_dir("objects");
    let mut config = ObjectsConfig::new(&dir, "http://x");
    config.s3 = vec![
        s3_endpoint("ap-guangzhou", "https://cos.ap-guangzhou.myqcloud.com", false),
        s3_endpoint("ap-local", "http://127.0.0.1:9000/", true),
    ];
    let objects = Objects::new(db.store.clone(), config).unwrap();
    let cos = |region: &str, dir: Option<&str>, domain: Option<&str>| CosTarget {
        bucket: "examplebucket-1250000000".into(),
        region: region.into(),
        target_dir: dir.map(Into::into),
        domain: domain.map(Into::into),
    };

    let d = objects.cos_destination(&cos("ap-guangzhou", Some("snapshot/"), None)).unwrap();
    let key = d.key_for("1.png").unwrap();
    assert_eq!(key, "snapshot/1.png");
    assert_eq!(d.url_for_key(&key), "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/snapshot/1.png");

    let d = objects.cos_destination(&cos("ap-local", None, None)).unwrap();
    assert_eq!(d.url_for_key("a.png"), "http://127.0.0.1:9000/examplebucket-1250000000/a.png");

    let d = objects.cos_destination(&cos("ap-guangzhou", Some("a/b"), Some("cdn.example.com"))).unwrap();
    assert_eq!(d.url_for_key(&d.key_for("x.png").unwrap()), "https://cdn.example.com/a/b/x.png");

    for bad in ["../escape", "/abs", "a/../b", "a/./b"] {
        let err = objects.cos_destination(&cos("ap-guangzhou", Some(bad), None)).unwrap_err();
        assert!(matches!(err, ObjectsError::InvalidTargetDir { .. }), "{bad}: {err:?}");
    }
    assert!(matches!(objects.cos_destination(&cos("eu-nowhere", None, None)), Err(ObjectsError::UnknownRegion(_))));
    let bad_bucket = CosTarget { bucket: "Bad_Bucket".into(), ..cos("ap-guangzhou", None, None) };
    assert!(matches!(objects.cos_destination(&bad_bucket), Err(ObjectsError::InvalidBucket(_))));
    assert!(matches!(d.key_for("../x"), Err(ObjectsError::InvalidName(_))));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn s3_backend_round_trips_objects() {
    let Some(endpoint) = service(S3_ENV) else {
        return;
    };
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    // This test's own client needs the TLS provider too (nextest runs each test alone).
    taskgate_engine::install_crypto_provider();
    let bucket = format!("tg-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "creating bucket: {}", created.status());

    let db = TestDb::sqlite().await;
    let dir = temp_dir("objects");
    let mut config = ObjectsConfig::new(&dir, "http://x");
    config.s3 = vec![s3_endpoint("ap-test", &endpoint, true)];
    let objects = Objects::new(db.store.clone(), config).unwrap();
    let target =
        CosTarget { bucket: bucket.clone(), region: "ap-test".into(), target_dir: Some("snap".into()), domain: None };
    let dest = objects.cos_destination(&target).unwrap();

    let small = objects.put(&dest, "1.png", Bytes::from_static(b"tiny")).await.unwrap();
    assert_eq!(small.url, format!("{endpoint}/{bucket}/snap/1.png"));
    assert_eq!(objects.get(&dest, &small.key).await.unwrap(), Bytes::from_static(b"tiny"));

    let part: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let chunks = stream::iter((0..12).map(|_| Ok::<_, std::io::Error>(Bytes::from(part.clone()))));
    let big = objects.put_stream(&dest, "big.bin", chunks).await.unwrap();
    let back = objects.get(&dest, &big.key).await.unwrap();
    assert_eq!(back.len(), 12 << 20);
    assert!(back.chunks(1 << 20).all(|c| c == part.as_slice()));
    assert_eq!(objects.sweep_expired().await.unwrap(), 0, "customer buckets are never swept");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fresh bucket on the S3 test server, or `None` (the test skips) without one.
async fn s3_bucket() -> Option<(String, String)> {
    let endpoint = service(S3_ENV)?.trim_end_matches('/').to_owned();
    taskgate_engine::install_crypto_provider();
    let bucket = format!("tg-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "creating bucket: {}", created.status());
    Some((endpoint, bucket))
}

fn s3_public(endpoint: &str, bucket: &str, prefix: &str, base_url: &str) -> ObjectsConfig {
    let mut config = ObjectsConfig::with_public(PublicBucket::S3 {
        region: "ap-test".into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        base_url: base_url.into(),
    });
    config.s3 = vec![s3_endpoint("ap-test", endpoint, true)];
    config
}

#[tokio::test]
async fn s3_public_objects_are_at_base_url_and_their_key_prefix_included() {
    let Some((endpoint, bucket)) = s3_bucket().await else { return };
    let db = TestDb::sqlite().await;
    let base_url = format!("{endpoint}/{bucket}");
    let objects = Objects::new(db.store.clone(), s3_public(&endpoint, &bucket, "taskgate/v1", &base_url)).unwrap();
    assert!(objects.local_root().is_none());
    let dest = objects.public_bucket("tiw/snapshots").unwrap().join("task-1").unwrap();
    let stored = objects.put(&dest, "1.png", Bytes::from_static(b"png-1")).await.unwrap();
    assert_eq!(stored.key, "taskgate/v1/tiw/snapshots/task-1/1.png");
    assert_eq!(stored.url, format!("{base_url}/taskgate/v1/tiw/snapshots/task-1/1.png"));
    // The test server refuses anonymous reads: the object is read as the bucket's owner.
    let owner = Objects::new(db.store.clone(), s3_public(&endpoint, &bucket, "", &base_url)).unwrap();
    let whole_bucket = owner.public_bucket("").unwrap();
    assert_eq!(owner.get(&whole_bucket, &stored.key).await.unwrap(), Bytes::from_static(b"png-1"));
}

#[tokio::test]
async fn nodes_serve_s3_public_objects_only_under_the_prefix() {
    let Some((endpoint, bucket)) = s3_bucket().await else { return };
    let db = TestDb::sqlite().await;
    let objects =
        Objects::new(db.store.clone(), s3_public(&endpoint, &bucket, "taskgate", "http://node/files")).unwrap();
    let stored = objects.put(&objects.public_bucket("a").unwrap(), "x.png", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(stored.url, "http://node/files/taskgate/a/x.png");
    let object = objects.public_object("taskgate/a/x.png").await.unwrap().expect("served");
    assert_eq!(object.size, 1);
    let other = reqwest::Client::new().put(format!("{endpoint}/{bucket}/private/y")).body("y").send().await.unwrap();
    assert!(other.status().is_success());
    for outside in ["private/y", "taskgate/../private/y", "taskgate", "taskgate/a/missing.png"] {
        assert!(objects.public_object(outside).await.unwrap().is_none(), "{outside}");
    }
}

#[tokio::test]
async fn expired_s3_public_objects_are_swept_from_the_bucket() {
    let Some((endpoint, bucket)) = s3_bucket().await else { return };
    let db = TestDb::sqlite().await;
    let clock = Arc::new(ManualClock::new(0));
    let base_url = format!("{endpoint}/{bucket}");
    let objects =
        Objects::with_clock(db.store.clone(), s3_public(&endpoint, &bucket, "", &base_url), clock.clone()).unwrap();
    let dest = objects.public_bucket("tiw/snapshots").unwrap();
    let stored = objects.put(&dest, "1.png", Bytes::from_static(b"png")).await.unwrap();
    clock.advance(Duration::from_secs(3 * 24 * 3600) - Duration::from_millis(1));
    assert_eq!(objects.sweep_expired().await.unwrap(), 0);
    assert!(objects.read(&dest, "1.png").await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert_eq!(objects.sweep_expired().await.unwrap(), 1);
    assert!(objects.read(&dest, "1.png").await.unwrap().is_none(), "{} is gone from the bucket", stored.key);
}

#[tokio::test]
async fn an_s3_public_bucket_on_an_unconfigured_region_is_refused() {
    let db = TestDb::sqlite().await;
    let mut config = s3_public("http://127.0.0.1:9", "public-1", "", "http://x");
    config.s3.clear();
    assert!(matches!(Objects::new(db.store.clone(), config), Err(ObjectsError::UnknownRegion(_))));
}
