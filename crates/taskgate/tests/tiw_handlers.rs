//! The tiw actions called through their product context (`Tiw`), without the HTTP edge.

mod common;

use common::products::{Parts, START_MS, account, run};
use serde_json::json;
use taskgate::products::tiw::ACTIONS;
use taskgate::products::tiw::rooms::RoomKey;
use tcapi::ErrorCode;
use whiteboard::op::parse_ops;

const APP: u64 = 1_400_000_001;
const OTHER_APP: u64 = 1_400_000_002;

fn snapshot_params(sdk_app_id: u64, room_id: u64) -> serde_json::Value {
    json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Whiteboard": {"Width": 320, "Height": 180}})
}

#[tokio::test]
async fn a_snapshot_task_is_created_at_the_engine_clocks_time_and_runs_until_a_worker_finishes_it() {
    let parts = Parts::new("tiw-create").await;
    let tiw = parts.tiw();
    let alice = account("1001", &[APP], None);
    let created = run(ACTIONS, &tiw, &alice, "CreateSnapshotTask", snapshot_params(APP, 7)).await.unwrap();
    let task_id = created["TaskID"].as_str().unwrap();
    let described =
        run(ACTIONS, &tiw, &alice, "DescribeSnapshotTask", json!({"SdkAppId": APP, "TaskID": task_id})).await.unwrap();
    assert_eq!(described["Status"], "Running");
    assert_eq!(described["CreateTime"], START_MS / 1000);
    assert_eq!(described["FinishTime"], json!(null));
    assert_eq!(described["Result"], json!(null));
}

#[tokio::test]
async fn a_snapshot_of_another_accounts_sdk_app_is_unauthorized() {
    let parts = Parts::new("tiw-foreign-app").await;
    let error =
        run(ACTIONS, &parts.tiw(), &account("1001", &[APP], None), "CreateSnapshotTask", snapshot_params(OTHER_APP, 7))
            .await
            .unwrap_err();
    assert_eq!(error.code, ErrorCode::UnauthorizedOperationSdkAppId);
}

#[tokio::test]
async fn a_snapshot_into_a_bucket_of_another_appid_is_unauthorized() {
    let parts = Parts::new("tiw-foreign-bucket").await;
    let mut params = snapshot_params(APP, 7);
    params["COS"] = json!({"Uin": 1001, "Region": "ap-guangzhou", "Bucket": "shots-1250000001"});
    let error = run(ACTIONS, &parts.tiw(), &account("1001", &[APP], Some(1_250_000_000)), "CreateSnapshotTask", params)
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::UnauthorizedOperation);
    assert!(error.message.contains("COS.Bucket"), "{}", error.message);
}

#[tokio::test]
async fn a_room_with_more_marks_than_one_task_renders_is_refused_up_front() {
    let mut parts = Parts::new("tiw-marks").await;
    parts.config.tiw.snapshot_max_marks = 2;
    let tiw = parts.tiw();
    let marks = parse_ops(r#"[{"op":"mark"},{"op":"mark"},{"op":"mark"}]"#).unwrap();
    tiw.rooms.append(RoomKey::new(APP, 7).unwrap(), "alice", marks, START_MS).await.unwrap();
    let error = run(ACTIONS, &tiw, &account("1001", &[APP], None), "CreateSnapshotTask", snapshot_params(APP, 7))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameter);
    assert!(error.message.contains("3 snapshot marks"), "{}", error.message);
}

#[tokio::test]
async fn another_sdk_apps_snapshot_task_looks_unknown() {
    let parts = Parts::new("tiw-other-task").await;
    let tiw = parts.tiw();
    let alice = account("1001", &[APP, OTHER_APP], None);
    let created = run(ACTIONS, &tiw, &alice, "CreateSnapshotTask", snapshot_params(APP, 7)).await.unwrap();
    let params = json!({"SdkAppId": OTHER_APP, "TaskID": created["TaskID"]});
    let error = run(ACTIONS, &tiw, &alice, "DescribeSnapshotTask", params).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameter);
}

#[tokio::test]
async fn a_push_callback_must_be_an_http_url_and_reads_back_once_set() {
    let parts = Parts::new("tiw-push-callback").await;
    let tiw = parts.tiw();
    let alice = account("1001", &[APP], None);
    let refused = json!({"SdkAppId": APP, "Callback": "ftp://example.com/hook"});
    let error = run(ACTIONS, &tiw, &alice, "SetWhiteboardPushCallback", refused).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameterCallbackAddressFormatError);
    // An empty callback turns events off; it needs no URL check.
    run(ACTIONS, &tiw, &alice, "SetWhiteboardPushCallbackKey", json!({"SdkAppId": APP, "CallbackKey": "k1"}))
        .await
        .unwrap();
    let settings =
        run(ACTIONS, &tiw, &alice, "DescribeWhiteboardPushCallback", json!({"SdkAppId": APP})).await.unwrap();
    assert_eq!(settings["CallbackKey"], "k1");
    assert_eq!(settings["Callback"], "");
}
