//! The tcss actions' typed requests, responses and handlers.

use crate::app::App;
use crate::gateway::ApiError;
use crate::products::{Action, Call};
use serde::{Deserialize, Serialize};

/// `TaskStatus` of a refresh task as the seed enumerates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshTaskStatus {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeUnfinishRefreshTask {}

#[derive(Debug, Serialize)]
pub struct DescribeUnfinishRefreshTaskResponse {
    #[serde(rename = "TaskId")]
    pub task_id: u64,
    #[serde(rename = "TaskStatus")]
    pub task_status: RefreshTaskStatus,
}

impl Action for DescribeUnfinishRefreshTask {
    const NAME: &'static str = "DescribeUnfinishRefreshTask";
    type Response = DescribeUnfinishRefreshTaskResponse;

    async fn handle(self, _call: &Call, _app: &App) -> Result<Self::Response, ApiError> {
        // No refresh task can exist before CreateRefreshTask lands (issue 6).
        Ok(DescribeUnfinishRefreshTaskResponse { task_id: 0, task_status: RefreshTaskStatus::NoExist })
    }
}
