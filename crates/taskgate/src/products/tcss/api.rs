//! The tcss actions' typed requests, responses and handlers.

use super::asset_query::{self, AssetFilter, CONTAINER_FILTERS, HOST_FILTERS, IMAGE_FILTERS, Query, Vocabulary};
use super::context::Tcss;
use super::inventory::{ContainerState, Inventory};
use super::store::{self, RefreshTaskRow, TcssStoreError};
use crate::action::wire::{tencent_datetime, u64_or_numeric_string};
use crate::action::{Action, ApiError, Call};
use serde::{Deserialize, Serialize};
use taskgate_engine::TaskState;
use tcapi::ErrorCode;

/// `TaskStatus` of a refresh task as the seed enumerates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum RefreshTaskStatus {
    #[serde(rename = "Task_New")]
    New,
    #[serde(rename = "Task_Running")]
    Running,
    #[serde(rename = "Task_Finish")]
    Finish,
    #[serde(rename = "Task_Error")]
    Error,
    #[serde(rename = "Task_NoExist")]
    NoExist,
}

impl From<TaskState> for RefreshTaskStatus {
    fn from(state: TaskState) -> Self {
        match state {
            // A task waiting for a retry is queued again: not started, from the user's view.
            TaskState::Queued => Self::New,
            TaskState::Running => Self::Running,
            TaskState::Succeeded => Self::Finish,
            TaskState::Failed | TaskState::Cancelled => Self::Error,
        }
    }
}

/// `CreateResult` of CreateRefreshTask: a task that could not be created is an error instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum CreateResult {
    Succ,
}

/// `Status` of an asset host: its agent's state, `ONLINE` or `OFFLINE` (api.json's example and
/// the `Status` filter's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum HostStatus {
    #[default]
    Online,
    Offline,
}

/// `MachineType` of an asset host: none is a Tencent CVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(super) enum MachineType {
    #[default]
    #[serde(rename = "OTHERCLOUD")]
    OtherCloud,
}

/// `ClusterAccessedStatus` of an asset host; empty for the host taskgate runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(super) enum ClusterAccess {
    #[default]
    #[serde(rename = "")]
    NotACluster,
    AccessedNormal,
    AccessedException,
}

/// `ScanStatus` of an asset image: taskgate never scans one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum ScanStatus {
    ScanPending,
}

