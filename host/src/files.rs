//! The files route: per-project blobs in MinIO (any S3 API), through
//! `object_store`. A file lives at `p<project id>/<key>` in the configured
//! bucket. While the registry has MinIO down, calls answer 503 at once.

use crate::health::Service;
use crate::store::Project;
use edge_core::error::{code, ApiError};
use edge_core::model::{File, FileInfo};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload, RetryConfig,
};
use std::sync::Arc;
use std::time::Duration;

/// Seconds a client is told to wait while the object store is down.
const RETRY_AFTER_SECS: u32 = 5;

pub use crate::config::S3Config;

/// The file store, or none when MinIO is not configured.
#[derive(Clone)]
pub struct Files {
    s3: Option<Arc<AmazonS3>>,
    health: Arc<Service>,
}

type Result<T> = std::result::Result<T, ApiError>;

fn unavailable(detail: &str) -> ApiError {
    ApiError::retry_after(
        code::FILES_UNAVAILABLE,
        format!("file storage is unavailable: {detail}"),
        RETRY_AFTER_SECS,
    )
}

impl Files {
    pub fn new(config: Option<&S3Config>, health: Arc<Service>, timeout: Duration) -> anyhow::Result<Files> {
        let s3 = match config {
            None => None,
            Some(c) => Some(Arc::new(
                AmazonS3Builder::new()
                    .with_endpoint(&c.url)
                    .with_allow_http(true)
                    .with_virtual_hosted_style_request(false)
                    .with_bucket_name(&c.bucket)
                    .with_region(&c.region)
                    .with_access_key_id(&c.access_key)
                    .with_secret_access_key(&c.secret_key)
                    .with_client_options(
                        ClientOptions::new()
                            .with_allow_http(true)
                            .with_connect_timeout(timeout)
                            .with_timeout(Duration::from_secs(30)),
                    )
                    // Fail over to a 503 quickly rather than retrying for minutes.
                    .with_retry(RetryConfig {
                        max_retries: 1,
                        retry_timeout: timeout * 2,
                        ..RetryConfig::default()
                    })
                    .build()?,
            )),
        };
        Ok(Files { s3, health })
    }

    /// The object store, when it may be called: counts the call, or the
    /// refusal when it is down or not configured.
    fn store(&self) -> Result<&AmazonS3> {
        let counters = &crate::metrics::COUNTERS;
        let refuse = |why| {
            crate::metrics::count(&counters.object_store_refusals);
            unavailable(why)
        };
        let s3 = self
            .s3
            .as_deref()
            .ok_or_else(|| refuse("no object store is configured"))?;
        if !self.health.usable() {
            return Err(refuse("the object store is down"));
        }
        crate::metrics::count(&counters.object_store_requests);
        Ok(s3)
    }

    /// Maps an object-store error; anything but "not found" counts against
    /// the service's health.
    fn error(&self, key: &str, e: object_store::Error) -> ApiError {
        if let object_store::Error::NotFound { .. } = e {
            self.health.record_traffic(true);
            return ApiError::new(code::FILE_NOT_FOUND, format!("no file {key:?}"));
        }
        tracing::warn!(error = %e, "object store request failed");
        self.health.record_traffic(false);
        unavailable("the object store did not answer")
    }

    fn path(project: &Project, key: &str) -> Path {
        Path::from(format!("p{}/{key}", project.id))
    }

    pub async fn put(&self, project: &Project, key: &str, file: File) -> Result<FileInfo> {
        edge_core::validate::file_key(key)?;
        let s3 = self.store()?;
        let size = file.body.len() as u64;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, file.content_type.into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let result = s3
            .put_opts(&Self::path(project, key), PutPayload::from(file.body), options)
            .await
            .map_err(|e| self.error(key, e))?;
        self.health.record_traffic(true);
        Ok(FileInfo {
            key: key.to_string(),
            size,
            etag: result.e_tag,
        })
    }

    pub async fn get(&self, project: &Project, key: &str) -> Result<File> {
        edge_core::validate::file_key(key)?;
        let s3 = self.store()?;
        let result = s3
            .get(&Self::path(project, key))
            .await
            .map_err(|e| self.error(key, e))?;
        let content_type = result
            .attributes
            .get(&Attribute::ContentType)
            .map_or("application/octet-stream".to_string(), |v| v.to_string());
        let body = result.bytes().await.map_err(|e| self.error(key, e))?;
        self.health.record_traffic(true);
        Ok(File {
            content_type,
            body: body.to_vec(),
        })
    }

    pub async fn delete(&self, project: &Project, key: &str) -> Result<()> {
        edge_core::validate::file_key(key)?;
        let s3 = self.store()?;
        let path = Self::path(project, key);
        // S3 deletes are idempotent; look first so a missing file is a 404.
        s3.head(&path).await.map_err(|e| self.error(key, e))?;
        s3.delete(&path).await.map_err(|e| self.error(key, e))?;
        self.health.record_traffic(true);
        Ok(())
    }
}
