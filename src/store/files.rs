//! Where uploaded files' bytes live: a local folder by default, or any S3-compatible
//! object store, through the `object_store` crate. The database keeps each file's
//! metadata, key and checksum; this keeps only bytes under random keys.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("the file store setting is not valid: {0}")]
    Config(String),
    #[error("the file is not in the file store")]
    NotFound,
    #[error("the file store failed: {0}")]
    Backend(String),
}

impl From<object_store::Error> for FileStoreError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => FileStoreError::NotFound,
            other => FileStoreError::Backend(other.to_string()),
        }
    }
}

/// Bytes by key. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
    /// What the operator configured, with any credentials left out, for logs.
    description: String,
}

impl FileStore {
    /// Opens the store named by `location`:
    /// - `s3://bucket/optional/prefix`: S3 or any S3-compatible service, configured by
    ///   the usual `AWS_*` environment variables (`AWS_ENDPOINT` and
    ///   `AWS_ALLOW_HTTP=true` for a local service, `AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`);
    /// - `file:///absolute/folder` or a plain path: a local folder, created if missing.
    pub fn open(location: &str) -> Result<FileStore, FileStoreError> {
        let location = location.trim();
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(FileStoreError::Config("an s3:// URL needs a bucket".into()));
            }
            // The S3 client is reqwest's, whose rustls has no provider of its own.
            crate::notify::install_crypto_provider();
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| FileStoreError::Config(e.to_string()))?;
            let inner: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    s3,
                    prefix.trim_matches('/'),
                ))
            };
            return Ok(FileStore {
                inner,
                description: format!("s3://{bucket}/{}", prefix.trim_matches('/')),
            });
        }
        let folder = location.strip_prefix("file://").unwrap_or(location);
        if folder.is_empty() {
            return Err(FileStoreError::Config(
                "the attachment store needs a folder or an s3:// URL".into(),
            ));
        }
        std::fs::create_dir_all(folder).map_err(|e| {
            FileStoreError::Config(format!("cannot create the folder {folder}: {e}"))
        })?;
        let local = LocalFileSystem::new_with_prefix(folder)
            .map_err(|e| FileStoreError::Config(e.to_string()))?;
        Ok(FileStore {
            inner: Arc::new(local),
            description: folder.to_owned(),
        })
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    pub async fn put(&self, key: &str, bytes: axum::body::Bytes) -> Result<(), FileStoreError> {
        self.inner
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<axum::body::Bytes, FileStoreError> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Removes a file; one that is already gone is not an error, so a retried delete
    /// succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), FileStoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Whether a file is there (tests and the consistency check use it).
    pub async fn exists(&self, key: &str) -> Result<bool, FileStoreError> {
        match self.inner.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_folder_keeps_puts_until_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("files").to_str().unwrap()).unwrap();
        store
            .put("ab/cdef", axum::body::Bytes::from_static(b"%PDF-1.4 hello"))
            .await
            .unwrap();
        assert!(store.exists("ab/cdef").await.unwrap());
        assert_eq!(&store.get("ab/cdef").await.unwrap()[..], b"%PDF-1.4 hello");
        store.delete("ab/cdef").await.unwrap();
        assert!(!store.exists("ab/cdef").await.unwrap());
        assert!(matches!(
            store.get("ab/cdef").await,
            Err(FileStoreError::NotFound)
        ));
        // Deleting again is fine: retries must not fail.
        store.delete("ab/cdef").await.unwrap();
    }

    #[test]
    fn an_s3_url_needs_a_bucket() {
        assert!(matches!(
            FileStore::open("s3://"),
            Err(FileStoreError::Config(_))
        ));
        assert!(matches!(
            FileStore::open(" "),
            Err(FileStoreError::Config(_))
        ));
    }
}