impl From<TcssStoreError> for ApiError {
    fn from(error: TcssStoreError) -> Self {
        match error {
            TcssStoreError::Unfinished { task_id } => ApiError::new(
                ErrorCode::OperationDenied,
                format!("Refresh task {task_id} is still unfinished; a new one can be created when it ends."),
            ),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct CreateRefreshTask {
    #[serde(rename = "ClusterIDs", default)]
    pub cluster_ids: Vec<String>,
    #[serde(default)]
    pub is_sync_list_only: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateRefreshTaskResponse {
    pub task_id: u64,
    pub create_result: CreateResult,
    #[serde(rename = "NewTaskID")]
    pub new_task_id: String,
}

impl Action for CreateRefreshTask {
    const NAME: &'static str = "CreateRefreshTask";
    type Product = Tcss;
    type Response = CreateRefreshTaskResponse;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let configured = tcss.clusters.of(&call.account.uin);
        let cluster_ids = if self.cluster_ids.is_empty() {
            configured.iter().map(|c| c.id.clone()).collect()
        } else {
            for (i, id) in self.cluster_ids.iter().enumerate() {
                if !configured.iter().any(|c| c.id == *id) {
                    return Err(ApiError::invalid_value(
                        &format!("ClusterIDs.{i}"),
                        format!("the cluster `{id}` does not exist"),
                    ));
                }
            }
            self.cluster_ids
        };
        let created = store::create_refresh_task(
            &tcss.engine,
            &call.account.uin,
            cluster_ids,
            self.is_sync_list_only,
            tcss.engine.clock().now_ms(),
        )
        .await?;
        Ok(CreateRefreshTaskResponse {
            task_id: created.task_id.unsigned_abs(),
            create_result: CreateResult::Succ,
            new_task_id: created.new_task_id,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeUnfinishRefreshTask {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeUnfinishRefreshTaskResponse {
    pub task_id: u64,
    pub task_status: RefreshTaskStatus,
    /// Declared non-nullable: empty when the account never refreshed.
    #[serde(rename = "NewTaskID")]
    pub new_task_id: String,
}

impl Action for DescribeUnfinishRefreshTask {
    const NAME: &'static str = "DescribeUnfinishRefreshTask";
    type Product = Tcss;
    type Response = DescribeUnfinishRefreshTaskResponse;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        Ok(match store::latest_task(tcss.engine.store(), &call.account.uin).await? {
            Some(RefreshTaskRow { task_id, new_task_id, state }) => DescribeUnfinishRefreshTaskResponse {
                task_id: task_id.unsigned_abs(),
                task_status: state.into(),
                new_task_id,
            },
            None => DescribeUnfinishRefreshTaskResponse {
                task_id: 0,
                task_status: RefreshTaskStatus::NoExist,
                new_task_id: String::new(),
            },
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeRefreshTask {
    /// The SDK's own example sends it as a numeric string.
    #[serde(deserialize_with = "u64_or_numeric_string")]
    pub task_id: u64,
    #[serde(rename = "NewTaskID")]
    pub new_task_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeRefreshTaskResponse {
    pub task_status: RefreshTaskStatus,
}

impl Action for DescribeRefreshTask {
    const NAME: &'static str = "DescribeRefreshTask";
    type Product = Tcss;
    type Response = DescribeRefreshTaskResponse;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let new_task_id = self.new_task_id.as_deref().filter(|id| !id.is_empty());
        let task = store::find_task(tcss.engine.store(), &call.account.uin, self.task_id, new_task_id).await?;
        Ok(DescribeRefreshTaskResponse { task_status: task.map_or(RefreshTaskStatus::NoExist, |t| t.state.into()) })
    }
}

async fn inventory(call: &Call, tcss: &Tcss) -> Result<Option<(Inventory, i64)>, ApiError> {
    Ok(store::load_inventory(tcss.engine.store(), &call.account.uin).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeAssetSummary {}

/// The summary counts; counts of what taskgate does not scan (vulnerabilities, viruses,
/// processes, ports…) are 0.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeAssetSummaryResponse {
    pub app_cnt: u64,
    pub container_cnt: u64,
    pub container_pause: u64,
    pub container_running: u64,
    pub container_stop: u64,
    pub create_time: String,
    pub db_cnt: u64,
    pub image_cnt: u64,
    pub host_online: u64,
    pub host_cnt: u64,
    pub image_has_risk_info_cnt: u64,
    pub image_has_virus_cnt: u64,
    pub image_has_vuls_cnt: u64,
    pub image_untrust_cnt: u64,
    pub listen_port_cnt: u64,
    pub process_cnt: u64,
    pub web_service_cnt: u64,
    pub latest_image_scan_time: String,
    pub image_unsafe_cnt: u64,
    pub host_un_install_cnt: u64,
    pub super_node_cnt: u64,
    pub super_node_running_cnt: u64,
    pub today_new_image_cnt: u64,
    pub today_unsafe_image_cnt: u64,
    pub recommended_fix_image_cnt: u64,
    pub scanned_image_cnt: u64,
    pub un_scanned_image_cnt: u64,
}

/// A number of items as a wire count.
fn saturating_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Action for DescribeAssetSummary {
    const NAME: &'static str = "DescribeAssetSummary";
    type Product = Tcss;
    type Response = DescribeAssetSummaryResponse;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let Some((inventory, refreshed_at_ms)) = inventory(call, tcss).await? else {
            return Ok(DescribeAssetSummaryResponse::default());
        };
        let hosts = host_list(&inventory);
        let containers: Vec<_> = inventory.clusters.iter().flat_map(|c| &c.containers).collect();
        let with =
            |wanted: fn(ContainerState) -> bool| saturating_u64(containers.iter().filter(|c| wanted(c.state)).count());
        let images = saturating_u64(inventory.clusters.iter().map(|c| c.images.len()).sum());
        Ok(DescribeAssetSummaryResponse {
            container_cnt: saturating_u64(containers.len()),
            container_running: with(|s| s == ContainerState::Running),
            container_pause: with(|s| s == ContainerState::Paused),
            container_stop: with(ContainerState::is_stopped),
            create_time: tencent_datetime(refreshed_at_ms / 1000),
            image_cnt: images,
            un_scanned_image_cnt: images,
            host_cnt: saturating_u64(hosts.len()),
            host_online: saturating_u64(hosts.iter().filter(|h| h.status == HostStatus::Online).count()),
            ..Default::default()
        })
    }
}

/// `Limit`/`Offset` paging of the asset lists (tcss defaults: 10 per page, at most 100), after
/// their `Filters`, `By` and `Order` ([`asset_query`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct AssetPage {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    #[serde(default)]
    pub filters: Vec<AssetFilter>,
    pub by: Option<String>,
    pub order: Option<String>,
}

impl AssetPage {
    /// The page of `items` that pass the filters, in the order asked, and how many passed.
    fn apply<T: Serialize>(&self, items: Vec<T>, vocabulary: Vocabulary) -> Result<(Vec<T>, u64), ApiError> {
        let query = Query { filters: &self.filters, by: self.by.as_deref(), order: self.order.as_deref() };
        let items = asset_query::apply(items, &query, vocabulary)?;
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid_value("Limit", format!("must be between 1 and 100, got {limit}")));
        }
        let total = saturating_u64(items.len());
        let offset = usize::try_from(self.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let page = items.into_iter().skip(offset).take(usize::try_from(limit).unwrap_or(100)).collect();
        Ok((page, total))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostInfo {
    #[serde(rename = "HostID")]
    pub host_id: String,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
    pub host_name: String,
    pub docker_version: String,
    pub image_cnt: u64,
    pub container_cnt: u64,
    pub status: HostStatus,
    pub machine_type: MachineType,
    #[serde(rename = "ClusterID")]
    pub cluster_id: String,
    pub cluster_name: String,
    pub cluster_accessed_status: ClusterAccess,
    pub cluster_accessed_error_reason: String,
    pub cores_cnt: u64,
    /// The same id as `HostID`: no cloud instance or agent stands behind a host here.
    pub uuid: String,
    #[serde(rename = "InstanceID")]
    pub instance_id: String,
    #[serde(flatten)]
    pub not_collected: HostNotCollected,
}

/// `HostInfo` members the definition declares non-nullable (tccli `api.json`, tcss 2020-11-01)
/// that a self-hosted inventory has no source for: answered as their empty values so every
/// declared member is there with its type.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostNotCollected {
    pub group: String,
    pub docker_file_system_driver: String,
    pub is_containerd: bool,
    pub public_ip: String,
    #[serde(rename = "RegionID")]
    pub region_id: i64,
    pub project: ProjectInfo,
    pub tags: Vec<TagInfo>,
    pub cluster_accessed_sub_status: String,
    pub charge_cores_cnt: u64,
    pub defend_status: String,
    pub last_online_time: String,
}

/// `ProjectInfo` of a host: no Tencent project here.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectInfo {
    pub project_name: String,
    #[serde(rename = "ProjectID")]
    pub project_id: u64,
}

/// `TagInfo` of a host: no Tencent tags here, so the list is always empty.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagInfo {
    pub tag_key: String,
    pub tag_value: String,
}

/// The host taskgate runs on, then each cluster's nodes (or the cluster itself when it could
/// not be reached and so has no known nodes).
fn host_list(inventory: &Inventory) -> Vec<HostInfo> {
    let host = &inventory.host;
    let mut hosts = vec![HostInfo {
        host_id: format!("host-{}", host.hostname),
        host_ip: host.ips.first().cloned().unwrap_or_default(),
        host_name: host.hostname.clone(),
        cores_cnt: u64::from(host.cpu_count),
        ..Default::default()
    }];
    for cluster in &inventory.clusters {
        let (status, accessed) = if cluster.reachable {
            (HostStatus::Online, ClusterAccess::AccessedNormal)
        } else {
            (HostStatus::Offline, ClusterAccess::AccessedException)
        };
        let base = HostInfo {
            docker_version: cluster.runtime_version.clone().unwrap_or_default(),
            image_cnt: saturating_u64(cluster.images.len()),
            container_cnt: saturating_u64(cluster.containers.len()),
            status,
            cluster_id: cluster.cluster_id.clone(),
            cluster_name: cluster.name.clone(),
            cluster_accessed_status: accessed,
            cluster_accessed_error_reason: cluster.error.clone().unwrap_or_default(),
            ..Default::default()
        };
        if cluster.nodes.is_empty() {
            hosts.push(HostInfo {
                host_id: format!("{}-node", cluster.cluster_id),
                host_name: cluster.name.clone(),
                ..base
            });
        } else {
            hosts.extend(cluster.nodes.iter().map(|node| HostInfo {
                host_id: format!("{}-{}", cluster.cluster_id, node.name),
                host_name: node.name.clone(),
                cores_cnt: u64::from(node.cpu_count),
                ..base.clone()
            }));
        }
    }
    for host in &mut hosts {
        host.uuid.clone_from(&host.host_id);
        host.instance_id.clone_from(&host.host_id);
    }
    hosts
}

/// Every container of every cluster, as DescribeAssetContainerList lists them; a container is
/// placed on its cluster's first node.
fn containers(inventory: &Inventory) -> Vec<ContainerInfo> {
    inventory
        .clusters
        .iter()
        .flat_map(|cluster| {
            let node = cluster.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
            cluster.containers.iter().map(move |c| {
                let host_id = format!("{}-{node}", cluster.cluster_id);
                ContainerInfo {
                    container_id: c.id.clone(),
                    container_name: c.name.clone(),
                    status: c.state.tcss_status(),
                    create_time: tencent_datetime(c.created_at),
                    update_time: tencent_datetime(c.created_at),
                    image_name: c.image.clone(),
                    node_id: host_id.clone(),
                    host_id,
                    host_name: node.clone(),
                    cluster_id: cluster.cluster_id.clone(),
                    cluster_name: cluster.name.clone(),
                    node_type: "NORMAL",
                    net_status: "normal",
                    not_collected: ContainerNotCollected::default(),
                }
            })
        })
        .collect()
}

/// Every image of every cluster, as DescribeAssetImageList lists them.
fn images(inventory: &Inventory) -> Vec<ImagesInfo> {
    inventory
        .clusters
        .iter()
        .flat_map(|cluster| {
            cluster.images.iter().map(|i| ImagesInfo {
                image_id: i.id.clone(),
                image_name: i.repo_tags.first().cloned().unwrap_or_else(|| "<none>".into()),
                create_time: tencent_datetime(i.created_at),
                size: i.size_bytes,
                host_cnt: 1,
                container_cnt: u64::try_from(i.containers).unwrap_or(0),
                scan_status: ScanStatus::ScanPending,
                not_scanned: ImageNotScanned::default(),
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AssetList<T> {
    pub list: Vec<T>,
    pub total_count: u64,
}

#[derive(Deserialize)]
#[serde(transparent, rename_all = "PascalCase")]
pub(super) struct DescribeAssetHostList(AssetPage);

impl Action for DescribeAssetHostList {
    const NAME: &'static str = "DescribeAssetHostList";
    type Product = Tcss;
    type Response = AssetList<HostInfo>;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let hosts = inventory(call, tcss).await?.map(|(inv, _)| host_list(&inv)).unwrap_or_default();
        let (list, total_count) = self.0.apply(hosts, HOST_FILTERS)?;
        Ok(AssetList { list, total_count })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerInfo {
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub container_name: String,
    /// Upper-case engine state, as tcss reports it (`RUNNING`, `EXITED`, …).
    pub status: &'static str,
    pub create_time: String,
    pub image_name: String,
    #[serde(rename = "HostID")]
    pub host_id: String,
    pub host_name: String,
    #[serde(rename = "ClusterID")]
    pub cluster_id: String,
    pub cluster_name: String,
    /// The last time the inventory saw the container: its creation, as nothing else is kept.
    pub update_time: String,
    /// The same id as `HostID`.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// `NORMAL`: no super nodes here.
    pub node_type: &'static str,
    /// `normal`: taskgate never isolates a container.
    pub net_status: &'static str,
    #[serde(flatten)]
    pub not_collected: ContainerNotCollected,
}

/// `ContainerInfo` members declared non-nullable that the Docker inventory does not collect
/// (process, usage, pod and isolation details): answered as their empty values.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerNotCollected {
    pub run_as: String,
    pub cmd: String,
    #[serde(rename = "CPUUsage")]
    pub cpu_usage: u64,
    pub ram_usage: u64,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "POD")]
    pub pod: String,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
    pub public_ip: String,
    pub net_sub_status: String,
    pub isolate_source: String,
    pub isolate_time: String,
    #[serde(rename = "PodIP")]
    pub pod_ip: String,
    pub pod_name: String,
    #[serde(rename = "NodeUniqueID")]
    pub node_unique_id: String,
    pub pod_cpu: i64,
    pub pod_mem: i64,
    pub pod_uid: String,
}

#[derive(Deserialize)]
#[serde(transparent, rename_all = "PascalCase")]
pub(super) struct DescribeAssetContainerList(AssetPage);

impl Action for DescribeAssetContainerList {
    const NAME: &'static str = "DescribeAssetContainerList";
    type Product = Tcss;
    type Response = AssetList<ContainerInfo>;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let containers = inventory(call, tcss).await?.map(|(inv, _)| containers(&inv)).unwrap_or_default();
        let (list, total_count) = self.0.apply(containers, CONTAINER_FILTERS)?;
        Ok(AssetList { list, total_count })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImagesInfo {
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub image_name: String,
    pub create_time: String,
    pub size: u64,
    pub host_cnt: u64,
    pub container_cnt: u64,
    pub scan_status: ScanStatus,
    #[serde(flatten)]
    pub not_scanned: ImageNotScanned,
}

/// `ImagesInfo` members declared non-nullable that only an image scan would fill (taskgate
/// scans none, `ScanStatus` says so): answered as their empty values.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImageNotScanned {
    pub super_node_cnt: u64,
    pub scan_time: String,
    pub vul_cnt: u64,
    pub virus_cnt: u64,
    pub risk_cnt: u64,
    pub is_trust_image: bool,
    pub os_name: String,
    pub agent_error: String,
    pub scan_error: String,
    pub scan_virus_error: String,
    pub scan_vul_error: String,
    pub scan_risk_error: String,
    pub is_suggest: u64,
    pub is_authorized: u64,
    pub component_cnt: u64,
    pub critical_level_vul_cnt: u64,
    pub high_level_vul_cnt: u64,
    pub medium_level_vul_cnt: u64,
    pub low_level_vul_cnt: u64,
    pub is_latest_image: bool,
    pub recommended_fix: bool,
    pub solution: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(transparent, rename_all = "PascalCase")]
pub(super) struct DescribeAssetImageList(AssetPage);

impl Action for DescribeAssetImageList {
    const NAME: &'static str = "DescribeAssetImageList";
    type Product = Tcss;
    type Response = AssetList<ImagesInfo>;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let images = inventory(call, tcss).await?.map(|(inv, _)| images(&inv)).unwrap_or_default();
        let (list, total_count) = self.0.apply(images, IMAGE_FILTERS)?;
        Ok(AssetList { list, total_count })
    }
}
