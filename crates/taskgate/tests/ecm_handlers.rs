//! The ecm actions called through their product context (`Ecm`), without the HTTP edge. No
//! executor runs: a test ends an import itself with the engine's worker API.

mod common;

use common::products::{Parts, account, run};
use serde_json::{Value, json};
use taskgate::action::Account;
use taskgate::products::ecm::{ACTIONS, Ecm};
use taskgate_engine::{Outcome, TaskKind};
use tcapi::ErrorCode;

const IMPORT_KIND: TaskKind = TaskKind::from_static("ecm.import");

async fn import(ecm: &Ecm, owner: &std::sync::Arc<Account>, name: &str) -> Result<Value, taskgate::action::ApiError> {
    let params = json!({
        "ImageName": name, "Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12",
        "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}],
    });
    run(ACTIONS, ecm, owner, "ImportCustomImage", params).await
}

async fn task_of(ecm: &Ecm, owner: &std::sync::Arc<Account>, task_id: &Value) -> Value {
    let filter = json!({"Filters": [{"Name": "task-id", "Values": [task_id.to_string()]}]});
    let found = run(ACTIONS, ecm, owner, "DescribeCustomImageTask", filter).await.unwrap();
    assert_eq!(found["TotalCount"], 1, "{found}");
    found["ImageTaskSet"][0].clone()
}

async fn image_of(ecm: &Ecm, owner: &std::sync::Arc<Account>, image_id: &Value) -> Value {
    let filter = json!({"Filters": [{"Name": "image-id", "Values": [image_id]}]});
    let found = run(ACTIONS, ecm, owner, "DescribeImage", filter).await.unwrap();
    assert_eq!(found["TotalCount"], 1, "{found}");
    found["ImageSet"][0].clone()
}

#[tokio::test]
async fn an_import_under_a_name_in_use_is_refused() {
    let parts = Parts::new("ecm-duplicate").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    import(&ecm, &alice, "disk").await.unwrap();
    let error = import(&ecm, &alice, "disk").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameterValueImageNameDuplicate);
}

#[tokio::test]
async fn the_task_id_filter_finds_exactly_that_import() {
    let parts = Parts::new("ecm-filter").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    let first = import(&ecm, &alice, "first").await.unwrap();
    import(&ecm, &alice, "second").await.unwrap();
    let task = task_of(&ecm, &alice, &first["TaskId"]).await;
    assert_eq!((task["ImageName"].as_str(), task["State"].as_str()), (Some("first"), Some("PENDING")));
}

#[tokio::test]
async fn another_accounts_images_are_not_listed() {
    let parts = Parts::new("ecm-accounts").await;
    let ecm = parts.ecm();
    import(&ecm, &account("1001", &[], None), "disk").await.unwrap();
    let listed = run(ACTIONS, &ecm, &account("1002", &[], None), "DescribeImage", json!({})).await.unwrap();
    assert_eq!(listed["TotalCount"], 0);
}

#[tokio::test]
async fn a_finished_import_reads_as_done_in_both_views_at_once() {
    let parts = Parts::new("ecm-finished").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    let created = import(&ecm, &alice, "disk").await.unwrap();
    let claimed = parts.engine.claim(&IMPORT_KIND, 1).await.unwrap().pop().unwrap();
    assert_eq!(task_of(&ecm, &alice, &created["TaskId"]).await["State"], "PROCESSING");
    assert_eq!(image_of(&ecm, &alice, &created["ImageId"]).await["ImageState"], "IMPORTING");
    let output = json!({"format": "qcow2", "size_bytes": 5, "virtual_size": 3_u64 << 30, "sha256": "aa", "md5": "bb",
                        "location": "/images/disk.qcow2"});
    assert!(parts.engine.finish(&claimed, Ok(Outcome::new(output))).await.unwrap());
    let image = image_of(&ecm, &alice, &created["ImageId"]).await;
    assert_eq!((image["ImageState"].as_str(), image["ImageSize"].as_i64()), (Some("NORMAL"), Some(3)));
    assert_eq!(task_of(&ecm, &alice, &created["TaskId"]).await["State"], "SUCCESS");
}

