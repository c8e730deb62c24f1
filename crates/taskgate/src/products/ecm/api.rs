//! The ecm actions' typed requests, responses and handlers.

use super::context::Ecm;
use super::os_catalog;
use super::store::{self, EcmStoreError, ImageCondition, ImageRow, ImageSpec, NewImage, Page};
use super::vocab::{Architecture, ImageSource, ImageState, ImageType, InitFlag, TaskStatus};
use crate::action::wire::tencent_datetime;
use crate::action::{Action, ApiError, Call};
use crate::capabilities::Lack;
use serde::{Deserialize, Serialize};
use taskgate_engine::TaskState;
use tcapi::ErrorCode;

impl From<EcmStoreError> for ApiError {
    fn from(error: EcmStoreError) -> Self {
        match error {
            EcmStoreError::DuplicateName(name) => ApiError::new(
                ErrorCode::InvalidParameterValueImageNameDuplicate,
                format!("An image named `{name}` already exists in this account."),
            ),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct ImageUrl {
    pub image_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct ImportCustomImage {
    pub image_name: String,
    pub architecture: Architecture,
    pub os_type: String,
    pub os_version: String,
    pub image_description: Option<String>,
    pub init_flag: Option<InitFlag>,
    #[serde(default)]
    pub image_urls: Vec<ImageUrl>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImportCustomImageResponse {
    pub image_id: String,
    pub task_id: u64,
}

const MAX_NAME_CHARS: usize = 20;
const MAX_DESCRIPTION_CHARS: usize = 60;
const MAX_IMAGE_URLS: usize = 10;

impl ImportCustomImage {
    fn validate(&self) -> Result<(), ApiError> {
        let name = self.image_name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::invalid_value("ImageName", format!("must be 1 to {MAX_NAME_CHARS} characters")));
        }
        if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(ApiError::invalid_value("ImageName", "may hold only letters, digits, `-`, `_` and `.`"));
        }
        if self.image_description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(ApiError::invalid_value(
                "ImageDescription",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        let versions = os_catalog::versions_of(&self.os_type).ok_or_else(|| {
            ApiError::invalid_value(
                "OsType",
                format!("`{}` is not an importable OS (see DescribeImportImageOs)", self.os_type),
            )
        })?;
        if !versions.iter().any(|version| os_catalog::names_version(version, &self.os_version)) {
            return Err(ApiError::invalid_value(
                "OsVersion",
                format!(
                    "`{}` is not a version of {}: use one of {} (or a point release of one)",
                    self.os_version,
                    self.os_type,
                    versions.join(", ")
                ),
            ));
        }
        if self.image_urls.is_empty() {
            return Err(ApiError::missing("ImageUrls"));
        }
        if self.image_urls.len() > MAX_IMAGE_URLS {
            return Err(ApiError::invalid_value("ImageUrls", format!("at most {MAX_IMAGE_URLS} files")));
        }
        Ok(())
    }
}

impl Action for ImportCustomImage {
    const NAME: &'static str = "ImportCustomImage";
    type Product = Ecm;
    type Response = ImportCustomImageResponse;

    async fn handle(self, call: &Call, ecm: &Ecm) -> Result<Self::Response, ApiError> {
        self.validate()?;
        if let Some(lack) = ecm.importer_lack {
            return Err(importer_missing(lack));
        }
        for (i, url) in self.image_urls.iter().enumerate() {
            ecm.url_policy
                .check(&url.image_file)
                .await
                .map_err(|e| ApiError::invalid_value(&format!("ImageUrls.{i}.ImageFile"), e.to_string()))?;
        }
        let image = NewImage {
            account: call.account.uin.clone(),
            spec: ImageSpec {
                image_name: self.image_name.trim().to_owned(),
                description: self.image_description.unwrap_or_default(),
                os_type: self.os_type,
                os_version: self.os_version,
                architecture: self.architecture,
                init_flag: self.init_flag.unwrap_or_default(),
            },
            urls: self.image_urls.into_iter().map(|u| u.image_file).collect(),
        };
        let (image_id, task_id) = store::create_import(&ecm.engine, image, ecm.engine.clock().now_ms()).await?;
        Ok(ImportCustomImageResponse { image_id, task_id: task_id.unsigned_abs() })
    }
}

/// An import needs a confinable `qemu-img` on this server; without it the task could only fail
/// after its download, so ImportCustomImage refuses it at once. `UnsupportedOperation` ("the
/// operation is not supported", in ecm's errorcodes.py) says that retrying will not help, and its
/// message names the tool and the operator's fix. Not `InternalError` or
/// `FailedOperation.InternalOperationFailure`, which read as transient, nor an `InvalidParameter`
/// code: nothing in the request is wrong.
fn importer_missing(lack: Lack) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedOperation,
        format!(
            "Image import cannot run on this server: {lack}. The server's operator can fix it: {}.",
            lack.install_hint()
        ),
    )
}

/// `State` of an import task, from its engine task.
fn task_state(row: &ImageRow) -> TaskStatus {
    match row.task_state {
        TaskState::Queued => TaskStatus::Pending,
        TaskState::Running => TaskStatus::Processing,
        TaskState::Succeeded => TaskStatus::Success,
        TaskState::Failed | TaskState::Cancelled => TaskStatus::Failed,
    }
}

/// Refuses filters naming more than `max` values in all: each is a bound value of the list's SQL.
fn check_filter_values(filters: &[Filter], max: usize) -> Result<(), ApiError> {
    if filters.iter().map(|f| f.values.len()).sum::<usize>() > max {
        return Err(ApiError::invalid_value("Filters", format!("at most {max} values in all filters")));
    }
    Ok(())
}

/// A DescribeCustomImageTask filter as a store condition; several values of one filter are
/// OR-ed, several filters AND-ed. A task id that is not a number names no task.
fn image_task_condition(index: usize, filter: Filter) -> Result<ImageCondition, ApiError> {
    if filter.values.is_empty() {
        return Err(ApiError::missing(&format!("Filters.{index}.Values")));
    }
    match filter.name.as_str() {
        "task-id" => {
            Ok(ImageCondition::TaskId(filter.values.iter().filter_map(|id| id.trim().parse::<i64>().ok()).collect()))
        }
        "image-id" => Ok(ImageCondition::ImageId(filter.values)),
        "image-name" => Ok(ImageCondition::Name(filter.values)),
        other => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "The filter name `{other}` of `Filters.{index}.Name` is not supported: use task-id, image-id or image-name."
            ),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeCustomImageTask {
    pub filters: Vec<Filter>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImageTask {
    pub state: TaskStatus,
    pub message: Option<String>,
    pub image_name: String,
    pub create_time: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeCustomImageTaskResponse {
    pub image_task_set: Vec<ImageTask>,
    pub total_count: u64,
}

/// The message of a task: `success`, the failure, or the progress so far.
fn task_message(row: &ImageRow) -> Option<String> {
    match row.task_state {
        TaskState::Succeeded => Some("success".into()),
        TaskState::Failed | TaskState::Cancelled => row.task_error.clone(),
        TaskState::Queued => Some("waiting to start".into()),
        TaskState::Running => row.task_progress.as_ref().map(ToString::to_string),
    }
}

impl Action for DescribeCustomImageTask {
    const NAME: &'static str = "DescribeCustomImageTask";
    type Product = Ecm;
    type Response = DescribeCustomImageTaskResponse;

    async fn handle(self, call: &Call, ecm: &Ecm) -> Result<Self::Response, ApiError> {
        if self.filters.is_empty() {
            return Err(ApiError::missing("Filters"));
        }
        check_filter_values(&self.filters, ecm.max_filter_values)?;
        let conditions = self
            .filters
            .into_iter()
            .enumerate()
            .map(|(i, f)| image_task_condition(i, f))
            .collect::<Result<Vec<_>, _>>()?;
        // Every filter of this action is on a unique key, so the matches are at most the values
        // named: the list needs no page.
        let tasks: Vec<ImageTask> = store::list_images(ecm.engine.store(), &call.account.uin, &conditions, None)
            .await?
            .into_iter()
            .map(|row| ImageTask {
                state: task_state(&row),
                message: task_message(&row),
                create_time: tencent_datetime(row.created_at_ms / 1000),
                image_name: row.spec.image_name,
            })
            .collect();
        Ok(DescribeCustomImageTaskResponse { total_count: tasks.len() as u64, image_task_set: tasks })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeImage {
    #[serde(default)]
    pub filters: Vec<Filter>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// The image an image was made from; always empty, as every image here was imported.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SrcImage {
    pub image_id: String,
    pub image_name: String,
    pub image_os_name: String,
    pub image_description: String,
    pub region: String,
    #[serde(rename = "RegionID")]
    pub region_id: i64,
    pub region_name: String,
    pub instance_name: String,
    pub instance_id: String,
    pub image_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Image {
    pub image_id: String,
    pub image_name: String,
    pub image_state: ImageState,
    pub image_type: ImageType,
    pub image_os_name: String,
    pub image_description: String,
    pub image_create_time: String,
    pub architecture: Architecture,
    pub os_type: String,
    pub os_version: String,
    pub platform: String,
    pub image_owner: i64,
    /// Whole GB, rounded up, as ECM reports sizes.
    pub image_size: i64,
    pub src_image: SrcImage,
    pub image_source: ImageSource,
    pub task_id: String,
    pub is_support_cloud_init: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeImageResponse {
    pub total_count: i64,
    pub image_set: Vec<Image>,
}

const MAX_IMAGE_FILTERS: usize = 10;

/// A DescribeImage filter over imported (private) images as a store condition. `image-name`
/// and `image-os` match case-insensitively anywhere in the name (Tencent: "模糊匹配") and take
/// exactly one value. `None`: the filter keeps every image.
fn image_condition(index: usize, filter: Filter) -> Result<Option<ImageCondition>, ApiError> {
    let one_value = |what: &str| -> Result<String, ApiError> {
        match filter.values.as_slice() {
            [value] => Ok(value.to_lowercase()),
            _ => Err(ApiError::invalid_value(
                &format!("Filters.{index}.Values"),
                format!("{what} takes exactly one value"),
            )),
        }
    };
    Ok(Some(match filter.name.as_str() {
        "image-id" => ImageCondition::ImageId(filter.values),
        // Every image here is private: the filter keeps them all or none.
        "image-type" if filter.values.iter().any(|v| v == "PRIVATE_IMAGE") => return Ok(None),
        "image-type" => ImageCondition::Nothing,
        "image-name" => ImageCondition::NameContains(one_value("image-name")?),
        "image-os" => ImageCondition::OsNameContains(one_value("image-os")?),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueInvalidFilter,
                format!(
                    "The filter `{other}` of `Filters.{index}.Name` is not supported: use image-id, image-type, image-name or image-os."
                ),
            ));
        }
    }))
}

/// How DescribeImage shows an image of `owner` (the account's uin as a number).
fn image(row: ImageRow, owner: i64) -> Image {
    const GIB: i64 = 1 << 30;
    let state = match (&row.imported, row.task_state) {
        (Some(_), _) => ImageState::Normal,
        (None, TaskState::Failed | TaskState::Cancelled) => ImageState::ImportFailed,
        (None, _) => ImageState::Importing,
    };
    Image {
        image_os_name: row.spec.os_name(),
        image_state: state,
        image_type: ImageType::PrivateImage,
        image_create_time: tencent_datetime(row.created_at_ms / 1000),
        platform: row.spec.os_type.clone(),
        image_owner: owner,
        // The disk an instance of the image needs, in whole GiB rounded up; the
        // stored size is capped by `max_virtual_size_bytes`, so this is exact.
        image_size: row.imported.as_ref().map_or(0, |i| (i.virtual_size + GIB - 1) / GIB),
        src_image: SrcImage::default(),
        image_source: ImageSource::ExternalImport,
        task_id: if state == ImageState::Normal { String::new() } else { row.task_id.to_string() },
        is_support_cloud_init: row.spec.init_flag == InitFlag::CloudInit,
        image_id: row.image_id,
        image_name: row.spec.image_name,
        image_description: row.spec.description,
        architecture: row.spec.architecture,
        os_type: row.spec.os_type,
        os_version: row.spec.os_version,
    }
}

impl Action for DescribeImage {
    const NAME: &'static str = "DescribeImage";
    type Product = Ecm;
    type Response = DescribeImageResponse;

    async fn handle(self, call: &Call, ecm: &Ecm) -> Result<Self::Response, ApiError> {
        if self.filters.len() > MAX_IMAGE_FILTERS {
            return Err(ApiError::invalid_value("Filters", format!("at most {MAX_IMAGE_FILTERS} filters")));
        }
        check_filter_values(&self.filters, ecm.max_filter_values)?;
        let limit = self.limit.unwrap_or(20);
        let offset = self.offset.unwrap_or(0);
        if !(1..=100).contains(&limit) || offset < 0 {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueInvaildPageParam,
                "`Limit` must be between 1 and 100 and `Offset` at least 0.",
            ));
        }
        let mut conditions = Vec::with_capacity(self.filters.len());
        for (i, filter) in self.filters.into_iter().enumerate() {
            conditions.extend(image_condition(i, filter)?);
        }
        let owner = call.account.uin.parse::<i64>().unwrap_or(0);
        let store = ecm.engine.store();
        let total_count = store::count_images(store, &call.account.uin, &conditions).await?;
        let image_set = store::list_images(store, &call.account.uin, &conditions, Some(Page { offset, limit }))
            .await?
            .into_iter()
            .map(|row| image(row, owner))
            .collect();
        Ok(DescribeImageResponse { total_count, image_set })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct DescribeImportImageOs {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImageOsList {
    pub windows: Vec<&'static str>,
    pub linux: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct OsVersion {
    pub os_name: &'static str,
    pub os_versions: Vec<&'static str>,
    pub architecture: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeImportImageOsResponse {
    pub import_image_os_list_supported: ImageOsList,
    pub import_image_os_version_set: Vec<OsVersion>,
}

impl Action for DescribeImportImageOs {
    const NAME: &'static str = "DescribeImportImageOs";
    type Product = Ecm;
    type Response = DescribeImportImageOsResponse;

    async fn handle(self, _call: &Call, _ecm: &Ecm) -> Result<Self::Response, ApiError> {
        let names = |list: &[(&'static str, &[&str])]| list.iter().map(|(n, _)| *n).collect();
        Ok(DescribeImportImageOsResponse {
            import_image_os_list_supported: ImageOsList {
                windows: names(os_catalog::WINDOWS),
                linux: names(os_catalog::LINUX),
            },
            import_image_os_version_set: os_catalog::LINUX
                .iter()
                .chain(os_catalog::WINDOWS)
                .map(|(name, versions)| OsVersion {
                    os_name: name,
                    os_versions: versions.to_vec(),
                    architecture: Architecture::ALL.map(Architecture::as_str).to_vec(),
                })
                .collect(),
        })
    }
}
