//! The ecm actions' typed requests, responses and handlers.

use crate::app::App;
use crate::gateway::ApiError;
use crate::products::{Action, Call};
use serde::{Deserialize, Serialize};
use tcapi::ErrorCode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Values")]
    pub values: Vec<String>,
}

/// The filters DescribeCustomImageTask understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageTaskFilter {
    TaskId(Vec<String>),
    ImageId(Vec<String>),
    ImageName(Vec<String>),
}

impl ImageTaskFilter {
    const NAMES: &'static str = "task-id, image-id, image-name";

    fn parse(index: usize, filter: Filter) -> Result<Self, ApiError> {
        if filter.values.is_empty() {
            return Err(ApiError::missing(&format!("Filters.{index}.Values")));
        }
        match filter.name.as_str() {
            "task-id" => Ok(Self::TaskId(filter.values)),
            "image-id" => Ok(Self::ImageId(filter.values)),
            "image-name" => Ok(Self::ImageName(filter.values)),
            other => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("The filter name `{other}` of `Filters.{index}.Name` is not supported: use one of {}.", Self::NAMES),
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeCustomImageTask {
    #[serde(rename = "Filters")]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Serialize)]
pub struct ImageTask {
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Message")]
    pub message: Option<String>,
    #[serde(rename = "ImageName")]
    pub image_name: String,
    #[serde(rename = "CreateTime")]
    pub create_time: String,
}

#[derive(Debug, Serialize)]
pub struct DescribeCustomImageTaskResponse {
    #[serde(rename = "ImageTaskSet")]
    pub image_task_set: Vec<ImageTask>,
    #[serde(rename = "TotalCount")]
    pub total_count: u64,
}

impl Action for DescribeCustomImageTask {
    const NAME: &'static str = "DescribeCustomImageTask";
    type Response = DescribeCustomImageTaskResponse;

    async fn handle(self, _call: &Call, _app: &App) -> Result<Self::Response, ApiError> {
        if self.filters.is_empty() {
            return Err(ApiError::missing("Filters"));
        }
        let _filters = self
            .filters
            .into_iter()
            .enumerate()
            .map(|(i, f)| ImageTaskFilter::parse(i, f))
            .collect::<Result<Vec<_>, _>>()?;
        // No import task can exist before ImportCustomImage lands (issue 5).
        Ok(DescribeCustomImageTaskResponse { image_task_set: Vec::new(), total_count: 0 })
    }
}
