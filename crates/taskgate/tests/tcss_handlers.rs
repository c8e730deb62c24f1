//! The tcss actions called through their product context (`Tcss`), without the HTTP edge. No
//! executor runs: a test ends a refresh itself with the engine's worker API, with the success
//! a refresh that collected its inventory reports (`refresh::success`).

mod common;

use common::products::{Parts, account, run};
use serde_json::json;
use taskgate::products::tcss::ACTIONS;
use taskgate::products::tcss::inventory::Inventory;
use taskgate::products::tcss::refresh::success;
use taskgate_engine::{Outcome, TaskKind};
use tcapi::ErrorCode;

const REFRESH_KIND: TaskKind = TaskKind::from_static("tcss.refresh");

/// The success of a refresh that collected `inventory` (JSON of an [`Inventory`]).
fn collected(inventory: serde_json::Value) -> Outcome {
    success(serde_json::from_value::<Inventory>(inventory).unwrap().into()).unwrap()
}

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
async fn the_inventory_is_written_with_the_refreshs_success() {
    let parts = Parts::new("tcss-inventory").await;
    let tcss = parts.tcss();
    let alice = account("1001", &[], None);
    let created = run(ACTIONS, &tcss, &alice, "CreateRefreshTask", json!({})).await.unwrap();
    let claimed = parts.engine.claim(&REFRESH_KIND, 1).await.unwrap().pop().unwrap();
    let inventory = json!({"host": {"hostname": "build-1", "os_name": "Debian", "os_version": "12",
                                    "kernel_version": "6.1", "cpu_count": 2, "cpu_brand": "x", "memory_bytes": 1024,
                                    "ips": ["10.0.0.1"]}, "clusters": []});
    assert!(parts.engine.finish(&claimed, Ok(collected(inventory))).await.unwrap());
    let task = run(ACTIONS, &tcss, &alice, "DescribeRefreshTask", json!({"TaskId": created["TaskId"]})).await.unwrap();
    assert_eq!(task["TaskStatus"], "Task_Finish", "{task}");
    let hosts = run(ACTIONS, &tcss, &alice, "DescribeAssetHostList", json!({})).await.unwrap();
    assert_eq!(hosts["TotalCount"], 1, "{hosts}");
    assert_eq!(
        (hosts["List"][0]["HostName"].as_str(), hosts["List"][0]["HostIP"].as_str()),
        (Some("build-1"), Some("10.0.0.1"))
    );
}

/// A finished refresh whose inventory holds this host and one cluster of two nodes, a running
/// and an exited container, and one image.
async fn refreshed(parts: &Parts, alice: &std::sync::Arc<taskgate::action::Account>) {
    run(ACTIONS, &parts.tcss(), alice, "CreateRefreshTask", json!({})).await.unwrap();
    let claimed = parts.engine.claim(&REFRESH_KIND, 1).await.unwrap().pop().unwrap();
    let node = |name: &str| {
        json!({"name": name, "os": "Debian", "kernel_version": "6.1", "architecture": "x86_64", "cpu_count": 4,
               "memory_bytes": 1024})
    };
    let container = |name: &str, state: &str| json!({"id": name, "name": name, "image": "nginx:1.27", "state": state, "status": "", "created_at": 0});
    let inventory = json!({
        "host": {"hostname": "build-1", "os_name": "Debian", "os_version": "12", "kernel_version": "6.1",
                 "cpu_count": 2, "cpu_brand": "x", "memory_bytes": 1024, "ips": ["10.0.0.1"]},
        "clusters": [{"cluster_id": "c-1", "name": "edge", "reachable": true, "error": null, "runtime_version": "27.1.0",
                      "nodes": [node("node-a"), node("node-b")],
                      "containers": [container("web", "running"), container("job", "exited")],
                      "images": [{"id": "sha256:aa", "repo_tags": ["nginx:1.27"], "size_bytes": 5, "created_at": 0,
                                  "containers": 1}]}],
    });
    assert!(parts.engine.finish(&claimed, Ok(collected(inventory))).await.unwrap());
}

#[tokio::test]
async fn the_host_list_pages_by_limit_and_offset_and_counts_every_host() {
    let parts = Parts::new("tcss-pages").await;
    let alice = account("1001", &[], None);
    refreshed(&parts, &alice).await;
    let page =
        run(ACTIONS, &parts.tcss(), &alice, "DescribeAssetHostList", json!({"Limit": 2, "Offset": 1})).await.unwrap();
    let names: Vec<_> = page["List"].as_array().unwrap().iter().map(|h| h["HostName"].as_str().unwrap()).collect();
    assert_eq!((page["TotalCount"].as_u64(), names), (Some(3), vec!["node-a", "node-b"]));
    assert_eq!(
        (page["List"][0]["Status"].as_str(), page["List"][0]["ClusterAccessedStatus"].as_str()),
        (Some("ONLINE"), Some("AccessedNormal"))
    );
    let error = run(ACTIONS, &parts.tcss(), &alice, "DescribeAssetHostList", json!({"Limit": 0})).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameterValue);
}

#[tokio::test]
async fn container_states_show_upper_case_and_count_in_the_summary() {
    let parts = Parts::new("tcss-containers").await;
    let alice = account("1001", &[], None);
    refreshed(&parts, &alice).await;
    let listed = run(ACTIONS, &parts.tcss(), &alice, "DescribeAssetContainerList", json!({})).await.unwrap();
    let states: Vec<_> = listed["List"].as_array().unwrap().iter().map(|c| c["Status"].as_str().unwrap()).collect();
    assert_eq!(states, ["RUNNING", "EXITED"]);
    let summary = run(ACTIONS, &parts.tcss(), &alice, "DescribeAssetSummary", json!({})).await.unwrap();
    assert_eq!(
        (summary["ContainerRunning"].as_u64(), summary["ContainerStop"].as_u64(), summary["HostOnline"].as_u64()),
        (Some(1), Some(1), Some(3))
    );
    let images = run(ACTIONS, &parts.tcss(), &alice, "DescribeAssetImageList", json!({})).await.unwrap();
    assert_eq!(images["List"][0]["ScanStatus"], "SCAN_PENDING");
}
