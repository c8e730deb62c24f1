//! Asset collectors: the host through `sysinfo`, clusters through the Docker Engine API
//! (`bollard`; Docker and Podman both speak it). Kubernetes is not collected: the `kube` and
//! `k8s-openapi` crates would more than double this crate's build time on two cores.

use super::inventory::{ClusterAsset, ContainerAsset, ContainerState, HostAsset, ImageAsset, NodeAsset};
use crate::config::ClusterConfig;
use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, ListImagesOptionsBuilder};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cluster {cluster}: the container engine answered with an error: {source}")]
    Engine { cluster: String, source: bollard::errors::Error },
    #[error("host inventory failed: {0}")]
    Host(String),
}

pub type CollectFuture<'a> = Pin<Box<dyn Future<Output = Result<ClusterAsset, CollectError>> + Send + 'a>>;

/// Collects one cluster; tests inject slow or failing collectors through this seam.
pub trait ClusterCollector: Send + Sync {
    fn collect<'a>(&'a self, cluster: &'a ClusterConfig, list_only: bool) -> CollectFuture<'a>;
}

/// The host taskgate runs on.
pub fn collect_host() -> Result<HostAsset, CollectError> {
    use sysinfo::{Networks, System};
    let host_error = |what: &str, e: sysinfo::Error| CollectError::Host(format!("{what}: {e}"));
    let mut system = System::new().map_err(|e| host_error("reading system information", e))?;
    system.refresh_memory();
    system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
    let networks = Networks::new_with_refreshed_list().map_err(|e| host_error("listing network interfaces", e))?;
    let mut ips: Vec<String> = networks
        .values()
        .flat_map(|network| network.ip_networks().iter().map(|ip| ip.addr))
        .filter(|addr| !addr.is_loopback())
        .map(|addr| addr.to_string())
        .collect();
    ips.sort();
    ips.dedup();
    Ok(HostAsset {
        hostname: System::host_name().map_err(|e| host_error("reading the host name", e))?,
        os_name: System::name().unwrap_or_default(),
        os_version: System::os_version().unwrap_or_default(),
        kernel_version: System::kernel_version().unwrap_or_default(),
        cpu_count: u32::try_from(system.cpus().len()).unwrap_or(u32::MAX),
        cpu_brand: system.cpus().first().map(|c| c.brand().trim().to_owned()).unwrap_or_default(),
        memory_bytes: system.total_memory(),
        ips,
    })
}

/// Seconds a Docker Engine API call may take before the cluster counts as unreachable.
const DOCKER_TIMEOUT_SECS: u64 = 20;

pub struct DockerCollector;

impl ClusterCollector for DockerCollector {
    fn collect<'a>(&'a self, cluster: &'a ClusterConfig, list_only: bool) -> CollectFuture<'a> {
        Box::pin(collect_docker(cluster, list_only))
    }
}

/// An unreachable cluster's asset. The reason a tenant reads (`ClusterAccessedErrorReason`) says
/// what happened in the product's terms; the engine's own error, which names host paths such as
/// the socket's, goes to the server log only.
fn unreachable(cluster: &ClusterConfig, error: &bollard::errors::Error) -> ClusterAsset {
    use bollard::errors::Error::*;
    tracing::warn!(cluster = %cluster.id, %error, "container engine unreachable");
    let reason = match error {
        SocketNotFoundError(_) => "the container engine's socket does not exist",
        RequestTimeoutError => "the container engine did not answer in time",
        _ => "the container engine refused or dropped the connection",
    };
    ClusterAsset {
        cluster_id: cluster.id.clone(),
        name: cluster.name.clone().unwrap_or_else(|| cluster.id.clone()),
        reachable: false,
        error: Some(reason.to_owned()),
        runtime_version: None,
        nodes: Vec::new(),
        containers: Vec::new(),
        images: Vec::new(),
    }
}

/// Connection failures mean the cluster is unreachable (recorded, the refresh goes on); an
/// engine that answers but fails a call makes the collector fail.
fn is_connection_failure(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error::*;
    matches!(error, SocketNotFoundError(_) | HyperLegacyError { .. } | IOError { .. } | RequestTimeoutError)
}

async fn collect_docker(cluster: &ClusterConfig, list_only: bool) -> Result<ClusterAsset, CollectError> {
    let socket = cluster.docker_socket.to_string_lossy();
    let docker = match Docker::connect_with_unix(&socket, DOCKER_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION) {
        Ok(docker) => docker,
        Err(error) => return Ok(unreachable(cluster, &error)),
    };
    let engine_error = |source| CollectError::Engine { cluster: cluster.id.clone(), source };
    let version = match docker.version().await {
        Ok(version) => version,
        Err(error) if is_connection_failure(&error) => return Ok(unreachable(cluster, &error)),
        Err(error) => return Err(engine_error(error)),
    };
    let mut asset = ClusterAsset {
        cluster_id: cluster.id.clone(),
        name: cluster.name.clone().unwrap_or_else(|| cluster.id.clone()),
        reachable: true,
        error: None,
        runtime_version: version.version,
        nodes: Vec::new(),
        containers: Vec::new(),
        images: Vec::new(),
    };
    if list_only {
        return Ok(asset);
    }
    let info = docker.info().await.map_err(engine_error)?;
    asset.nodes.push(NodeAsset {
        name: info.name.unwrap_or_default(),
        os: info.operating_system.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        architecture: info.architecture.unwrap_or_default(),
        cpu_count: info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        memory_bytes: info.mem_total.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
    });
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).build()))
        .await
        .map_err(engine_error)?;
    asset.containers = containers
        .into_iter()
        .map(|c| ContainerAsset {
            id: c.id.unwrap_or_default(),
            name: c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_owned(),
            image: c.image.unwrap_or_default(),
            state: c.state.map_or(ContainerState::Unknown, |s| ContainerState::parse(s.as_ref())),
            status: c.status.unwrap_or_default(),
            created_at: c.created.unwrap_or_default(),
        })
        .collect();
    let images =
        docker.list_images(Some(ListImagesOptionsBuilder::default().all(false).build())).await.map_err(engine_error)?;
    asset.images = images
        .into_iter()
        .map(|i| ImageAsset {
            id: i.id,
            repo_tags: i.repo_tags,
            size_bytes: u64::try_from(i.size).unwrap_or(0),
            created_at: i.created,
            containers: i.containers,
        })
        .collect();
    Ok(asset)
}
