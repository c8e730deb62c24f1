//! The tcss actions' typed requests, responses and handlers.

use super::asset_query::{
    self, AssetFilter, CONTAINER_FILTERS, HOST_FILTERS, HostFacts, IMAGE_FILTERS, Members, Query, Vocabulary,
};
use super::assets::{self, ContainerTuple, HostTuple, ImageTuple, ListSql, Page};
use super::context::Tcss;
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

/// A count from the database as a wire count.
fn wire_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Action for DescribeAssetSummary {
    const NAME: &'static str = "DescribeAssetSummary";
    type Product = Tcss;
    type Response = DescribeAssetSummaryResponse;

    async fn handle(self, call: &Call, tcss: &Tcss) -> Result<Self::Response, ApiError> {
        let store = tcss.engine.store();
        let Some(refreshed_at_ms) = store::refreshed_at_ms(store, &call.account.uin).await? else {
            return Ok(DescribeAssetSummaryResponse::default());
        };
        let counts = assets::counts(store, &call.account.uin).await?;
        Ok(DescribeAssetSummaryResponse {
            container_cnt: wire_count(counts.containers),
            container_running: wire_count(counts.running),
            container_pause: wire_count(counts.paused),
            container_stop: wire_count(counts.stopped),
            create_time: tencent_datetime(refreshed_at_ms / 1000),
            image_cnt: wire_count(counts.images),
            un_scanned_image_cnt: wire_count(counts.images),
            host_cnt: wire_count(counts.hosts),
            host_online: wire_count(counts.hosts_online),
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
    /// The page of the account's rows of `list` that pass the filters, in the order asked, and
    /// how many pass, each row made an item by `item`.
    async fn list<T, R>(
        &self,
        call: &Call,
        tcss: &Tcss,
        list: &ListSql,
        members: &Members,
        (vocabulary, hosts): (Vocabulary, Option<&HostFacts>),
        item: impl Fn(R) -> T,
    ) -> Result<AssetList<T>, ApiError>
    where
        R: Send + Unpin,
        for<'r> R: sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let query = Query { filters: &self.filters, by: self.by.as_deref(), order: self.order.as_deref() };
        let plan = asset_query::plan(&query, vocabulary, members, hosts)?;
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid_value("Limit", format!("must be between 1 and 100, got {limit}")));
        }
        let page = Page {
            offset: i64::try_from(self.offset.unwrap_or(0)).unwrap_or(i64::MAX),
            limit: i64::try_from(limit).unwrap_or(100),
        };
        let (rows, total) = assets::page::<R>(tcss.engine.store(), list, &call.account.uin, &plan, page).await?;
        Ok(AssetList { list: rows.into_iter().map(item).collect(), total_count: wire_count(total) })
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

/// A host of the list from its row: the host taskgate runs on (no cluster), a cluster's node,
/// or the host standing for a cluster without known nodes.
fn host_item(row: HostTuple) -> HostInfo {
    let (
        host_id,
        host_ip,
        host_name,
        docker_version,
        images,
        containers,
        reachable,
        cluster_id,
        cluster_name,
        reason,
        cores,
    ) = row;
    let (status, accessed) = match reachable {
        None => (HostStatus::Online, ClusterAccess::NotACluster),
        Some(true) => (HostStatus::Online, ClusterAccess::AccessedNormal),
        Some(false) => (HostStatus::Offline, ClusterAccess::AccessedException),
    };
    HostInfo {
        uuid: host_id.clone(),
        instance_id: host_id.clone(),
        host_id,
        host_ip,
        host_name,
        docker_version,
        image_cnt: wire_count(images),
        container_cnt: wire_count(containers),
        status,
        cluster_id,
        cluster_name,
        cluster_accessed_status: accessed,
        cluster_accessed_error_reason: reason,
        cores_cnt: wire_count(cores),
        ..Default::default()
    }
}

/// A container of the list from its row; it is placed on its cluster's first node.
fn container_item(row: ContainerTuple) -> ContainerInfo {
    let (container_id, container_name, status, created_at, image_name, host_name, cluster_id, cluster_name) = row;
    let host_id = format!("{cluster_id}-{host_name}");
    ContainerInfo {
        container_id,
        container_name,
        status,
        create_time: tencent_datetime(created_at),
        update_time: tencent_datetime(created_at),
        image_name,
        node_id: host_id.clone(),
        host_id,
        host_name,
        cluster_id,
        cluster_name,
        node_type: "NORMAL",
        net_status: "normal",
        not_collected: ContainerNotCollected::default(),
    }
}

/// An image of the list from its row.
fn image_item(row: ImageTuple) -> ImagesInfo {
    let (image_id, image_name, created_at, size, containers) = row;
    ImagesInfo {
        image_id,
        image_name,
        create_time: tencent_datetime(created_at),
        size: wire_count(size),
        host_cnt: 1,
        container_cnt: wire_count(containers),
        scan_status: ScanStatus::ScanPending,
        not_scanned: ImageNotScanned::default(),
    }
}

/// The members of a list's items: the columns the tables hold and, for every other member,
/// the value all items share, read off an item made from an empty row.
fn members<R: Default, T: Serialize>(columns: &'static [(&'static str, &'static str)], item: fn(R) -> T) -> Members {
    Members { columns, constant: serde_json::to_value(item(R::default())).unwrap_or_default() }
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
        let members = members(assets::HOST_COLUMNS, host_item);
        self.0.list(call, tcss, &assets::HOSTS, &members, (HOST_FILTERS, Some(&assets::HOST_FACTS)), host_item).await
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerInfo {
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub container_name: String,
    /// Upper-case engine state, as tcss reports it (`RUNNING`, `EXITED`, …; empty when unknown).
    pub status: String,
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
        let members = members(assets::CONTAINER_COLUMNS, container_item);
        self.0.list(call, tcss, &assets::CONTAINERS, &members, (CONTAINER_FILTERS, None), container_item).await
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
        let members = members(assets::IMAGE_COLUMNS, image_item);
        self.0.list(call, tcss, &assets::IMAGES, &members, (IMAGE_FILTERS, None), image_item).await
    }
}
