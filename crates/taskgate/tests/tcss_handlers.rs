//! The tcss actions called through their product context (`Tcss`), without the HTTP edge. No
//! executor runs: a test ends a refresh itself with the engine's worker API.

mod common;

use common::products::{Parts, account, run};
use serde_json::json;
use taskgate::products::tcss::ACTIONS;
use taskgate_engine::{Outcome, TaskKind};
use tcapi::ErrorCode;

const REFRESH_KIND: TaskKind = TaskKind::from_static("tcss.refresh");

#[tokio::test]
async fn a_second_refresh_while_one_is_unfinished_is_refused() {
    let parts = Parts::new("tcss-unfinished").await;
    let tcss = parts.tcss();
    let alice = account("1001", &[], None);
    run(ACTIONS, &tcss, &alice, "CreateRefreshTask", json!({})).await.unwrap();
    let error = run(ACTIONS, &tcss, &alice, "CreateRefreshTask", json!({})).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationDenied, "{error}");
}

#[tokio::test]
async fn before_any_refresh_the_asset_lists_are_empty() {
    let parts = Parts::new("tcss-empty").await;
    let hosts =
        run(ACTIONS, &parts.tcss(), &account("1001", &[], None), "DescribeAssetHostList", json!({})).await.unwrap();
    assert_eq!((hosts["TotalCount"].as_u64(), hosts["List"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

#[tokio::test]
async fn the_inventory_is_the_output_of_the_latest_succeeded_refresh() {
    let parts = Parts::new("tcss-inventory").await;
    let tcss = parts.tcss();
    let alice = account("1001", &[], None);
    let created = run(ACTIONS, &tcss, &alice, "CreateRefreshTask", json!({})).await.unwrap();
    let claimed = parts.engine.claim(&REFRESH_KIND, 1).await.unwrap().pop().unwrap();
    let inventory = json!({"host": {"hostname": "build-1", "os_name": "Debian", "os_version": "12",
                                    "kernel_version": "6.1", "cpu_count": 2, "cpu_brand": "x", "memory_bytes": 1024,
                                    "ips": ["10.0.0.1"]}, "clusters": []});
    assert!(parts.engine.finish(&claimed, Ok(Outcome::new(inventory))).await.unwrap());
    let task = run(ACTIONS, &tcss, &alice, "DescribeRefreshTask", json!({"TaskId": created["TaskId"]})).await.unwrap();
    assert_eq!(task["TaskStatus"], "Task_Finish", "{task}");
    let hosts = run(ACTIONS, &tcss, &alice, "DescribeAssetHostList", json!({})).await.unwrap();
    assert_eq!(hosts["TotalCount"], 1, "{hosts}");
    assert_eq!(
        (hosts["List"][0]["HostName"].as_str(), hosts["List"][0]["HostIP"].as_str()),
        (Some("build-1"), Some("10.0.0.1"))
    );
}
