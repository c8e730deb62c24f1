//! The Docker collector against a fake Docker Engine API served on a unix socket by the test.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::path::PathBuf;
use taskgate::config::ClusterConfig;
use taskgate::products::tcss::collect::{ClusterCollector, CollectError, DockerCollector, collect_host};
use taskgate::products::tcss::inventory::ContainerState;

/// How the fake engine behaves.
#[derive(Clone, Copy)]
enum Engine {
    Healthy,
    FailsContainerList,
}

async fn fake_engine(State(engine): State<Engine>, request: Request) -> Response {
    // bollard may prefix a path with the API version, e.g. `/v1.49/containers/json`.
    let path = request.uri().path().trim_start_matches('/');
    let path = match path.split_once('/') {
        Some((version, rest)) if version.starts_with("v1.") => rest,
        _ => path,
    };
    match (path, engine) {
        ("version", _) => axum::Json(json!({"Version": "27.1.0", "ApiVersion": "1.46", "Os": "linux"})).into_response(),
        ("info", _) => axum::Json(json!({
            "Name": "node-a", "OperatingSystem": "Debian GNU/Linux 12", "KernelVersion": "6.1.0",
            "Architecture": "x86_64", "NCPU": 4, "MemTotal": 8_000_000_000u64
        }))
        .into_response(),
        ("containers/json", Engine::FailsContainerList) => {
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "engine exploded"}))).into_response()
        }
        ("containers/json", Engine::Healthy) => {
            // Stopped containers are assets too: the collector must ask for all of them.
            let asks_for_all = request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "all=true"));
            if !asks_for_all {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"message": "expected all=true"}))).into_response();
            }
            axum::Json(json!([
                {"Id": "c1", "Names": ["/web"], "Image": "nginx:1.27", "State": "running", "Status": "Up 2 hours", "Created": 1_700_000_000},
                {"Id": "c2", "Names": ["/job"], "Image": "busybox", "State": "exited", "Status": "Exited (0)", "Created": 1_700_000_100}
            ]))
            .into_response()
        }
        ("images/json", _) => axum::Json(json!([{
            "Id": "sha256:aa", "ParentId": "", "RepoTags": ["nginx:1.27"], "RepoDigests": [], "Created": 1_690_000_000,
            "Size": 190_000_000, "SharedSize": -1, "Labels": {}, "Containers": 1
        }]))
        .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct FakeDocker {
    socket: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl FakeDocker {
    async fn start(name: &str, engine: Engine) -> Self {
        let socket = std::env::temp_dir().join(format!("taskgate-docker-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let app = Router::new().fallback(fake_engine).with_state(engine);
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { socket, server }
    }

    fn cluster(&self) -> ClusterConfig {
        ClusterConfig { id: "cls-local".into(), name: Some("local docker".into()), docker_socket: self.socket.clone() }
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[tokio::test]
async fn full_refresh_records_nodes_containers_and_images() {
    let docker = FakeDocker::start("full", Engine::Healthy).await;
    let asset = DockerCollector.collect(&docker.cluster(), false).await.unwrap();
    assert!(asset.reachable);
    assert_eq!(asset.runtime_version.as_deref(), Some("27.1.0"));
    assert_eq!(asset.nodes.len(), 1);
    assert_eq!((asset.nodes[0].name.as_str(), asset.nodes[0].cpu_count), ("node-a", 4));
    let containers: Vec<(&str, &str, ContainerState)> =
        asset.containers.iter().map(|c| (c.name.as_str(), c.image.as_str(), c.state)).collect();
    assert_eq!(
        containers,
        [("web", "nginx:1.27", ContainerState::Running), ("job", "busybox", ContainerState::Exited)]
    );
    assert_eq!(asset.images.len(), 1);
    assert_eq!(asset.images[0].repo_tags, ["nginx:1.27"]);
}

#[tokio::test]
async fn list_only_refresh_records_reachability_and_version_only() {
    let docker = FakeDocker::start("list", Engine::Healthy).await;
    let asset = DockerCollector.collect(&docker.cluster(), true).await.unwrap();
    assert!(asset.reachable);
    assert_eq!(asset.runtime_version.as_deref(), Some("27.1.0"));
    assert!(asset.nodes.is_empty() && asset.containers.is_empty() && asset.images.is_empty());
}

#[tokio::test]
async fn missing_socket_is_an_unreachable_cluster() {
    let cluster = ClusterConfig {
        id: "cls-gone".into(),
        name: None,
        docker_socket: std::env::temp_dir().join("taskgate-no-such-docker.sock"),
    };
    let asset = DockerCollector.collect(&cluster, false).await.unwrap();
    assert!(!asset.reachable);
    let reason = asset.error.unwrap();
    assert_eq!(reason, "the container engine's socket does not exist");
    assert!(!reason.contains("taskgate-no-such-docker.sock"), "no host path reaches a tenant");
}

#[tokio::test]
async fn engine_error_fails_the_collector() {
    let docker = FakeDocker::start("fail", Engine::FailsContainerList).await;
    let cluster = docker.cluster();
    let error = DockerCollector.collect(&cluster, false).await.unwrap_err();
    assert!(matches!(&error, CollectError::Engine { cluster: id, .. } if *id == cluster.id), "{error:?}");
    assert!(error.to_string().contains("engine exploded"));
}

#[test]
fn host_inventory_names_this_machine() {
    let host = collect_host().unwrap();
    assert!(!host.hostname.is_empty());
    assert!(host.cpu_count >= 1);
    assert!(host.memory_bytes > 0);
}
