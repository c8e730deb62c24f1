//! The tiw actions' typed requests, responses and handlers.

use crate::app::App;
use crate::gateway::ApiError;
use crate::products::{Action, Call};
use serde::{Deserialize, Serialize};
use tcapi::ErrorCode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeSnapshotTask {
    #[serde(rename = "TaskID")]
    pub task_id: String,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
}

#[derive(Debug, Serialize)]
pub struct SnapshotResult {
    #[serde(rename = "ErrorCode")]
    pub error_code: String,
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    #[serde(rename = "Total")]
    pub total: u64,
    #[serde(rename = "Snapshots")]
    pub snapshots: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DescribeSnapshotTaskResponse {
    #[serde(rename = "TaskID")]
    pub task_id: Option<String>,
    #[serde(rename = "Status")]
    pub status: Option<String>,
    #[serde(rename = "CreateTime")]
    pub create_time: Option<i64>,
    #[serde(rename = "FinishTime")]
    pub finish_time: Option<i64>,
    #[serde(rename = "Result")]
    pub result: Option<SnapshotResult>,
}

impl Action for DescribeSnapshotTask {
    const NAME: &'static str = "DescribeSnapshotTask";
    type Response = DescribeSnapshotTaskResponse;

    async fn handle(self, call: &Call, _app: &App) -> Result<Self::Response, ApiError> {
        call.require_sdk_app(self.sdk_app_id)?;
        // No snapshot task can exist before CreateSnapshotTask lands (issue 4).
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("The snapshot task `{}` does not exist in SdkAppId {}.", self.task_id, self.sdk_app_id),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeWhiteboardPush {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

#[derive(Debug, Serialize)]
pub struct DescribeWhiteboardPushResponse {}

impl Action for DescribeWhiteboardPush {
    const NAME: &'static str = "DescribeWhiteboardPush";
    type Response = DescribeWhiteboardPushResponse;

    async fn handle(self, call: &Call, _app: &App) -> Result<Self::Response, ApiError> {
        call.require_sdk_app(self.sdk_app_id)?;
        // No push task can exist before StartWhiteboardPush lands (issue 7).
        Err(ApiError::new(
            ErrorCode::InvalidParameterTaskNotFound,
            format!("The whiteboard push task `{}` does not exist in SdkAppId {}.", self.task_id, self.sdk_app_id),
        ))
    }
}
