//! Where imported images are kept: one file per image under `data_dir/images`, or objects in
//! the operator's `[ecm.bucket]`.

use crate::config::Config;
use anyhow::Context;
use std::path::PathBuf;
use taskgate_engine::objects::{CosTarget, Destination, Objects, ObjectsError};

#[derive(Clone)]
pub struct ImageStore {
    /// Images by file name, unless a bucket is configured.
    pub dir: PathBuf,
    /// The operator's bucket images are uploaded to instead.
    pub bucket: Option<Destination>,
    objects: Objects,
}

impl ImageStore {
    /// Errors: an `[ecm.bucket]` whose region has no `[[objects.s3]]` endpoint or whose name or
    /// prefix is invalid.
    pub fn from_config(config: &Config, objects: &Objects) -> anyhow::Result<Self> {
        let bucket = match &config.ecm.bucket {
            Some(b) => Some(
                objects
                    .cos_destination(&CosTarget {
                        bucket: b.bucket.clone(),
                        region: b.region.clone(),
                        target_dir: b.prefix.clone(),
                        domain: None,
                    })
                    .context("the [ecm.bucket] configuration")?,
            ),
            None => None,
        };
        Ok(Self { dir: config.data_dir.join("images"), bucket, objects: objects.clone() })
    }

    /// Deletes the image kept at `location` (a path under the image directory or a URL in the
    /// bucket, as the import recorded it); returns whether a file went. Only the location's
    /// last segment is used, so a location can never name anything outside the image store.
    pub async fn remove(&self, location: &str) -> Result<bool, ObjectsError> {
        let Some(name) = location.rsplit('/').next().filter(|n| !n.is_empty() && *n != "." && *n != "..") else {
            return Ok(false);
        };
        match &self.bucket {
            Some(bucket) => self.objects.remove(bucket, name).await,
            None => match tokio::fs::remove_file(self.dir.join(name)).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(ObjectsError::Io(e)),
            },
        }
    }
}