#[tokio::test]
async fn a_failed_import_is_importfailed_and_gives_its_name_back() {
    let parts = Parts::new("ecm-failed").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    let created = import(&ecm, &alice, "disk").await.unwrap();
    let claimed = parts.engine.claim(&IMPORT_KIND, 1).await.unwrap().pop().unwrap();
    let failure = taskgate_engine::ExecError::permanent("no image URL could be imported");
    assert!(parts.engine.finish(&claimed, Err(failure)).await.unwrap());
    assert_eq!(image_of(&ecm, &alice, &created["ImageId"]).await["ImageState"], "IMPORTFAILED");
    let task = task_of(&ecm, &alice, &created["TaskId"]).await;
    assert_eq!(
        (task["State"].as_str(), task["Message"].as_str()),
        (Some("FAILED"), Some("no image URL could be imported"))
    );
    import(&ecm, &alice, "disk").await.unwrap();
}

#[tokio::test]
async fn an_unknown_architecture_or_init_flag_is_invalid_parameter_value_naming_the_field() {
    let parts = Parts::new("ecm-vocab").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    for (field, value, detail) in
        [("Architecture", "arm64", "must be x86_64 or i386"), ("InitFlag", "magic", "`magic` is not cloudinit or nbd")]
    {
        let mut params = json!({
            "ImageName": "disk", "Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12",
            "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}],
        });
        params[field] = json!(value);
        let error = run(ACTIONS, &ecm, &alice, "ImportCustomImage", params).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidParameterValue, "{field}");
        assert!(error.message.contains(field) && error.message.contains(detail), "{}", error.message);
    }
}

#[tokio::test]
async fn an_i386_nbd_image_reads_back_as_declared() {
    let parts = Parts::new("ecm-declared").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    let params = json!({
        "ImageName": "old", "Architecture": "i386", "OsType": "Debian", "OsVersion": "12", "InitFlag": "nbd",
        "ImageUrls": [{"ImageFile": "http://127.0.0.1:9/disk.qcow2"}],
    });
    let created = run(ACTIONS, &ecm, &alice, "ImportCustomImage", params).await.unwrap();
    let image = image_of(&ecm, &alice, &created["ImageId"]).await;
    assert_eq!(
        (image["Architecture"].as_str(), image["IsSupportCloudInit"].as_bool(), image["ImageOsName"].as_str()),
        (Some("i386"), Some(false), Some("Debian 12 32位"))
    );
    assert_eq!(
        (image["ImageType"].as_str(), image["ImageSource"].as_str()),
        (Some("PRIVATE_IMAGE"), Some("EXTERNAL_IMPORT"))
    );
}

#[tokio::test]
async fn an_import_finished_under_a_lost_lease_changes_neither_view() {
    let parts = Parts::new("ecm-stale").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    let created = import(&ecm, &alice, "disk").await.unwrap();
    let stale = parts.engine.claim(&IMPORT_KIND, 1).await.unwrap().pop().unwrap();
    // The first worker stops heartbeating: its lease expires and a second execution takes over.
    parts.clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(parts.engine.reap_expired().await.unwrap(), 1);
    let current = parts.engine.claim(&IMPORT_KIND, 1).await.unwrap().pop().unwrap();
    let output = json!({"format": "qcow2", "size_bytes": 5, "virtual_size": 1_u64 << 30, "sha256": "aa", "md5": "bb"});
    assert!(!parts.engine.finish(&stale, Ok(Outcome::new(output.clone()))).await.unwrap());
    assert_eq!(image_of(&ecm, &alice, &created["ImageId"]).await["ImageState"], "IMPORTING");
    assert_eq!(task_of(&ecm, &alice, &created["TaskId"]).await["State"], "PROCESSING");
    assert!(parts.engine.finish(&current, Ok(Outcome::new(output))).await.unwrap());
    assert_eq!(image_of(&ecm, &alice, &created["ImageId"]).await["ImageState"], "NORMAL");
}

#[tokio::test]
async fn the_image_name_filter_matches_capitals_beyond_ascii_case_insensitively() {
    let parts = Parts::new("ecm-fold").await;
    let ecm = parts.ecm();
    let alice = account("1001", &[], None);
    import(&ecm, &alice, "ÄRGER-Disk").await.unwrap();
    let filter = json!({"Filters": [{"Name": "image-name", "Values": ["ärger-d"]}]});
    let found = run(ACTIONS, &ecm, &alice, "DescribeImage", filter).await.unwrap();
    assert_eq!(found["ImageSet"][0]["ImageName"], "ÄRGER-Disk", "{found}");
}
